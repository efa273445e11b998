"""``telemetry/metrics`` (krakend-metrics): the ``/__stats`` snapshot, a flat expvar-style object.

Counters are cumulative; ``router.connected``/``disconnected`` move into ``*-gauge`` (last window)
and ``*-total`` on each tick; **every histogram is cleared on each tick**, so its values cover the
current window only (as go-metrics does with KrakenD's collection loop). Histograms keep a uniform
reservoir of 1028 values per window (go-metrics' ``UniformSample``) and report ``count``, ``min``,
``max``, ``mean``, ``std-dev`` and the 50/75/95/99/99.9 percentiles computed from it.
"""

from __future__ import annotations

import gc
import math
import os
import random
import sys
from collections.abc import Callable, Generator, Iterator
from typing import Any, Final

from krakenpy.server.census import Tenure

__all__ = ["PERCENTILES", "Capture", "StatsHistogram", "StatsRegistry", "rss_bytes", "summarize"]

RESERVOIR: Final = 1028
#: a stepped snapshot's sampling before its capture pauses once it sampled this many histograms, a
#: histogram counted one more per 32 queued values: a full reservoir's fold of 50 queued values took
#: ~40 µs, 4,096 values a step (82 such folds) held the loop ~3.4 ms, pure, loaded VM (2026-12-02)
FOLD_STEP: Final = 8
_random = random.random
PERCENTILES: Final = ((".50-percentile", 0.5), (".75-percentile", 0.75), (".95-percentile", 0.95),
                      (".99-percentile", 0.99), (".999-percentile", 0.999))  # fmt: skip


def _uniform() -> float:
    """A uniform number in (0, 1) (a logarithm of it is finite)."""
    return _random() or 5e-324


def _weight(w: float) -> float:
    """Algorithm L's next weight: ``w * U**(1/k)``."""
    return w * math.exp(math.log(_uniform()) / RESERVOIR)


def _skip(w: float) -> int:
    """Algorithm L's number of values skipped before the next one kept."""
    if w >= 1.0:  # U**(1/k) rounded to 1 (chance ~1e-13): keep the next value
        return 0
    return int(math.log(_uniform()) / math.log1p(-w))


class StatsHistogram:
    """One window of values: a uniform reservoir of 1028 of them (go-metrics' ``UniformSample``
    keeps such a sample too, by Vitter's algorithm R). The request path queues values with
    :attr:`add` (one C call, where the per-value update cost ~31 Python opcodes with its call);
    :meth:`fold` samples them before a snapshot or a tick, by Li's algorithm L: it draws how many
    values to skip before the next one kept, so a skipped value costs nothing (algorithm R drew a
    random number for each: ~12 opcodes per value at the fold, 2026-12-01)."""

    __slots__ = ("_next", "_shared", "_w", "add", "count", "pending", "values")

    def __init__(self) -> None:
        self.values: list[int] = []
        self.count = 0
        #: values queued by :attr:`add`, not yet sampled
        self.pending: list[int] = []
        #: queue one value (the list's own ``append``: the list is cleared in place, never replaced)
        self.add = self.pending.append
        #: algorithm L's state once the reservoir is full: its weight and the number of the next value kept
        self._w = 0.0
        self._next = 0
        #: ``values`` is held by a snapshot's capture (:meth:`share`): the next fold samples into a copy
        self._shared = False

    def share(self) -> list[int]:
        """The reservoir as it is, kept unchanged for the caller: the next fold copies it before
        sampling into it (copy on write), and a tick gives the histogram a new list anyway."""
        self._shared = True
        return self.values

    def update(self, value: int) -> None:
        """Add one value now (tests and rare callers; the request path uses :attr:`add`)."""
        self.pending.append(value)
        self.fold()

    def fold(self) -> None:
        """Sample the queued values into the window."""
        pending = self.pending
        if not pending:
            return
        queued = pending.copy()
        pending.clear()
        values = self.values
        if self._shared:  # a snapshot summarizes this list in steps: sampled into a copy
            values = self.values = values.copy()
            self._shared = False
        count = self.count
        room = RESERVOIR - len(values)
        if room > 0:
            values.extend(queued[:room])
            count += min(room, len(queued))
            del queued[:room]
            if len(values) == RESERVOIR:  # just filled: algorithm L starts
                self._w = _weight(1.0)
                self._next = count + _skip(self._w) + 1
        if queued:
            end = count + len(queued)
            w, kept = self._w, self._next
            while kept <= end:  # value number ``kept`` (1-based over the window) replaces a random one
                values[int(_random() * RESERVOIR)] = queued[kept - count - 1]
                w = _weight(w)
                kept += _skip(w) + 1
            self._w, self._next = w, kept
            count = end
        self.count = count

    def clear(self) -> None:
        self.values = []
        self.count = 0
        self.pending.clear()
        self._w = 0.0
        self._next = 0
        self._shared = False

    def snapshot(self, name: str, out: dict[str, Any]) -> None:
        self.fold()
        summarize(name, self.values, self.count, out)


