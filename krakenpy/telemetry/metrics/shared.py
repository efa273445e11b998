"""Metrics across the worker processes of ``krakenpy run -w N`` (N > 1).

Each worker publishes its cumulative snapshot (every Prometheus registry's counters and histograms,
the ``/__stats`` counters and window histograms, a few process figures) into its own file of the
run directory (:mod:`krakenpy.server.rundir`) once a second and when it stops: written to a
temporary name and renamed, so a reader never sees half a file. The worker serving the telemetry
listeners writes its own snapshot at a scrape, reads the others' latest and merges them.

- Counters and histograms are summed over every worker, also those that exited (the supervisor
  renames their file ``gone-<pid>.json``): a counter never goes down, whatever dies or restarts.
  A worker keeps what a reload's retired gateway counted (:meth:`Publisher.add`'s removal folds it
  into the worker's base), so a reload does not lower them either.
- Gauges count for the live workers only: summed (no registry family is a gauge today);
  ``process_*`` and ``python_gc_*`` get a ``pid`` label per live worker.
- ``/__stats`` window histograms: the live workers' windows, pooled (:func:`_combine`); a
  summary is made again at most every :data:`SUMMARY_PERIOD` (:class:`StatsPart`).
- Staleness: another worker's counts are at most one tick (1 s) old; a worker killed with
  ``SIGKILL`` loses what it counted since its last tick. A write never replaces a newer snapshot
  of the same worker (the tick's, stepping through summaries, finishing after a scrape's).
- A scrape, or worker 1's tick, merges the files of exited workers into one from
  :data:`COMPACT_AT` of them (one compaction at a time: an ``flock``; a file read or a few series a
  step, the loop running in between); the merged file is written
  before its sources go, and a reader that finds a listed file gone lists again, so no scrape
  misses what was merged. A file of the wrong shape is skipped (one warning).
- The directory removed under the gateway: a scrape still answers (this worker's figures at
  least), and the next write makes it again (:func:`krakenpy.server.rundir.restore`).

With ``run -w 1`` there is no directory and no file: :class:`LocalPublisher` keeps, in memory, what
the gateways a reload retired counted, and a scrape after a reload merges it with the live registry,
so a counter does not go down there either.

Nothing here runs per request: the request path's rows are folded at the tick, as the folder does.
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import os
import re
from collections.abc import Callable, Generator, Iterator
from time import monotonic, time_ns
from typing import TYPE_CHECKING, Any, Final

import orjson

from krakenpy.server.rundir import LIVE, RETIRED, current, live_name, restore, tmp_names
from krakenpy.telemetry.metrics.registry import MAX_SERIES, OVERFLOW, Family, Histogram, _num
from krakenpy.telemetry.metrics.stats import PERCENTILES, rss_bytes, summarize

if TYPE_CHECKING:
    from krakenpy.telemetry.metrics.registry import Registry
    from krakenpy.telemetry.metrics.stats import StatsHistogram, StatsRegistry

__all__ = [
    "PUBLISHER",
    "Publisher",
    "StatsPart",
    "add_prom",
    "add_stats",
    "expvar_snapshot",
    "expvar_steps",
    "prom_part",
    "prom_steps",
    "publisher",
    "render_prom",
    "stats_part",
]

log = logging.getLogger("krakenpy.telemetry")

#: seconds between two snapshots of a worker (the folder's period: the staleness bound)
PERIOD: Final = 1.0
#: snapshots of exited workers a scrape merges into one file
COMPACT_AT: Final = 4
#: listings of the run directory a scrape tries while files it listed are renamed or merged away
LISTINGS: Final = 4
#: the lock file of a compaction (one at a time, whichever process)
_COMPACTING: Final = ".compact"
#: series of a Prometheus registry a tick's snapshot reads between two yields to the loop
STEP_SERIES: Final = 200
#: series of exited workers' snapshots a compaction merges between two yields to the loop
COMPACT_SERIES: Final = 64
#: seconds between two summaries of a /__stats window histogram that changed (a new window: at once)
SUMMARY_PERIOD: Final = 5.0
#: a /__stats window histogram in a snapshot: these keys' values, in this order
HIST_KEYS: Final = (".count", ".min", ".max", ".mean", ".std-dev") + tuple(s for s, _ in PERCENTILES)

Doc = dict[str, Any]
#: what a registered source returns: its part of the snapshot
Part = Callable[[], Doc]
#: the same, filling the given dict in steps (``yield`` between them)
Steps = Callable[[Doc], Iterator[None]]


class Publisher:
    """This worker's snapshots: the sources (one per registry of each live gateway) and what the
    gateways retired by reloads counted (``base``)."""

    #: no run directory (:class:`LocalPublisher`): this process's own figures, without a pid label
    local = False

    def __init__(self, run_dir: str, slot: int, pid: int = 0) -> None:
        self.run_dir = run_dir
        self.slot = slot
        self.pid = pid or os.getpid()  # another pid: the benchmark's stand-ins for other workers
        self.sources: list[tuple[str, Part, Steps | None]] = []
        self.base: dict[str, Doc] = {}
        self._path = os.path.join(run_dir, live_name(self.pid))
        self._tmp = os.path.join(run_dir, tmp_names(self.pid)[0])
        self._task: asyncio.Task[None] | None = None
        #: snapshots begun, and the number of the one on file: an older one is not written over it
        self._begun = 0
        self._written = 0
        #: files of the wrong shape already warned about; whether writing fails (warned once)
        self._bad: set[str] = set()
        self._failing = False

    @property
    def merged(self) -> bool:
        """Whether a scrape merges snapshots (the workers' files): always with ``-w N``."""
        return True

    def add(self, kind: str, part: Part, steps: Steps | None = None, kept: Part | None = None) -> Callable[[], None]:
        """Publish ``part()`` under ``kind`` (``prom:<name>`` or ``stats``), or what ``steps`` fills in
        steps when given; the returned callable removes it (its gateway closes) and keeps its
        counters in the base: ``kept()``'s when given (the counters alone, where ``part`` makes more:
        ``/__stats``' window summaries, ~33 ms in one step for 100 full histograms, thrown away)."""
        entry = (kind, part, steps)
        self.sources.append(entry)

        def remove() -> None:
            if entry not in self.sources:
                return
            # a new base, not the old one changed: a snapshot pausing in the old base took the list of
            # sources with it (this one among them), so it counts these counts once, as the next does
            base = dict(self.base)
            try:
                merged: Doc = {}
                old = base.get(kind)
                if old is not None:
                    _add(merged, kind, old, live=False)
                _add(merged, kind, (kept or part)(), live=False)
                if kind != "stats":  # reloads that change the routes: as many series as a registry
                    _cap(merged[kind])
                else:  # the same cap per family of /__stats keys, the live routes' kept first
                    _cap_stats(merged[kind], self._live_stats_keys(entry))
                base[kind] = merged[kind]
            except Exception:  # a gateway's close goes on: only its last counts are lost
                log.exception("cannot keep the counters of a closed configuration")
            self.sources.remove(entry)
            self.base = base

        return remove

    def _live_stats_keys(self, leaving: tuple[str, Part, Steps | None]) -> set[str]:
        """The ``/__stats`` counter keys of the live gateways but ``leaving`` (a reload's next one)."""
        keys: set[str] = set()
        for entry in self.sources:
            part = entry[1]
            if entry is not leaving and entry[0] == "stats" and isinstance(part, StatsPart):
                keys.update(part.stats.counters)
        return keys

    def snapshot(self) -> Doc:
        """The cumulative snapshot of this worker (the base plus every live source)."""
        doc: Doc = {}
        for _ in self.snapshot_steps(doc):
            pass
        return doc

    def snapshot_steps(self, doc: Doc) -> Iterator[None]:
        """:meth:`snapshot` into ``doc``, pausing (``yield``) where a source does."""
        parts: dict[str, Doc] = {}
        # the base and the sources of one moment: a reload's closing gateway replaces the base and
        # leaves the sources while this pauses (taken apart, its counts were missed: 12 then 7)
        base, sources = self.base, list(self.sources)
        for kind, found in base.items():
            yield from _add_steps(parts, kind, found, live=False)
        for kind, part, steps in sources:
            if steps is None:
                found = part()
            else:
                found = {}
                yield from steps(found)
            if kind in parts:
                yield from _add_steps(parts, kind, found, live=True)
            else:  # made for this snapshot: taken as it is (a copy of 1,900 series took 2.1 ms in one step)
                parts[kind] = found
        doc.update(pid=self.pid, slot=self.slot, parts=parts, proc=_proc())

    def write(self) -> Doc | None:
        """Write the snapshot (None: nothing to publish, no file)."""
        doc: Doc = {}
        for _ in self.write_steps(doc):
            pass
        return doc or None

    def write_steps(self, doc: Doc) -> Iterator[None]:
        """:meth:`write` in steps; ``doc`` stays empty when there is nothing to publish. Not written
        when a snapshot begun later is on file already (a scrape's, while this one stepped)."""
        if not self.sources and not self.base:
            return
        self._begun += 1
        number = self._begun
        yield from self.snapshot_steps(doc)
        if number < self._written:
            return
        data = orjson.dumps(doc)
        try:
            self._put(data)
        except FileNotFoundError:
            if os.path.isdir(self.run_dir) or not restore(self.run_dir):
                raise
            self._put(data)
        self._written = number
        if self._failing:
            self._failing = False
            log.warning("this worker's metrics snapshots are written again")

    def _put(self, data: bytes) -> None:
        with open(self._tmp, "wb") as f:
            f.write(data)
        os.replace(self._tmp, self._path)

    def _write_failed(self, exc: OSError) -> None:
        if not self._failing:
            self._failing = True
            log.warning("cannot write this worker's metrics snapshot: %s", exc)

    def gather(self) -> list[tuple[bool, Doc]]:
        """(live, snapshot) of every worker: this one's now, the others' latest."""
        docs: list[tuple[bool, Doc]] = []
        for _ in self.gather_steps(docs):
            pass
        return docs

    def gather_steps(self, docs: list[tuple[bool, Doc]]) -> Iterator[None]:
        """:meth:`gather` into ``docs``, pausing (``yield``) after this worker's snapshot and after
        each file read, so a scrape on the event loop lets other work run in between. Whatever
        happened to the directory, this worker's figures are in ``docs``."""
        own: Doc = {}
        try:
            yield from self.write_steps(own)
        except OSError as exc:  # removed and not made again, a full tmpfs: the others' are older
            self._write_failed(exc)
        if not own:
            yield from self.snapshot_steps(own)
        docs.append((True, own))
        yield
        found: tuple[list[Doc], list[tuple[str, Doc]]] | None = None
        for attempt in range(LISTINGS):
            try:
                found = yield from self._listing(last=attempt == LISTINGS - 1)
            except OSError:
                return  # no directory: this worker's figures only
            if found is not None:
                break
        assert found is not None
        live, retired = found
        docs.extend((True, doc) for doc in live)
        kept = _uncovered(retired)
        docs.extend((False, doc) for _, doc in kept)
        if len(kept) >= COMPACT_AT:
            yield from self._compact_steps(kept)
        elif len(kept) < len(retired):
            self._drop_covered(retired, kept)

    def _listing(
        self, *, last: bool, retired_only: bool = False
    ) -> Generator[None, None, tuple[list[Doc], list[tuple[str, Doc]]] | None]:
        """The other live workers' snapshots (none with ``retired_only``) and the retired ones (by
        name), a ``yield`` after each file; None when a listed file is gone (renamed by the
        supervisor, merged by a compaction: what replaced it was not listed), unless ``last``.
        Raises OSError without a directory."""
        names = sorted(os.listdir(self.run_dir))
        live: list[Doc] = []
        retired: list[tuple[str, Doc]] = []
        own = live_name(self.pid)
        for name in names:
            is_live = name.startswith(LIVE)
            if not name.endswith(".json") or not (is_live or name.startswith(RETIRED)) or name == own:
                continue
            if is_live and retired_only:
                continue
            try:
                doc = self._read(name, live=is_live)
            except FileNotFoundError:
                if last:
                    continue
                return None
            if doc is not None:
                if is_live:
                    live.append(doc)
                else:
                    retired.append((name, doc))
            yield
        return live, retired

    def _read(self, name: str, *, live: bool) -> Doc | None:
        """A snapshot file, or None (warned once) when it is not one; FileNotFoundError passes."""
        try:
            with open(os.path.join(self.run_dir, name), "rb") as f:
                found = orjson.loads(f.read())
        except FileNotFoundError:
            raise
        except (OSError, orjson.JSONDecodeError) as exc:
            problem = str(exc)
        else:
            problem = _shape(found, live=live)
            if not problem:
                self._bad.discard(name)
                return found  # type: ignore[no-any-return]
        if name not in self._bad:
            self._bad.add(name)
            log.warning("unreadable metrics snapshot %s, skipped: %s", name, problem)
        return None

    def tidy_steps(self) -> Iterator[None]:
        """Compact the exited workers' files at worker 1's tick too: without scrapes they stay few.
        A ``yield`` after each file read and each step of the merge, as a scrape's: four files of
        1,900 histogram series held worker 1's loop 30 to 57 ms in one step (2026-12-06)."""
        try:
            count = sum(1 for n in os.listdir(self.run_dir) if n.startswith(RETIRED) and n.endswith(".json"))
        except OSError:
            return
        if count < COMPACT_AT:
            return
        found: tuple[list[Doc], list[tuple[str, Doc]]] | None = None
        for attempt in range(LISTINGS):
            try:
                found = yield from self._listing(last=attempt == LISTINGS - 1, retired_only=True)
            except OSError:
                return
            if found is not None:
                break
        assert found is not None
        kept = _uncovered(found[1])
        if len(kept) >= COMPACT_AT:
            yield from self._compact_steps(kept)
        elif len(kept) < len(found[1]):
            self._drop_covered(found[1], kept)

    def _drop_covered(self, retired: list[tuple[str, Doc]], kept: list[tuple[str, Doc]]) -> None:
        """Remove the files a merged file covers (a compaction that stopped before removing them: each
        scrape and tick read them again, for nothing, until the next compaction), under the
        compaction's lock; a file that does not go stays covered."""
        uncovered = {n for n, _ in kept}
        try:
            lock = os.open(os.path.join(self.run_dir, _COMPACTING), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            for name, _ in retired:
                if name not in uncovered:
                    try:
                        os.unlink(os.path.join(self.run_dir, name))
                    except FileNotFoundError:
                        pass
        except OSError:
            pass  # another compaction is running, or the files stay: still covered, counted once
        finally:
            os.close(lock)

    def _compact_steps(self, retired: list[tuple[str, Doc]]) -> Iterator[None]:
        """Merge the snapshots of exited workers into one file (their counters are all that count):
        a worker restarted every hour for a month leaves one file, not 720 to read at each scrape.
        One compaction at a time (an ``flock``: the serving worker's scrapes and worker 1's tick);
        the merged file is written before its sources are removed (its ``covers`` keep the sums
        right while both are there), and a reader that finds a listed source gone lists again.
        Merged a family or :data:`COMPACT_SERIES` series a step (``yield``), the lock held throughout:
        only another compaction removes an exited worker's file, and it does not get the lock."""
        names = [n for n, _ in retired]
        try:
            lock = os.open(os.path.join(self.run_dir, _COMPACTING), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            log.warning("cannot compact the metrics of exited workers: %s", exc)
            return
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # another compaction is running: the next scrape or tick sees its result
            if not all(os.path.exists(os.path.join(self.run_dir, n)) for n in names):
                return  # compacted meanwhile
            # what a merged file among them covers and is still there (a compaction that stopped before
            # removing it): covered by the new file too, and removed with the rest. Left uncovered when
            # its merged file went, it counted a second time (40 became 80)
            covered = [n for _, doc in retired for n in doc.get("covers", ())]
            left = [n for n in covered if n not in names and os.path.exists(os.path.join(self.run_dir, n))]
            parts: dict[str, Doc] = {}
            for _, doc in retired:
                for kind, part in doc["parts"].items():
                    yield from _add_steps(parts, kind, part, live=False, size=COMPACT_SERIES)
            merged = {"pid": 0, "slot": 0, "parts": parts, "proc": {}, "covers": names + left}
            tmp = os.path.join(self.run_dir, tmp_names(self.pid)[1])
            with open(tmp, "wb") as f:
                f.write(orjson.dumps(merged))
            # a name no file has nor had (the lock held: no other compaction makes one meanwhile), after
            # the newest merged file's, whatever the clock reads: a clock that read the same twice gave a
            # compaction the name of the merged file it merged, which it replaced and then removed as one
            # of its sources (every exited worker's counts gone); or the name of one merged away, that a
            # merged file not yet removed lists as merged (hidden)
            seen = (m for n in [*names, *covered] if (m := _MERGED.fullmatch(n)))
            stamp = max(time_ns(), max((int(m[1]) + 1 for m in seen), default=0))
            while os.path.lexists(target := os.path.join(self.run_dir, f"{RETIRED}merged-{stamp}.json")):
                stamp += 1
            os.replace(tmp, target)
            for name in names:
                os.unlink(os.path.join(self.run_dir, name))
            for name in left:
                try:
                    os.unlink(os.path.join(self.run_dir, name))
                except FileNotFoundError:
                    pass
        except OSError as exc:  # the next scrape tries again; a merged file's covers keep the sums right
            log.warning("cannot compact the metrics of exited workers: %s", exc)
        finally:
            os.close(lock)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(PERIOD)
            try:
                for _ in self.write_steps({}):
                    await asyncio.sleep(0)
            except FileNotFoundError:
                if not os.path.isdir(self.run_dir):
                    return  # removed, not made again: the supervisor was killed, this worker ends too
                continue
            except OSError as exc:  # a full tmpfs: the next tick tries again
                self._write_failed(exc)
            if self.slot == 1:
                for _ in self.tidy_steps():
                    await asyncio.sleep(0)

    def start(self) -> None:
        from krakenpy.tasks import spawn

        self._task = spawn(self.run())

    async def stop(self, last: bool = True) -> None:
        """No more ticks; the last snapshot once the gateways closed (their counters are in the base by
        then) when ``last``: not when the supervisor is gone (nobody would read it)."""
        from krakenpy.tasks import cancel_and_wait

        await cancel_and_wait(self._task)
        self._task = None
        if not last:
            return
        try:
            self.write()
        except OSError as exc:
            log.warning("cannot write this worker's last metrics snapshot: %s", exc)


class LocalPublisher(Publisher):
    """``run -w 1``: no run directory and no files, the snapshot taken in memory at a scrape, so a
    reload keeps the counters of the gateway it retired (the base), as a worker of ``-w N`` does: a
    Prometheus counter does not go down without a restart. Until a first reload retired a gateway
    there is nothing to add: a scrape renders the registry itself, as before (:attr:`merged`)."""

    local = True

    def __init__(self, slot: int) -> None:
        super().__init__("", slot)
        self._merging = False

    @property
    def merged(self) -> bool:
        return self._merging or bool(self.base)

    def add(self, kind: str, part: Part, steps: Steps | None = None, kept: Part | None = None) -> Callable[[], None]:
        # merged from the second live source of a kind (a reload's new gateway), not from the old one's
        # removal: that runs last in its close, after its services' stop (an OTLP flush to a collector
        # that does not answer: 10 s), and meanwhile the handed-over listener showed the new one alone
        if any(entry[0] == kind for entry in self.sources):
            self._merging = True
        return super().add(kind, part, steps, kept)

    def write_steps(self, doc: Doc) -> Iterator[None]:
        if self.sources or self.base:
            yield from self.snapshot_steps(doc)

    def gather_steps(self, docs: list[tuple[bool, Doc]]) -> Iterator[None]:
        own: Doc = {}
        yield from self.snapshot_steps(own)
        docs.append((True, own))
        yield

    def start(self) -> None:
        pass  # nothing to tick: no other process reads the snapshot

    async def stop(self, last: bool = True) -> None:
        pass


#: this process's publisher: made by the first gateway of a worker of ``run``
PUBLISHER: Publisher | None = None


def publisher() -> Publisher | None:
    """This worker's publisher (None outside a worker of ``run``), ticking from its first use."""
    global PUBLISHER
    if PUBLISHER is None:
        found = current()
        if found is None:
            return None
        PUBLISHER = LocalPublisher(found.slot) if found.path is None else Publisher(found.path, found.slot)
        found.on_stop.append(PUBLISHER.stop)
        PUBLISHER.start()
    return PUBLISHER


def _uncovered(retired: list[tuple[str, Doc]]) -> list[tuple[str, Doc]]:
    """The retired snapshots no merged file covers (a compaction that stopped before removing what
    it merged, or whose sources a reader listed before they went: not counted twice)."""
    covered = {n for _, doc in retired for n in doc.get("covers", ())}
    return [(n, doc) for n, doc in retired if n not in covered]


_NUMBER: Final = frozenset((int, float))
_LIST: Final = frozenset((list,))


def _numbers(found: object, *, width: int = 0) -> bool:
    """A dict of numbers, or with ``width`` of lists that long (their items are not looked at: a
    check of every bucket took 3.6 ms a scrape for a file of 1,900 histogram series, 2026-12-02;
    this one 0.13 ms, the file's parse 1.7 ms)."""
    if not isinstance(found, dict):
        return False
    values = found.values()
    if not width:
        return {type(v) for v in values} <= _NUMBER
    return {type(v) for v in values} <= _LIST and {len(v) for v in values} <= {width}


def _shape(doc: object, *, live: bool) -> str:
    """What is wrong with a snapshot's shape ("": nothing): a scrape merges it without a check.
    A live one's process figures are read too."""
    if not isinstance(doc, dict):
        return "not an object"
    parts = doc.get("parts")
    if not isinstance(parts, dict):
        return "no parts"
    if live:
        proc = doc.get("proc")
        if not isinstance(doc.get("pid"), int) or not isinstance(proc, dict):
            return "no pid or process figures"
        gcs = proc.get("gc")
        if (
            not isinstance(proc.get("rss"), int)
            or not isinstance(proc.get("threads"), int)
            or not isinstance(gcs, list)
            or not all(isinstance(p, list) and len(p) == 2 and _numbers(dict(enumerate(p))) for p in gcs)
        ):
            return "process figures of another shape"
    covers = doc.get("covers", [])
    if not isinstance(covers, list) or not all(isinstance(n, str) for n in covers):
        return "covers of another shape"
    for kind, part in parts.items():
        if not isinstance(part, dict):
            return f"{kind}: not an object"
        if kind == "stats":
            hists = part.get("h", {})
            if not (
                _numbers(part.get("c", {})) and _numbers(part.get("g", {})) and _numbers(hists, width=len(HIST_KEYS))
            ):
                return "stats: values of another shape"
            continue
        families = part.get("f", {})
        if not isinstance(part.get("o", 0), (int, float)) or not isinstance(families, dict):
            return f"{kind}: not a registry's"
        for name, family in families.items():
            if (
                not isinstance(family, dict)
                or family.get("t") not in ("counter", "gauge", "histogram")
                or not isinstance(family.get("h"), str)
                or not isinstance(family.get("le"), list)
                or not all(isinstance(b, str) for b in family["le"])
                or not isinstance(family.get("go"), bool)
                # a histogram's series: its buckets (one more than its bounds: +Inf), sum and count
                or not _numbers(family.get("s"), width=len(family["le"]) + 3 if family["t"] == "histogram" else 0)
            ):
                return f"{kind}: family {name} of another shape"
    return ""


def _proc() -> Doc:
    """This process's figures the merged views show per live worker."""
    import threading

    stats = gc.get_stats()
    return {
        "rss": rss_bytes(),
        "gc": [[s["collected"], s["collections"]] for s in stats],
        "threads": threading.active_count(),
    }


# -- parts: what one registry contributes, and their sums ------------------------------------------


def prom_part(registry: Registry) -> Doc:
    """A Prometheus registry's series: ``{"f": {name: family}, "o": overflow}``, each family
    ``{"t": kind, "h": help, "le": bound texts, "go": Go's number format, "s": {labels: value}}``
    where a histogram's value is its (non-cumulative) buckets, then sum and count."""
    out: Doc = {}
    for _ in prom_steps(registry, out):
        pass
    return out


def prom_steps(registry: Registry, out: Doc, size: int = STEP_SERIES) -> Iterator[None]:
    """:func:`prom_part` into ``out``, pausing (``yield``) after the request path's rows are fed
    and after every ``size`` series: the tick's snapshot of 1,900 series held the loop 3.08 ms in
    one step, every second in every worker (2026-12-02)."""
    for steps in registry.feed_steps:  # the request path's rows, a few series at a time
        yield from steps()
    families: Doc = {}
    out["f"] = families
    done = 0
    for family in list(registry.families()):
        if not len(family):
            continue
        number = family.fmt_number
        series: Doc = {}
        families[family.prometheus_name()] = {
            "t": family.kind,
            "h": family.help,
            "le": [number(b) for b in family.buckets] if family.kind == "histogram" else [],
            "go": number is not Family.fmt_number,
            "s": series,
        }
        for _, s in list(family.items()):  # a request between two steps may add a series
            if isinstance(s, Histogram):
                s.fold()
                series[s.labels] = [*s.buckets, s.sum, s.count]
            else:
                series[s.labels] = s.value
            done += 1
            if done % size == 0:
                yield
    out["o"] = registry.overflow.value


def stats_part(stats: StatsRegistry) -> Doc:
    """The ``/__stats`` collector: cumulative counters ``c``, window gauges ``g``, window histograms ``h``."""
    return StatsPart(stats)()


class StatsPart:
    """:func:`stats_part` of one collector, in steps: a window histogram's summary sorts its
    reservoir and sums its squares (~0.3 ms for 1,028 values on this VM: 100 full histograms held
    the loop ~30 ms in one go, 2026-12-02), so each is a step of its own, and one that did not
    change since the last snapshot (no new value in the same window) is not summarized again. And
    summaries are made again at most every :data:`SUMMARY_PERIOD` within a window: 100 histograms
    with new values every second cost ~34 ms of CPU a tick, 3.4 % of a core (2026-12-02)."""

    def __init__(self, stats: StatsRegistry) -> None:
        self.stats = stats
        #: key → (histogram, window, count, summary) of the last snapshot
        self._cache: dict[str, tuple[StatsHistogram, int, int, list[float]]] = {}
        self._summarized = -SUMMARY_PERIOD

    def __call__(self) -> Doc:
        out: Doc = {}
        for _ in self.steps(out):
            pass
        return out

    def counters(self) -> Doc:
        """The collector's counters alone (what a worker keeps of a closed configuration)."""
        self.stats.feed()
        return {"c": dict(self.stats.counters)}

    def steps(self, out: Doc) -> Iterator[None]:
        """The part into ``out``: one capture of the collector (its rows fed in steps, then its
        counters, gauges and reservoirs taken in one step: :meth:`StatsRegistry.capture_steps`),
        summarized a window histogram a step."""
        capture = yield from self.stats.capture_steps()
        counters: dict[str, int] = {}
        gauges: dict[str, float] = {
            "krakend.router.connected": capture.connected,
            "krakend.router.disconnected": capture.disconnected,
        }
        for key, value in capture.counters.items():
            if key.endswith("-gauge"):
                gauges[key] = value
            else:
                counters[key] = value
        histograms: Doc = {}
        out.update(c=counters, g=gauges, h=histograms)
        cache = self._cache
        now = monotonic()
        due = now - self._summarized >= SUMMARY_PERIOD
        if due:
            self._summarized = now
        window = capture.windows
        for key, histogram, values, count in capture.histograms:
            cached = cache.get(key)
            if (
                cached is not None
                and cached[0] is histogram
                and cached[1] == window
                and (not due or cached[2] == count)
            ):
                histograms[key] = cached[3]
                continue
            summary: Doc = {}
            summarize(key, values, count, summary)
            histograms[key] = found = [summary[key + suffix] for suffix in HIST_KEYS]
            cache[key] = (histogram, window, count, found)
            yield


def _add(parts: dict[str, Doc], kind: str, part: Doc, *, live: bool) -> None:
    for _ in _add_steps(parts, kind, part, live=live):
        pass


def _add_steps(parts: dict[str, Doc], kind: str, part: Doc, *, live: bool, size: int = STEP_SERIES) -> Iterator[None]:
    into = parts.get(kind)
    if into is None:
        into = parts[kind] = {}
    if kind == "stats":
        add_stats(into, part, live=live)
    else:
        yield from add_prom(into, part, live=live, size=size)


def add_prom(into: Doc, part: Doc, *, live: bool, size: int = STEP_SERIES) -> Iterator[None]:
    """Add ``part`` to ``into`` (both :func:`prom_part`'s shape), pausing (``yield``) after each
    family and every ``size`` series: a family of 1,900 histogram series took ~2 ms in one step.
    Gauges only when ``live``."""
    families: Doc = into.setdefault("f", {})
    into["o"] = into.get("o", 0) + part.get("o", 0)
    done = 0
    # no copies of the items: ``part`` is a snapshot's own or a worker's base, which a reload replaces
    # and never changes in place (:meth:`Publisher.add`)
    for name, family in part.get("f", {}).items():
        if family["t"] == "gauge" and not live:
            continue
        mine = families.get(name)
        if mine is None:
            mine = families[name] = {**family, "s": {}}
        series: Doc = mine["s"]
        for labels, value in family["s"].items():
            found = series.get(labels)
            if found is None:
                series[labels] = list(value) if isinstance(value, list) else value
            elif isinstance(found, list):
                if len(found) == len(value):  # the same buckets (a reload may change them: then the first wins)
                    series[labels] = [a + b for a, b in zip(found, value, strict=True)]
            else:
                series[labels] = found + value
            done += 1
            if done % size == 0:
                yield
        yield


#: a merged file's name, its stamp
_MERGED: Final = re.compile(re.escape(RETIRED) + r"merged-(\d+)\.json")
_LABEL = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)="(?:[^"\\]|\\.)*"')


