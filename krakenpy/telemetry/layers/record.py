"""What the proxy and backend telemetry layers do when a measured call ends: one duration row for
``krakend.*.duration`` and krakend-metrics' counter and window histogram (a :class:`CallSlot`,
folded when read), and the span's outcome (shared by both layers)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from typing import Any

from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.metrics.slots import CallSlot
from krakenpy.telemetry.trace.spans import SPAN

__all__ = ["Adds", "Finish", "call_finisher", "call_slot"]

#: ``finish(elapsed_ns, error, canceled, complete, span, token)``
Finish = Callable[[int, bool, bool, bool, Any, "Token[Any] | None"], None]
#: a layer's per-outcome ``append`` by ``error*4 + canceled*2 + complete`` (elapsed nanoseconds)
Adds = tuple[Callable[[int], None], ...]


def call_slot(hub: Telemetry, otel: Any, stats: Any, stats_keys: dict[tuple[bool, bool], tuple[str, Any]]) -> Adds:
    """The layer's slot (registered for the folds) as its per-outcome appends; ``()`` when neither
    OTel's nor ``/__stats``' series are on for it."""
    if not otel and stats is None:
        return ()
    slot = CallSlot(otel, stats, stats_keys)
    hub.metric_slots().register(slot.drain, slot.size)
    return slot.add


def call_finisher(adds: Adds, tracer: Any) -> Finish:
    """Record one finished proxy or backend call (each sink only when it is on), bound once per
    layer: a positional call per request, the sinks' presence decided at build time."""
    end_span = tracer.buffer.end if tracer is not None else None

    def finish(elapsed: int, error: bool, canceled: bool, complete: bool, span: Any, token: Token[Any] | None) -> None:
        if adds:
            adds[error * 4 + canceled * 2 + complete](elapsed)
        if span is not None and token is not None:
            span.attributes["complete"] = complete
            if canceled:
                span.attributes["canceled"] = True
            SPAN.reset(token)
            end_span(span)  # type: ignore[misc]

    return finish
