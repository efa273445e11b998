"""What the proxy and backend telemetry layers do when a measured call ends: one duration row for
``krakend.*.duration`` and krakend-metrics' counter and window histogram (a :class:`CallSlot`,
folded when read), shared by both layers."""

from __future__ import annotations

from typing import Any

from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.metrics.slots import CallSlot

__all__ = ["Adds", "call_slot"]

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
