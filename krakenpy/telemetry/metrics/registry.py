"""Counter, gauge and histogram families with label-value series, a per-family series cap, and the
Prometheus text exposition (0.0.4) rendered from cached per-series label strings."""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Final, Literal

__all__ = [
    "OVERFLOW",
    "SIZE_BUCKETS",
    "TIME_BUCKETS",
    "Counter",
    "Family",
    "Gauge",
    "Histogram",
    "Registry",
    "prom_labels",
    "prom_name",
    "target_labels",
]

#: krakend-otel's default buckets: durations in seconds, sizes in bytes
TIME_BUCKETS: Final = (
    0.01, 0.02, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.5, 5.0, 10.0,
)  # fmt: skip
SIZE_BUCKETS: Final = tuple(
    float(b) for b in (128, 256, 512, 1 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 256 << 10,
                       512 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20)
)  # fmt: skip
#: label value every label of a series takes once its family reached the cap
OVERFLOW: Final = "__other__"
#: series per family before new label sets fold into OVERFLOW (OTel SDKs default to 2000)
MAX_SERIES: Final = 2000
_NON_ALNUM = re.compile(r"[^a-zA-Z0-9_:]")

Kind = Literal["counter", "gauge", "histogram"]


def prom_name(name: str) -> str:
    """An OTel instrument or attribute name as the Go Prometheus exporter writes it."""
    out = _NON_ALNUM.sub("_", name)
    return "_" + out if out[:1].isdigit() else out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prom_labels(pairs: Mapping[str, str]) -> str:
    """``name="value",...`` as the text format writes them: names as :func:`prom_name` makes them,
    values escaped (a quote or newline in a configured value would cut the line)."""
    return ",".join(f'{prom_name(k)}="{_escape(v)}"' for k, v in pairs.items())


def target_labels(attributes: Mapping[str, object]) -> dict[str, str]:
    """Resource attributes as ``target_info``'s labels: names as :func:`prom_name` makes them, and the
    values of attributes whose names become one (``a.b`` and ``a_b``) joined by ``;`` in their keys'
    order, as the Go Prometheus exporter does: a label named twice makes Prometheus refuse the scrape."""
    found: dict[str, list[tuple[str, str]]] = {}
    for key, value in attributes.items():
        found.setdefault(prom_name(key), []).append((key, str(value)))
    return {name: ";".join(v for _, v in sorted(pairs)) for name, pairs in found.items()}


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))


