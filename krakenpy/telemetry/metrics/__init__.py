"""Metrics: a small registry of plain-int counters and bisect histograms (per-series objects
bound at config compile time, ~0.1–0.3 µs per update), rendered off the hot path as Prometheus
text, ``/__stats`` JSON and OTLP metric points."""
