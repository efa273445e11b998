"""Per-request metric rows, folded into the series when they are read.

Each telemetry layer owns a slot built at start-up that holds everything the config decides (the
series of each outcome, the ``/__stats`` keys, the label tuples); per request the layer appends only
what varies (a status, a duration, a size) to the slot's list: one C call, no series lookup, no
``add`` per series, no key built. :meth:`Slots.drain` moves every slot's rows into the series,
grouped per series: counted straight into the OTel histograms (:func:`count_ns`, a compiled loop),
queued on the ``/__stats`` windows and added to the counters (``list.extend``, ``sum``,
``list.count``); the registries call it before every read (a scrape, an OTLP export, ``/__stats``,
the window's tick, the folder's tick) and the edge every :data:`~krakenpy.telemetry.hub.FOLD_EVERY`
requests, so rows never pile up (2026-12-01, branch ``metslot``: the previous per-series updates
cost ~150 Python opcodes per request of the metrics row). A scrape folds in steps (:meth:`Slots.steps`);
a row leaves its slot only as it is folded, so a read during a pause, or a scrape cancelled at one
(the side listener cancels the handler of a scraper that goes), misses no row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from krakenpy.telemetry.metrics.registry import Histogram
from krakenpy.telemetry.metrics.stats import StatsHistogram, StatsRegistry

if TYPE_CHECKING:
    from krakenpy.telemetry.metrics.instruments import Outcomes

__all__ = ["CallSlot", "EdgeSlot", "Slots", "by_key", "count_ns", "count_seconds", "count_sizes"]


def count_ns(histogram: Histogram, ns: list[int]) -> None:
    """Count durations queued as nanoseconds into ``histogram`` as the seconds the layers recorded
    (``ns * 1e-9``, the same floats): its sum added in arrival order, each value in the bucket of
    ``bisect_left`` on the bounds, as :meth:`~krakenpy.telemetry.metrics.registry.Histogram.fold`
    counts them (values it still queues counted first: the sum's order stays the arrival order).

    A loop, compiled to native float arithmetic: no float object made a value, no list of them
    kept until the fold, and no ``sum``/``max``/sort passes over a boxed copy (the edge's fold of
    the metrics row spent ~3 k instructions a request in them and ~1 k making the floats, round
    14, ``metrics4``). A value at most the first bound (a request at real speed) costs a compare."""
    if histogram.pending:
        histogram.fold()
    bounds = histogram.bounds
    last = len(bounds)
    first = bounds[0]
    buckets = histogram.buckets
    total = histogram.sum
    low = 0
    for n in ns:
        value = n * 1e-9
        total += value
        if first < value:
            i = 1  # bisect_left: the first bound the value does not exceed
            while i < last and bounds[i] < value:
                i += 1
            buckets[i] += 1
        else:
            low += 1
    buckets[0] += low
    histogram.sum = total
    histogram.count += len(ns)


def count_seconds(histogram: Histogram, seconds: list[float]) -> None:
    """:func:`count_ns` for values queued as they are counted (float seconds)."""
    if histogram.pending:
        histogram.fold()
    bounds = histogram.bounds
    last = len(bounds)
    first = bounds[0]
    buckets = histogram.buckets
    total = histogram.sum
    low = 0
    for value in seconds:
        total += value
        if first < value:
            i = 1
            while i < last and bounds[i] < value:
                i += 1
            buckets[i] += 1
        else:
            low += 1
    buckets[0] += low
    histogram.sum = total
    histogram.count += len(seconds)


def count_sizes(histogram: Histogram, sizes: list[int]) -> None:
    """:func:`count_ns` for integer values counted as they are (byte sizes; the sum a float, as
    ``sum`` made it from a float start)."""
    if histogram.pending:
        histogram.fold()
    bounds = histogram.bounds
    last = len(bounds)
    first = bounds[0]
    buckets = histogram.buckets
    total = histogram.sum
    low = 0
    for size in sizes:
        value = float(size)
        total += value
        if first < value:
            i = 1
            while i < last and bounds[i] < value:
                i += 1
            buckets[i] += 1
        else:
            low += 1
    buckets[0] += low
    histogram.sum = total
    histogram.count += len(sizes)


def take(rows: list[Any]) -> list[Any]:
    """The queued rows, the list emptied in place (its bound ``append`` stays the layer's)."""
    batch = rows.copy()
    rows.clear()
    return batch


class Slots:
    """The slots of one gateway (one per worker process): :meth:`drain` folds them all."""

    def __init__(self) -> None:
        self._drains: list[Callable[[], None]] = []
        self._steps: list[Callable[[], Iterator[None]] | None] = []
        self._sizes: list[Callable[[], int]] = []
        #: slot drains so far (each may have queued values on the histograms: their queues grow by
        #: nothing else), read by the folder's tick to skip a fold that would find nothing to do
        self.moved = 0

    def register(
        self, drain: Callable[[], None], size: Callable[[], int], steps: Callable[[], Iterator[None]] | None = None
    ) -> None:
        """Add a slot's fold and row count (called at start-up, when a layer is built), and its
        stepped fold if it has one (a slot that may hold many series' rows)."""
        self._drains.append(drain)
        self._sizes.append(size)
        self._steps.append(steps)

    def drain(self, least: int = 1) -> None:
        """Move the queued rows of every slot holding at least ``least`` into its series (the
        folder's tick passes a threshold: under a slow tracer or valgrind it came every request or
        two, and folding one row at a time cost more than the rows, 2026-12-01)."""
        for drain, size in zip(self._drains, self._sizes, strict=True):
            if size() >= least:
                self.moved += 1
                drain()

    def below(self, least: int) -> bool:
        """Whether every slot holds fewer than ``least`` rows (a drain with ``least`` would move none)."""
        for size in self._sizes:
            if size() >= least:
                return False
        return True

    def steps(self) -> Iterator[None]:
        """:meth:`drain` in steps (``yield`` between them): a scrape lets the loop run in between
        (the edge's 1,024 rows of 200 keys held it ~1.5 ms in one go on a loaded machine, 2026-12-01)."""
        for drain, steps in zip(self._drains, self._steps, strict=True):
            self.moved += 1
            if steps is not None:
                yield from steps()
            else:
                drain()
            yield


#: groups (series) an edge fold goes through between two pauses of a stepped drain (not ``Final``:
#: mypyc would write its value into the compiled fold, where tests lower it)
STEP = 32


def by_key(keys: list[Any], *columns: list[Any]) -> list[tuple[Any, tuple[list[Any], ...]]]:
    """The rows of ``columns`` (one list per field, a row's values at one index) grouped by
    ``keys``' value at that index, each group in arrival order (a histogram's sum is added in it).
    One key for all (a steady route, one status: the keys are then one object, compared by
    identity) is checked in C and splits nothing."""
    first = keys[0]
    if keys.count(first) == len(keys):
        return [(first, columns)]
    found: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        indexes = found.get(key)
        if indexes is None:
            found[key] = [i]
        else:
            indexes.append(i)
    return [(key, tuple([column[i] for i in indexes] for column in columns)) for key, indexes in found.items()]


def _edge_key(route: str | None, method: str, scheme: str, status: int, otel: bool) -> tuple[Any, ...]:
    """An edge series key, boxed once (see :meth:`EdgeSlot.record`)."""
    return (route, method, scheme, status, otel)


class EdgeSlot:
    """The edge's requests, as three columns: the series key (route, method, scheme, status, OTel
    on), the nanoseconds and the response size. Its series are found per key at the fold, in
    caches, as the edge found them per request before. Unmatched requests (route ``None``) take
    the shared per-status label of ``label``; ``/__stats`` leaves out the routes in ``stats_skip``
    (the built-ins: KrakenD's ``/__health``, ``/__debug/``, ``/__echo/`` are not counted there).

    :meth:`record` keeps the last key tuple and appends that same object while the route, method,
    scheme, status and OTel flag repeat (a steady route: no tuple built a request, and the fold's
    one-key check compares by identity); the columns need no row tuple nor ``zip(*rows)`` at the
    fold (2026-12-02, round 11, branch ``metrics3``: 7-tuple rows, an ``itemgetter`` key a row and
    the transposition cost ~2.2 k instructions a request at the fold)."""

    def __init__(
        self,
        server: Any,
        stats: StatsRegistry | None,
        label: Callable[[str | None, int], str],
        stats_skip: frozenset[str] = frozenset(),
    ) -> None:
        #: the queued requests' series keys, nanoseconds and sizes (one entry each per request)
        self.keys: list[tuple[Any, ...]] = []
        self.ns: list[int] = []
        self.sizes: list[int] = []
        # the last key and what it was made of (a route is None when nothing matched: "\0" differs)
        self._key: tuple[Any, ...] = ()
        self._route: str | None = "\0"
        self._method = ""
        self._scheme = ""
        self._status = -1
        self._otel = False
        #: the groups a stepped fold took and has not folded yet, last to fold first: they stay on
        #: the slot so that a fold cut off (a scrape cancelled while it paused) loses none and any
        #: reader meanwhile (``/__stats``, an export, the window's end) folds them before newer rows
        self._rest: list[tuple[tuple[Any, ...], tuple[list[Any], ...]]] = []
        self._server = server
        self._stats = stats
        self._label = label
        self._stats_skip = stats_skip
        self._otel_series: dict[tuple[str | None, str, str, int], tuple[Histogram, Histogram]] = {}
        self._by_route: dict[tuple[str, int], tuple[StatsHistogram, StatsHistogram, str]] = {}

    def record(self, route: str | None, method: str, scheme: str, status: int, ns: int, size: int, otel: bool) -> None:
        """One request (what the edge calls per request): its key reused while it repeats."""
        key = self._key
        if (
            status != self._status or route != self._route or method != self._method or scheme != self._scheme
            or otel != self._otel
        ):  # fmt: skip
            # made by a function typed ``tuple[Any, ...]``: compiled, a tuple display here stays an
            # unboxed fixed-length tuple, boxed anew at each use (``key = self._key = (...)``, or
            # stored and read back, appended a tuple other than the one kept: the key test's
            # identity check failed on the compiled build)
            key = self._key = _edge_key(route, method, scheme, status, otel)
            self._route, self._method, self._scheme, self._status, self._otel = route, method, scheme, status, otel
        self.keys.append(key)
        self.ns.append(ns)
        self.sizes.append(size)

    def size(self) -> int:
        """The rows not folded yet (queued, or taken by a stepped fold that paused or was cut off)."""
        rest = self._rest
        return len(self.keys) + (sum(len(columns[0]) for _, columns in rest) if rest else 0)

    def drain(self) -> None:
        """Fold the queued rows (see the module), with those a paused stepped fold left first."""
        if self.keys or self._rest:
            for _ in self.steps():
                pass

    def steps(self) -> Iterator[None]:
        """:meth:`drain`, pausing (``yield``) after every :data:`STEP` groups. A group leaves the
        slot only as it is folded (no pause in between), so a fold abandoned at a pause loses nothing."""
        rest = self._rest
        if self.keys:
            # behind the groups an earlier fold left (popped first: their rows came first)
            found = by_key(take(self.keys), take(self.ns), take(self.sizes))
            found.reverse()
            rest[:0] = found
        done = 0
        while rest:
            key, columns = rest.pop()
            self._fold(key, columns[0], columns[1])
            done += 1
            if done % STEP == 0 and rest:
                yield

    def _fold(self, key: tuple[Any, ...], ns: list[int], sizes: list[int]) -> None:
        """One series' rows into its histograms and counters."""
        route, method, scheme, status, otel = key
        if otel and self._server is not None:
            pair = self._otel_series.get((route, method, scheme, status))
            if pair is None:
                pair = self._otel_series[(route, method, scheme, status)] = self._server.recorder(
                    self._label(route, status), method, scheme
                ).series(status)
            count_ns(pair[0], ns)
            count_sizes(pair[1], sizes)
        stats = self._stats
        if stats is not None and route is not None and route not in self._stats_skip:
            found = self._by_route.get((route, status))
            if found is None:
                found = self._by_route[(route, status)] = self._stats_series(stats, route, status)
            counters = stats.counters
            counters[found[2]] = counters.get(found[2], 0) + len(ns)
            found[0].pending.extend(sizes)
            found[1].pending.extend(ns)

    def _stats_series(self, stats: StatsRegistry, route: str, status: int) -> tuple[Any, Any, str]:
        from krakenpy.telemetry.metrics.instruments import gin_route

        ep = gin_route(route)
        stats.counter_key(f"router.response.{ep}.status")  # registered, never incremented (as KrakenD)
        return (
            stats.histogram(f"router.response.{ep}.size"),
            stats.histogram(f"router.response.{ep}.time"),
            f"krakend.router.response.{ep}.status.{status}.count",
        )


class CallSlot:
    """A proxy or backend layer's calls: eight lists of elapsed nanoseconds by outcome
    (``error*4 + canceled*2 + complete``), so a call appends one int to one list (no tuple) and the
    fold needs no grouping. ``otel`` is ``krakend.*.duration``'s series by (error, canceled,
    complete); ``stats`` the ``/__stats`` (counter key, latency histogram) by (complete, error)."""

    def __init__(
        self,
        otel: Outcomes | None,
        stats: StatsRegistry | None,
        stats_keys: dict[tuple[bool, bool], tuple[str, StatsHistogram]],
    ) -> None:
        self.lists: tuple[list[int], ...] = tuple([] for _ in range(8))
        #: what the layer calls per request: ``add[error*4 + canceled*2 + complete](elapsed_ns)``
        self.add: tuple[Callable[[int], None], ...] = tuple(values.append for values in self.lists)
        outcomes = [(bool(i & 4), bool(i & 2), bool(i & 1)) for i in range(8)]
        self._outcomes = outcomes
        #: the OTel series, read (so made) at the fold that first observes their outcome
        self._otel = otel
        self._counters = stats.counters if stats is not None else None
        self._stats = tuple(stats_keys[(k, e)] for e, _, k in outcomes) if stats is not None else ()

    def size(self) -> int:
        """The queued durations (a loop compiled to native ``len`` calls: ``sum(map(len, ...))``
        made a map object and eight generic calls, read at every tick of the folder)."""
        n = 0
        for values in self.lists:
            n += len(values)
        return n

    def drain(self) -> None:
        """Fold the queued durations (see the module)."""
        otel = self._otel
        counters = self._counters
        for i, values in enumerate(self.lists):
            if not values:
                continue
            batch = take(values)
            if otel is not None:
                count_ns(otel[self._outcomes[i]], batch)
            if counters is not None:
                key, latency = self._stats[i]
                counters[key] += len(batch)
                latency.pending.extend(batch)  # nanoseconds, as go-metrics' timers
