"""What the proxy and backend telemetry layers do when a measured call ends: one duration row for
``krakend.*.duration`` and krakend-metrics' counter and window histogram (a :class:`CallSlot`,
folded when read), shared by both layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.metrics.slots import CallSlot

__all__ = ["Adds", "call_slot"]

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
