"""Traces: hand-rolled span records (~0.4 µs each), W3C/B3 propagation, sampling decided once per
request, and batch export from a background task as OTLP/HTTP JSON (protobuf when available)."""
