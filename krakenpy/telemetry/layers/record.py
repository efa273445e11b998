"""What the proxy and backend telemetry layers do when a measured call ends: the OTel duration, the
krakend-metrics counter and window histogram, and the span's outcome (shared by both layers)."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from krakenpy.telemetry.trace.spans import SPAN

__all__ = ["finish_call"]


def finish_call(
    *,
    elapsed: float,
    error: bool,
    canceled: bool,
    complete: bool,
    otel: Any,
    stats: Any,
    stats_keys: dict[tuple[bool, bool], tuple[str, Any]],
    span: Any,
    token: Token[Any] | None,
    tracer: Any,
) -> None:
    """Record one finished proxy or backend call (each sink only when it is on)."""
    if otel is not None:
        otel[(error, canceled, complete)].observe(elapsed)
    if stats is not None:
        counter, latency = stats_keys[(complete, error)]
        stats.counters[counter] += 1
        latency.update(int(elapsed * 1e9))
    if span is not None and token is not None:
        assert tracer is not None
        span.attributes["complete"] = complete
        if canceled:
            span.attributes["canceled"] = True
        SPAN.reset(token)
        tracer.end(span)