def _cap(part: Doc, limit: int = MAX_SERIES) -> None:
    """Hold each family of ``part`` (:func:`prom_part`'s shape) to ``limit`` series as a registry
    does: the first ones kept, the others folded into the ``__other__`` series and counted in the
    overflow. A worker's base after reloads of 2,500 routes each: 10,001 series after five, every
    tick's file and every scrape (2026-12-02); now 2,001."""
    folded = 0
    for family in part.get("f", {}).values():
        series: Doc = family["s"]
        if len(series) <= limit:
            continue
        items = list(series.items())
        other = ",".join(f'{name}="{OVERFLOW}"' for name in _LABEL.findall(items[0][0]))
        kept = dict(items[:limit])
        for labels, value in items[limit:]:
            found = kept.get(other)
            if found is None:
                kept[other] = list(value) if isinstance(value, list) else value
            elif isinstance(found, list):
                if len(found) == len(value):
                    kept[other] = [a + b for a, b in zip(found, value, strict=True)]
            else:
                kept[other] = found + value
            if labels != other:
                folded += 1
        family["s"] = kept
    part["o"] = part.get("o", 0) + folded


#: a ``/__stats`` counter key's family and the part a route makes of it: (prefix, name, rest)
_STATS_FAMILY: Final = re.compile(
    r"(krakend\.router\.response\.)(.+)(\.status\.\d+\.count)"
    r"|(krakend\.proxy\.requests\.layer\.\w+\.name\.)(.+)(\.complete\.(?:true|false)\.error\.(?:true|false))",
    re.S,
)
#: retired routes' counters folded into ``__other__`` keys (this process's, said once)
STATS_FOLDED: list[int] = [0]


