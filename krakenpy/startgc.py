"""No automatic garbage collection while a command starts (P7 start-up).

A start creates objects that live as long as the process (modules, classes, the compiled gateway)
and little cyclic garbage: ~59,000–77,000 tracked objects in the supervisor when it forks,
~1,500–1,800 of them unreachable (100 endpoints; the branch's and its review's counts). With
CPython's thresholds the collector ran every 700 allocations and walked the whole heap each time it
had grown by a quarter: without those collections a start of ``krakenpy run`` with 100 endpoints
executes 25–35 M instructions fewer (1,315 → 1,280 M in one count, 1,192 → 1,167 M in another;
bench/README.md, "2026-12-02 (round 9)"). The unreachable ones stay frozen in the supervisor (a few hundred KiB).

:func:`pause` turns the automatic collections off and :func:`resume` puts the thresholds back. A
worker does not resume: its ``settle_gc`` (:mod:`krakenpy.server.worker`) collects once, freezes
what the start made and sets the serving thresholds, which turns them on again.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "resume"]

#: the thresholds :func:`pause` replaced (empty: not paused)
_saved: list[tuple[int, int, int]] = []


def pause() -> None:
    """Stop automatic collections (an explicit ``gc.collect()`` still runs); nested calls are no-ops."""
    if not _saved:
        _saved.append(gc.get_threshold())
        gc.set_threshold(0)  # threshold 0: no automatic collection


def resume() -> None:
    """Restore the thresholds :func:`pause` found (a no-op when not paused)."""
    if _saved:
        gc.set_threshold(*_saved.pop())
