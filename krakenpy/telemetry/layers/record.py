"""What the proxy and backend telemetry layers do when a measured call ends: the OTel duration, the
krakend-metrics counter and window histogram, and the span's outcome (shared by both layers)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from typing import Any

from krakenpy.telemetry.trace.spans import SPAN

__all__ = ["Finish", "Sinks", "call_finisher", "outcome_sinks"]

#: ``finish(elapsed_ns, error, canceled, complete, span, token)``
Finish = Callable[[int, bool, bool, bool, Any, "Token[Any] | None"], None]


#: ``(otel, counters, stats)``: the OTel histograms' ``add`` by ``error*4 + canceled*2 + complete``;
#: the ``/__stats`` counters (or None) and ``(counter key, latency add)`` by ``complete*2 + error``
Sinks = tuple[
    tuple[Callable[[float], None], ...], "dict[str, int] | None", tuple[tuple[str, Callable[[int], None]], ...]
]


def outcome_sinks(otel: Any, stats: Any, stats_keys: dict[tuple[bool, bool], tuple[str, Any]]) -> Sinks:
    """A layer's series in tuples indexed by the outcome's bits (no tuple key built and hashed per
    call); the histograms' ``add`` queues the value (bucketed when read)."""
    counters = stats.counters if stats is not None else None
    by_outcome = (
        tuple(otel[(e, c, k)].add for e in (False, True) for c in (False, True) for k in (False, True)) if otel else ()
    )
    stats_by = (
        tuple((key, latency.add) for key, latency in (stats_keys[(k, e)] for k in (False, True) for e in (False, True)))
        if counters is not None
        else ()
    )
    return by_outcome, counters, stats_by


def call_finisher(otel: Any, stats: Any, stats_keys: dict[tuple[bool, bool], tuple[str, Any]], tracer: Any) -> Finish:
    """Record one finished proxy or backend call (each sink only when it is on), bound once per
    layer: a positional call per request, the sinks' presence decided at build time."""
    end_span = tracer.buffer.end if tracer is not None else None
    by_outcome, counters, stats_by = outcome_sinks(otel, stats, stats_keys)

    def finish(elapsed: int, error: bool, canceled: bool, complete: bool, span: Any, token: Token[Any] | None) -> None:
        if by_outcome:
            by_outcome[error * 4 + canceled * 2 + complete](elapsed * 1e-9)
        if counters is not None:
            counter, latency = stats_by[complete * 2 + error]
            counters[counter] += 1
            latency(elapsed)  # nanoseconds, as go-metrics' timers
        if span is not None and token is not None:
            span.attributes["complete"] = complete
            if canceled:
                span.attributes["canceled"] = True
            SPAN.reset(token)
            end_span(span)  # type: ignore[misc]

    return finish