def _cap_stats(part: Doc, live: set[str], limit: int = MAX_SERIES) -> None:
    """Hold the kept ``/__stats`` counters to ``limit`` keys per family (the routes' status counts, the
    pipes' and backends' request counts), as :func:`_cap` holds a registry's series: the live gateways' keys
    first (a route still served keeps its count, which never goes down), then the older ones as
    they came; the rest fold into the family's key with the route's name ``__other__`` (status,
    layer and outcome kept: ``krakend.router.response.__other__.status.200.count``). Reloads that
    changed 300 routes each kept every retired route's 8 request keys: 12,001 keys after five."""
    counters: dict[str, int] = part.get("c", {})
    families: dict[str, list[str]] = {}
    for key in counters:
        match = _STATS_FAMILY.fullmatch(key)
        if match is not None and match[2] != OVERFLOW and match[5] != OVERFLOW:
            families.setdefault("response" if match[1] else "requests", []).append(key)
    folded = 0
    for keys in families.values():
        if len(keys) <= limit:
            continue
        ordered = [k for k in keys if k in live] + [k for k in keys if k not in live]
        for key in ordered[limit:]:
            match = _STATS_FAMILY.fullmatch(key)
            assert match is not None
            other = f"{match[1]}{OVERFLOW}{match[3]}" if match[1] else f"{match[4]}{OVERFLOW}{match[6]}"
            counters[other] = counters.get(other, 0) + counters.pop(key)
            folded += 1
    if folded:
        if not STATS_FOLDED[0]:
            log.warning(
                "/__stats: reloads retired more routes than %d a family: the counters of the oldest are kept "
                "as the route __other__", limit,
            )  # fmt: skip
        STATS_FOLDED[0] += folded


