"""Traces: span records (a tuple of per-request values per span, written as OTLP text from its
layer's template), W3C/B3 propagation, sampling decided once per request, and batch export from a
background task as OTLP/HTTP JSON (protobuf when available)."""
