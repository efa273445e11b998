"""What the proxy and backend telemetry layers do when a measured call ends: one duration row for
``krakend.*.duration`` and krakend-metrics' counter and window histogram (a :class:`CallSlot`,
folded when read), shared by both layers."""

from __future__ import annotations

from typing import Any

from krakenpy.telemetry.exchange import Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.metrics.slots import CallSlot
from krakenpy.telemetry.trace.spans import SPAN

__all__ = ["Adds", "call_slot", "exported_parent"]

#: a layer's per-outcome list of elapsed nanoseconds by ``error*4 + canceled*2 + complete`` (the
#: slot's own lists: a layer appends to one, ``adds[i].append(ns)``, a native list append compiled
#: where a tuple of bound ``append`` methods cost a generic call a row, round 23, ``metrics23``)
Adds = tuple[list[int], ...]


def call_slot(hub: Telemetry, otel: Any, stats: Any, stats_keys: dict[tuple[bool, bool], tuple[str, Any]]) -> Adds:
    """The layer's slot (registered for the folds) as its per-outcome lists; ``()`` when neither
    OTel's nor ``/__stats``' series are on for it."""
    if not otel and stats is None:
        return ()
    slot = CallSlot(otel, stats, stats_keys)
    hub.metric_slots().register(slot.drain, slot.size)
    return slot.lists


def exported_parent(exchange: Exchange) -> bytes | None:
    """The innermost span of a sampled request that is exported, as the parent a backend is told
    when no CLIENT span is recorded for its call (``round_trip: false``, the backend stage's traces
    off, a skipped path): the backend span (this task's, or the exchange's for a solo backend), else
    the proxy span, else the SERVER span, else the caller's own parent. krakend-otel injects only
    inside a recording CLIENT span (observability §1.8); krakenpy always injects when a trace
    exporter is configured (README, Differences), so the parent must be a span the collector gets,
    or the backend's spans hang from an id nobody exported."""
    trace = exchange.trace
    return (
        SPAN.get()
        or exchange.backend_span
        or exchange.proxy_span
        or exchange.span
        or (trace.parent_raw if trace is not None else None)
    )