def add_stats(into: Doc, part: Doc, *, live: bool) -> None:
    """Add ``part`` to ``into`` (:func:`stats_part`'s shape): counters always, the window's gauges
    and histograms when ``live``."""
    counters: dict[str, int] = into.setdefault("c", {})
    for key, value in part.get("c", {}).items():
        counters[key] = counters.get(key, 0) + value
    gauges: dict[str, float] = into.setdefault("g", {})
    histograms: Doc = into.setdefault("h", {})
    if not live:
        return
    for key, value in part.get("g", {}).items():
        gauges[key] = gauges.get(key, 0) + value
    for key, value in part.get("h", {}).items():
        found = histograms.get(key)
        histograms[key] = value if found is None else _combine(found, value)


def _combine(a: list[float], b: list[float]) -> list[float]:
    """Two windows' summaries as one: counts added, extremes kept, the mean and standard deviation
    pooled exactly, the percentiles weighted by count (an estimate: the reservoirs stay per worker)."""
    na, nb = a[0], b[0]
    if not nb:
        return a
    if not na:
        return b
    n = na + nb
    mean = (a[3] * na + b[3] * nb) / n
    var = (na * (a[4] ** 2 + (a[3] - mean) ** 2) + nb * (b[4] ** 2 + (b[3] - mean) ** 2)) / n
    percentiles = [(x * na + y * nb) / n for x, y in zip(a[5:], b[5:], strict=True)]
    return [n, min(a[1], b[1]), max(a[2], b[2]), mean, var**0.5, *percentiles]