def _num(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if isinstance(value, int) or value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class Counter:
    """A monotonically growing value; ``inc`` is one attribute update."""

    __slots__ = ("labels", "value")

    def __init__(self, labels: str) -> None:
        self.labels = labels
        self.value: float = 0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class Gauge(Counter):
    """A value that goes both ways (or is computed at collection)."""

    __slots__ = ()

    def set(self, value: float) -> None:
        self.value = value


class Histogram:
    """Per-bucket counts (not cumulative: one increment per observation), sum and count.

    The request path queues values with :attr:`add` (``pending.append``, one C call); readers call
    :meth:`fold` first, which buckets the queued values in one sort and a bisection per bound. An
    inline update (a bisection, three attribute updates) cost ~12 Python opcodes per value on the
    request path; the fold is C-level per value but for the bounds' loop (2026-12-01). The layers'
    metric slots count their columns straight into the buckets, sum and count instead, in a
    compiled loop (:func:`krakenpy.telemetry.metrics.slots.count_ns`), after this fold of whatever
    is queued."""

    __slots__ = ("_prefixes", "add", "bounds", "buckets", "count", "labels", "pending", "sum")

    def __init__(self, labels: str, bounds: tuple[float, ...]) -> None:
        self.labels = labels
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0
        #: values observed but not yet counted in ``buckets``/``sum``/``count`` (see :meth:`fold`)
        self.pending: list[float] = []
        #: queue one value (the list's own ``append``: the list is cleared in place, never replaced)
        self.add = self.pending.append
        #: the exposition lines' fixed parts, built at the first scrape: later scrapes only add numbers
        self._prefixes: tuple[str, tuple[str, ...]] | None = None

    def observe(self, value: float) -> None:
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def zeros(self, n: int) -> None:
        """Count ``n`` observations of 0 (a kept-alive call's connection times) at once: their
        bucket, no value queued; the sum is unchanged (``x + 0.0 == x``: where they fall among the
        queued values moves no float sum)."""
        self.buckets[bisect_left(self.bounds, 0.0)] += n
        self.count += n

    def fold(self) -> None:
        """Count the queued values (before any read of ``buckets``, ``sum`` or ``count``)."""
        pending = self.pending
        if not pending:
            return
        values = pending.copy()
        pending.clear()
        # in arrival order: Python 3.11's float sum adds one by one, the same value as observe's +=
        self.sum = sum(values, self.sum)
        self.count += len(values)
        buckets = self.buckets
        bounds = self.bounds
        if len(values) < len(bounds):
            # a few values (a quiet second: the folder's tick): a bisection each is cheaper than
            # the loop over every bound (~6 opcodes per bound: 258 opcodes a request under the
            # opcode tracer, whose requests are slow enough for a fold every few, 2026-12-01)
            for value in values:
                buckets[bisect_left(bounds, value)] += 1
            return
        if max(values) <= bounds[0]:
            # every value in the first bucket (a P1 duration, ~1 ms, is under the first time bound,
            # 10 ms): counted without the sort, one C pass where sorting 1,024 random floats made
            # ~10 comparisons a value (the edge's fold of the metrics row, every 1,024 requests:
            # ~0.7 µs a request at real speed in process, its sorts ~1.6 k instructions, round 13)
            buckets[0] += len(values)
            return
        values.sort()
        below = 0
        n = len(values)
        for i, bound in enumerate(bounds):
            # values <= bound: observe's bisect_left on the bounds; searched above the last bound's
            upto = bisect_right(values, bound, below)
            buckets[i] += upto - below
            below = upto
            if below == n:  # every value counted (a P1 duration is below the first bound): the rest add 0
                return
        buckets[-1] += n - below

    def cumulative(self) -> list[int]:
        out: list[int] = []
        total = 0
        for n in self.buckets:
            total += n
            out.append(total)
        return out


Series = Counter | Histogram


class Family:
    """One metric name with its label names; :meth:`series` is called at compile time or on a
    per-request cache miss, never for every observation."""

    #: how bucket bounds and values are written (a subclass may follow another exporter's style)
    fmt_number: Callable[[float], str] = staticmethod(_num)

    def __init__(
        self,
        name: str,
        kind: Kind,
        label_names: Sequence[str],
        *,
        help: str = "",
        unit: str = "",
        buckets: tuple[float, ...] = TIME_BUCKETS,
        max_series: int = MAX_SERIES,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.label_names = tuple(label_names)
        self.prom_labels = tuple(prom_name(n) for n in label_names)
        self.help = help
        self.unit = unit
        self.buckets = buckets
        self._series: dict[tuple[str, ...], Series] = {}
        self._max = max_series
        self._on_overflow = on_overflow

    def series(self, *values: str) -> Series:
        """The series for these label values (created once; folded into ``__other__`` past the cap)."""
        found = self._series.get(values)
        if found is not None:
            return found
        if len(self._series) >= self._max:
            if self._on_overflow is not None:
                self._on_overflow()
            values = tuple(OVERFLOW for _ in values)
            found = self._series.get(values)
            if found is not None:
                return found
        labels = _labels(self.prom_labels, values)
        made: Series
        if self.kind == "histogram":
            made = Histogram(labels, self.buckets)
        elif self.kind == "gauge":
            made = Gauge(labels)
        else:
            made = Counter(labels)
        self._series[values] = made
        return made

    def counter(self, *values: str) -> Counter:
        s = self.series(*values)
        assert isinstance(s, Counter)
        return s

    def histogram(self, *values: str) -> Histogram:
        s = self.series(*values)
        assert isinstance(s, Histogram)
        return s

    def items(self) -> Iterable[tuple[tuple[str, ...], Series]]:
        return self._series.items()

    def __len__(self) -> int:
        return len(self._series)

    def prometheus_name(self) -> str:
        """The exporter's name: ``_seconds``/``_bytes`` for ``s``/``By`` units, ``_total`` for counters."""
        base = prom_name(self.name)
        suffix = {"s": "_seconds", "By": "_bytes"}.get(self.unit, "")
        if suffix and not base.endswith(suffix):
            base += suffix
        if self.kind == "counter" and not base.endswith("_total"):
            base += "_total"
        return base

    def render(self, out: list[str], extra: str = "") -> None:
        """Append this family's exposition lines; ``extra`` labels (``k="v"``) go on every series."""
        for _ in self.render_chunks(out, extra, len(self._series) or 1):
            pass

    def render_chunks(self, out: list[str], extra: str, size: int) -> Iterator[None]:
        """Like :meth:`render`, pausing (``yield``) after every ``size`` series, so a caller on the
        event loop can let other work run between chunks."""
        if not self._series:
            return
        name = self.prometheus_name()
        out.append(f"# HELP {name} {self.help}".rstrip() + "\n")
        out.append(f"# TYPE {name} {self.kind}\n")
        done = 0
        for series in list(self._series.values()):
            done += 1
            if done % size == 0:
                yield
            if isinstance(series, Histogram):
                series.fold()
                cached = series._prefixes
                if cached is None or cached[0] != extra:
                    labels = series.labels + ("," + extra if extra and series.labels else extra)
                    sep = "," if labels else ""
                    number = self.fmt_number
                    fixed = tuple(f'{name}_bucket{{{labels}{sep}le="{number(b)}"}} ' for b in series.bounds) + (
                        f'{name}_bucket{{{labels}{sep}le="+Inf"}} ',
                        f"{name}_sum{{{labels}}} ",
                        f"{name}_count{{{labels}}} ",
                    )
                    cached = series._prefixes = (extra, fixed)
                fixed = cached[1]
                total = 0
                lines = []
                for prefix, n in zip(fixed, series.buckets[:-1], strict=False):
                    total += n
                    lines.append(f"{prefix}{total}\n")
                count = series.count
                lines.append(f"{fixed[-3]}{count}\n{fixed[-2]}{self.fmt_number(series.sum)}\n{fixed[-1]}{count}\n")
                out.append("".join(lines))
            else:
                labels = series.labels + ("," + extra if extra and series.labels else extra)
                out.append(f"{name}{{{labels}}} {self.fmt_number(series.value)}\n")


class Registry:
    """The families of one gateway, in registration order, plus the overflow counter."""

    def __init__(self, max_series: int = MAX_SERIES) -> None:
        self._families: dict[str, Family] = {}
        self._max = max_series
        self.overflow = Counter("")
        #: what moves the request path's queued rows into the series (run before every read), given
        #: the least number of rows a slot must hold to be folded
        self.feeders: list[Callable[[int], None]] = []
        #: the same in steps, for a reader on the event loop that yields between them (the scrape)
        self.feed_steps: list[Callable[[], Iterator[None]]] = []

    def feed(self, least: int = 1) -> None:
        """Fold the layers' queued rows into the series (``families``, ``fold`` and ``render`` do)."""
        for feeder in self.feeders:
            feeder(least)

    def family(
        self,
        name: str,
        kind: Kind,
        label_names: Sequence[str],
        *,
        help: str = "",
        unit: str = "",
        buckets: tuple[float, ...] = TIME_BUCKETS,
    ) -> Family:
        """Get or create a family (same name twice must agree on kind and labels)."""
        found = self._families.get(name)
        if found is not None:
            if found.kind != kind or found.label_names != tuple(label_names):
                raise ValueError(f"metric {name} registered twice with different shapes")
            return found
        family = Family(
            name,
            kind,
            label_names,
            help=help,
            unit=unit,
            buckets=buckets,
            max_series=self._max,
            on_overflow=self.overflow.inc,
        )
        self._families[name] = family
        return family

    def add(self, family: Family) -> Family:
        """Register a family built elsewhere (a subclass with its own naming); first one wins."""
        return self._families.setdefault(family.name, family)

    def families(self) -> Iterable[Family]:
        """The families, their series up to date with the request path's rows."""
        self.feed()
        return self._families.values()

    def fold(self, least: int = 1) -> None:
        """Count every histogram's queued values (bounds their memory between reads); with ``least``,
        only the slots and histograms holding at least that many."""
        self.feed(least)
        for family in self._families.values():
            if family.kind == "histogram":
                for series in family._series.values():
                    if len(series.pending) >= least:  # type: ignore[union-attr]
                        series.fold()  # type: ignore[union-attr]

    def render(self, extra: str = "") -> str:
        """The whole registry in Prometheus text format."""
        out: list[str] = []
        for family in self.families():
            family.render(out, extra)
        out.append(
            "# HELP krakenpy_metrics_series_overflow_total Label sets folded into __other__ by the series cap.\n"
        )
        out.append("# TYPE krakenpy_metrics_series_overflow_total counter\n")
        out.append(f"krakenpy_metrics_series_overflow_total {_num(self.overflow.value)}\n")
        return "".join(out)