def summarize(name: str, reservoir: list[int], count: int, out: dict[str, Any]) -> None:
    """A window histogram's keys in ``out``: ``count`` values seen, ``reservoir`` the sample of them."""
    values = sorted(reservoir)
    out[name + ".count"] = count
    if not values:
        for suffix in (".min", ".max", ".mean", ".std-dev"):
            out[name + suffix] = 0.0
        for suffix, _ in PERCENTILES:
            out[name + suffix] = 0.0
        return
    n = len(values)
    mean = sum(values) / n
    out[name + ".min"] = float(values[0])
    out[name + ".max"] = float(values[-1])
    out[name + ".mean"] = mean
    out[name + ".std-dev"] = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    for suffix, p in PERCENTILES:
        # go-metrics: position p*(n+1), interpolated between neighbours
        pos = p * (n + 1)
        if pos < 1:
            value = float(values[0])
        elif pos >= n:
            value = float(values[-1])
        else:
            lower = values[int(pos) - 1]
            upper = values[int(pos)]
            value = lower + (pos - math.floor(pos)) * (upper - lower)
        out[name + suffix] = float(value)


class StatsRegistry:
    """Counters and window histograms under KrakenD's dotted names (prefix ``krakend.``)."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.histograms: dict[str, StatsHistogram] = {}
        #: the configuration's connections (``router.connected``/``disconnected``; None: not counted)
        #: and their counts when this window began
        self.tenure: Tenure | None = None
        self._opened = 0
        self._closed = 0
        #: collection windows ended so far (a snapshot's cached summary of a window is that window's)
        self.windows = 0
        #: what moves the request path's queued rows into the counters and histograms (before reads)
        self.feeders: list[Callable[[int], None]] = []
        #: the same in steps, for a reader on the event loop that yields between them (the scrape)
        self.feed_steps: list[Callable[[], Iterator[None]]] = []

    def _count_connections(self) -> tuple[int, int]:
        """The window's connections added to the totals; (accepted, closed) in the window."""
        tenure = self.tenure
        opened, closed = (tenure.opened(), tenure.closed()) if tenure is not None else (0, 0)
        connected, disconnected = opened - self._opened, closed - self._closed
        c = self.counters
        c["krakend.router.connected-total"] = c.get("krakend.router.connected-total", 0) + connected
        c["krakend.router.disconnected-total"] = c.get("krakend.router.disconnected-total", 0) + disconnected
        self._opened, self._closed = opened, closed
        return connected, disconnected

    def retire(self) -> None:
        """The configuration stops (a reload retired it, or the gateway stops): the connections of the
        unfinished window go into the totals, which a worker keeps after it (the window's gauges
        are a live configuration's only)."""
        self._count_connections()

    @property
    def connected(self) -> int:
        """Client connections the gateway accepted in this window (``krakend.router.connected``)."""
        tenure = self.tenure
        return tenure.opened() - self._opened if tenure is not None else 0

    @property
    def disconnected(self) -> int:
        """Client connections closed in this window (``krakend.router.disconnected``)."""
        tenure = self.tenure
        return tenure.closed() - self._closed if tenure is not None else 0

    def feed(self, least: int = 1) -> None:
        """Fold the layers' queued rows (``fold``, ``tick`` and ``snapshot`` do); with ``least``, only
        the slots holding at least that many."""
        for feeder in self.feeders:
            feeder(least)

    def counter_key(self, name: str) -> str:
        """Register a counter (zero until incremented) and return its key."""
        key = "krakend." + name
        self.counters.setdefault(key, 0)
        return key

    def inc(self, key: str, amount: int = 1) -> None:
        self.counters[key] += amount

    def histogram(self, name: str) -> StatsHistogram:
        key = "krakend." + name
        found = self.histograms.get(key)
        if found is None:
            found = self.histograms[key] = StatsHistogram()
        return found

    def fold(self, least: int = 1) -> None:
        """Sample every histogram's queued values (bounds their memory between ticks); with
        ``least``, only the slots and histograms holding at least that many."""
        self.feed(least)
        for histogram in self.histograms.values():
            if len(histogram.pending) >= least:
                histogram.fold()

    def tick(self) -> None:
        """End of a collection window (the rows queued in it counted first)."""
        self.feed()
        connected, disconnected = self._count_connections()
        c = self.counters
        c["krakend.router.connected-gauge"] = connected
        c["krakend.router.disconnected-gauge"] = disconnected
        self.windows += 1
        for histogram in self.histograms.values():
            histogram.clear()

    def snapshot(self) -> dict[str, Any]:
        """The ``/__stats`` object (sorted by the caller's JSON encoder)."""
        out: dict[str, Any] = {}
        for _ in self.snapshot_steps(out):
            pass
        return out

    def capture_steps(self) -> Generator[None, None, Capture]:
        """What a snapshot reads, in one window: the request path's rows fed and the queued values
        sampled in steps (``yield`` between them), then, in one step with no pause, the rest fed and
        sampled (what arrived during the pauses, and the groups another reader's stepped feed left
        on the slots), every reservoir taken (:meth:`StatsHistogram.share`: copy on write, no copy
        here) and the counters and gauges read. The capture's parts agree with each other whatever
        the loop does next (a tick, another scrape's feed); its summaries can be made in steps."""
        for steps in self.feed_steps:
            yield from steps()
        folded = 0
        for histogram in list(self.histograms.values()):
            queued = len(histogram.pending)
            if queued:
                histogram.fold()
                folded += 1 + (queued >> 5)
                if folded >= FOLD_STEP:
                    folded = 0
                    yield
        if folded:  # the capture's step takes what came since, not what this pass left
            yield
        self.feed()
        taken: list[tuple[str, StatsHistogram, list[int], int]] = []
        for key, histogram in self.histograms.items():
            histogram.fold()
            taken.append((key, histogram, histogram.share(), histogram.count))
        return Capture(self.windows, dict(self.counters), self.connected, self.disconnected, taken)

    def snapshot_steps(self, out: dict[str, Any]) -> Iterator[None]:
        """:meth:`snapshot` into ``out``: captured (:meth:`capture_steps`), then summarized a window
        histogram a step (one sorts a reservoir of up to 1,028 values and sums their squares: ~0.2 ms,
        100 of them held the loop ~21 ms in one go, 2026-12-02). A tick or new values during the
        pauses change nothing in ``out``: it is the capture's."""
        capture = yield from self.capture_steps()
        histograms: dict[str, Any] = {}
        for key, _, values, count in capture.histograms:
            summarize(key, values, count, histograms)
            if values:
                yield
        out.update(cmdline=list(sys.argv), memstats=_memstats())
        out.update(capture.counters)
        out["krakend.router.connected"] = capture.connected
        out["krakend.router.disconnected"] = capture.disconnected
        for key in ("connected-total", "disconnected-total", "connected-gauge", "disconnected-gauge"):
            out.setdefault(f"krakend.router.{key}", 0)
        out.update(histograms)
        out.update(_runtime())