# -- the merged views ----------------------------------------------------------------------------


def render_prom(merged: Doc, out: list[str], extra: str, size: int) -> Iterator[None]:
    """The exposition text of a merged part (as :meth:`Family.render_chunks` writes a registry),
    pausing (``yield``) after every ``size`` series."""
    done = 0
    for name, family in merged.get("f", {}).items():
        series: Doc = family["s"]
        if not series:
            continue
        number = _go_float() if family["go"] else _num
        out.append(f"# HELP {name} {family['h']}".rstrip() + "\n")
        out.append(f"# TYPE {name} {family['t']}\n")
        bounds: list[str] = family["le"]
        for labels, value in series.items():
            done += 1
            if done % size == 0:
                yield
            full = labels + ("," + extra if extra and labels else extra)
            if isinstance(value, list):
                sep = "," if full else ""
                lines = []
                total = 0
                for bound, n in zip(bounds, value, strict=False):
                    total += n
                    lines.append(f'{name}_bucket{{{full}{sep}le="{bound}"}} {total}\n')
                count = value[-1]
                lines.append(f'{name}_bucket{{{full}{sep}le="+Inf"}} {count}\n')
                lines.append(f"{name}_sum{{{full}}} {number(value[-2])}\n{name}_count{{{full}}} {count}\n")
                out.append("".join(lines))
            else:
                out.append(f"{name}{{{full}}} {number(value)}\n")