class Capture:
    """One moment of a :class:`StatsRegistry` (:meth:`StatsRegistry.capture_steps`): its window's
    number, the counters (a copy), the connection gauges and each window histogram's (key,
    histogram, reservoir, count), the reservoir left unchanged by later folds and ticks."""

    __slots__ = ("connected", "counters", "disconnected", "histograms", "windows")

    def __init__(
        self,
        windows: int,
        counters: dict[str, int],
        connected: int,
        disconnected: int,
        histograms: list[tuple[str, StatsHistogram, list[int], int]],
    ) -> None:
        self.windows = windows
        self.counters = counters
        self.connected = connected
        self.disconnected = disconnected
        self.histograms = histograms


def rss_bytes() -> int:
    """This process's resident set in bytes (``/proc/self/statm``), 0 where there is none to read: the
    one RSS read of ``/__stats``'s ``memstats`` and the multi-worker snapshots (``metrics.shared``)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _memstats() -> dict[str, Any]:
    """Go's ``memstats`` has no Python equal: the nearest process figures, same key style."""
    stats = gc.get_stats()
    return {"Sys": rss_bytes(), "NumGC": sum(s["collections"] for s in stats)}


def _runtime() -> dict[str, Any]:
    stats = gc.get_stats()
    return {
        "krakend.service.debug.GCStats.NumGC": sum(s["collections"] for s in stats),
        "krakend.service.runtime.NumThread": _threads(),
    }


def _threads() -> int:
    import threading

    return threading.active_count()