def _go_float() -> Callable[[float], str]:
    from krakenpy.telemetry.opencensus.views import go_float

    return go_float


def python_text(docs: list[tuple[bool, Doc]]) -> str:
    """``python_gc_*`` per live worker (a ``pid`` label) and ``python_info``."""
    from krakenpy.telemetry.metrics.process import python_text as own

    live = [d for alive, d in docs if alive]
    lines: list[str] = []
    for i, (name, help_) in enumerate(
        (
            ("python_gc_objects_collected_total", "Objects collected during gc"),
            ("python_gc_collections_total", "Number of times this generation was collected"),
        )
    ):
        lines.append(f"# HELP {name} {help_}\n# TYPE {name} counter\n")
        for doc in live:
            for gen, pair in enumerate(doc["proc"]["gc"]):
                lines.append(f'{name}{{generation="{gen}",pid="{doc["pid"]}"}} {float(pair[i])!r}\n')
    info = own()
    lines.append(info[info.index("# HELP python_info") :])
    return "".join(lines)


def expvar_snapshot(docs: list[tuple[bool, Doc]]) -> Doc:
    """The merged ``/__stats`` object: counters summed over every worker, the window's gauges and
    histograms over the live ones, process figures summed over the live ones."""
    out: Doc = {}
    for _ in expvar_steps(docs, out):
        pass
    return out


def expvar_steps(docs: list[tuple[bool, Doc]], out: Doc) -> Iterator[None]:
    """:func:`expvar_snapshot` into ``out``, pausing (``yield``) after each worker's part."""
    import sys

    merged: Doc = {}
    for live, doc in docs:
        part = doc["parts"].get("stats")
        if part is not None:
            add_stats(merged, part, live=live)
            yield
    procs = [d["proc"] for alive, d in docs if alive]
    gcs = sum(sum(c for _, c in p["gc"]) for p in procs)
    out.update(cmdline=list(sys.argv), memstats={"Sys": sum(p["rss"] for p in procs), "NumGC": gcs})
    out.update(merged.get("c", {}))
    out.update(merged.get("g", {}))
    for key in ("connected-total", "disconnected-total", "connected-gauge", "disconnected-gauge"):
        out.setdefault(f"krakend.router.{key}", 0)
    for key, values in merged.get("h", {}).items():
        for suffix, value in zip(HIST_KEYS, values, strict=True):
            out[key + suffix] = value
    out["krakend.service.debug.GCStats.NumGC"] = gcs
    out["krakend.service.runtime.NumThread"] = sum(p["threads"] for p in procs)
