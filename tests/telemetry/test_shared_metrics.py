"""The workers' metric snapshots (:mod:`krakenpy.telemetry.metrics.shared`) on real registries and
real files: the merged exposition of one worker is the registry's own text, counters add up over
live and exited workers, gauges and windows over live ones only, a reload's retired gateway still
counts, and a snapshot renamed between the listing and the read is still read."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import stat
import statistics
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from krakenpy.server import rundir
from krakenpy.telemetry.metrics import shared, stats
from krakenpy.telemetry.metrics.registry import MAX_SERIES, SIZE_BUCKETS, Registry
from krakenpy.telemetry.metrics.shared import (
    LocalPublisher,
    Publisher,
    StatsPart,
    add_prom,
    expvar_snapshot,
    prom_part,
    render_prom,
    stats_part,
)
from krakenpy.telemetry.metrics.stats import StatsRegistry
from krakenpy.telemetry.opencensus.views import SERVER_VIEWS, ViewFamily
from krakenpy.telemetry.servers import workers_expvar_body, workers_prometheus_body
from krakenpy.telemetry.setup import registry_part, registry_steps

SCOPE = 'otel_scope_name="io.krakend.krakend-otel"'
#: the overflow series of a family with two labels
OTHER2 = 'route="__other__",code="__other__"'


def _registry(scale: int = 1) -> Registry:
    registry = Registry()
    hist = registry.family("http.server.duration", "histogram", ["http.route", "code"], unit="s")
    for i, value in enumerate((0.004, 0.03, 0.2, 7.0, 30.0)):
        hist.histogram(f"/r{i % 2}", "200").add(value * scale)
    sizes = registry.family("body.size", "histogram", ["route"], buckets=SIZE_BUCKETS, unit="By")
    sizes.histogram('/a"b\\').observe(1500.5)
    count = registry.family("requests", "counter", ["route"], help="Requests.")
    count.counter("/a").inc(3 * scale)
    count.counter("/b").inc(0.5)
    registry.family("in.flight", "gauge", ["route"]).counter("/a").inc(2)
    return registry


def _merged(*docs: tuple[bool, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for live, part in docs:
        for _ in add_prom(merged, part, live=live):
            pass
    return merged


def _text(merged: dict[str, Any], extra: str = SCOPE) -> str:
    out: list[str] = []
    for _ in render_prom(merged, out, extra, 2):
        pass
    return "".join(out)


def _families_text(registry: Registry, extra: str = SCOPE) -> str:
    out: list[str] = []
    for family in registry.families():
        family.render(out, extra)
    return "".join(out)


def test_one_snapshot_renders_as_the_registry_does() -> None:
    registry = _registry()
    expected = _families_text(registry)
    part = orjson.loads(orjson.dumps(prom_part(registry)))  # through the file's encoding
    assert _text(_merged((True, part))) == expected
    assert _text(_merged((True, part)), extra="") == _families_text(registry, extra="")


def test_opencensus_views_keep_go_number_format() -> None:
    registry = Registry()
    view = SERVER_VIEWS[3]  # latency: a histogram
    family = registry.add(ViewFamily(view, (), "krakend", registry))
    family.histogram().observe(1234567.0)
    part = orjson.loads(orjson.dumps(prom_part(registry)))
    assert _text(_merged((True, part)), extra="") == _families_text(registry, extra="")
    assert "e+06" in _families_text(registry, extra="")


def test_counters_and_histograms_add_up_gauges_count_live_workers_only() -> None:
    one, two, gone = (orjson.loads(orjson.dumps(prom_part(_registry(k)))) for k in (1, 2, 4))
    merged = _merged((True, one), (True, two), (False, gone))
    families = merged["f"]
    assert families["requests_total"]["s"]['route="/a"'] == 3 + 6 + 12
    assert families["requests_total"]["s"]['route="/b"'] == 1.5
    assert families["in_flight"]["s"]['route="/a"'] == 4  # the exited worker's gauge is not counted
    buckets = families["http_server_duration_seconds"]["s"]['http_route="/r0",code="200"']
    assert buckets[-1] == 9 and sum(buckets[:-2]) == 9  # three values from each of three workers
    assert math.isclose(buckets[-2], (0.004 + 0.2 + 30.0) * 7)
    text = _text(merged)
    assert 'http_server_duration_seconds_count{http_route="/r0",code="200",' + SCOPE + "} 9\n" in text


def _stats(values: list[int], routes: int) -> StatsRegistry:
    stats = StatsRegistry()
    key = stats.counter_key("router.response./x.status.200.count")
    stats.inc(key, routes)
    stats.counters["krakend.router.connected-gauge"] = 5
    histogram = stats.histogram("router.response./x.time")
    for value in values:
        histogram.update(value)
    return stats


def test_stats_windows_pool_exactly_what_they_can() -> None:
    a, b = [10, 20, 30, 40], [100, 300]
    docs = [
        (live, {"pid": pid, "parts": {"stats": stats_part(_stats(values, n))}, "proc": proc})
        for live, pid, values, n, proc in (
            (True, 1, a, 4, {"rss": 10, "gc": [[1, 2]], "threads": 1}),
            (True, 2, b, 2, {"rss": 20, "gc": [[1, 3]], "threads": 2}),
            (False, 3, [1], 7, {"rss": 99, "gc": [[9, 9]], "threads": 9}),
        )
    ]
    out = expvar_snapshot(orjson.loads(orjson.dumps(docs)))
    name = "krakend.router.response./x.time"
    assert out["krakend.router.response./x.status.200.count"] == 13  # the exited worker's too
    assert out["krakend.router.connected-gauge"] == 10  # the live ones' only
    assert out[name + ".count"] == 6
    assert (out[name + ".min"], out[name + ".max"]) == (10.0, 300.0)
    assert math.isclose(out[name + ".mean"], statistics.fmean(a + b))
    assert math.isclose(out[name + ".std-dev"], statistics.pstdev(a + b))
    assert out["memstats"] == {"Sys": 30, "NumGC": 5}
    assert out["krakend.service.runtime.NumThread"] == 3


def test_one_rss_read_for_the_stats_and_the_worker_snapshots() -> None:
    """``/__stats``'s memstats and a worker's snapshot read RSS in one place (``stats.rss_bytes``,
    compiled with the stats module: no monkeypatching, a compiled caller would not see it)."""
    assert vars(shared)["rss_bytes"] is stats.rss_bytes
    rss = stats.rss_bytes()
    assert 1 << 20 < rss < 1 << 40
    for other in (stats._memstats()["Sys"], shared._proc()["rss"]):
        assert abs(other - rss) < 64 << 20  # the same figure, read a moment apart


def test_publisher_keeps_a_retired_gateway_and_reads_a_renamed_snapshot(tmp_path: Path) -> None:
    publisher = Publisher(str(tmp_path), 1)
    assert publisher.write() is None and os.listdir(tmp_path) == []  # nothing to publish: no file
    old, new = _registry(), Registry()
    remove = publisher.add("prom:otel", lambda: prom_part(old))
    publisher.add("prom:otel", lambda: prom_part(new))
    remove()  # the reload's old gateway closed: its counters stay in this worker's sums
    new.family("requests", "counter", ["route"]).counter("/a").inc(1)
    doc = publisher.snapshot()
    assert doc["parts"]["prom:otel"]["f"]["requests_total"]["s"]['route="/a"'] == 4
    assert "in_flight" not in doc["parts"]["prom:otel"]["f"]  # a retired gateway's gauges do not count

    # worker 999999 exits between the listing and the read: the supervisor renamed its file
    proc = {"rss": 0, "gc": [[0, 0]], "threads": 1}
    for pid in (999_998, 999_999):
        other = {"pid": pid, "slot": 2, "parts": {"prom:otel": prom_part(_registry())}, "proc": proc}
        (tmp_path / f"live-{pid}.json").write_bytes(orjson.dumps(other))
    docs: list[tuple[bool, dict[str, Any]]] = []
    steps = publisher.gather_steps(docs)
    next(steps)  # this worker's snapshot written
    next(steps)  # the listing made, live-999998 read
    rundir.retire(str(tmp_path), 999_999)
    for _ in steps:
        pass
    assert [(live, d["pid"]) for live, d in docs] == [(True, os.getpid()), (True, 999_998), (False, 999_999)]
    assert (tmp_path / f"live-{os.getpid()}.json").exists()


def test_stats_summaries_made_again_when_due_or_in_a_new_window(monkeypatch: pytest.MonkeyPatch) -> None:
    from krakenpy.telemetry.metrics import shared

    clock = [100.0]
    monkeypatch.setattr(shared, "monotonic", lambda: clock[0])
    stats = _stats([10, 20], 1)
    part = shared.StatsPart(stats)
    name = "krakend.router.response./x.time"
    assert part()["h"][name][0] == 2
    stats.histograms[name].update(30)
    clock[0] += shared.SUMMARY_PERIOD / 2
    assert part()["h"][name][0] == 2  # changed, not due yet: the last summary
    assert part()["c"]["krakend.router.response./x.status.200.count"] == 1  # counters are always current
    clock[0] += shared.SUMMARY_PERIOD / 2
    assert part()["h"][name][:3] == [3, 10.0, 30.0]  # due
    stats.tick()  # a new window: at once
    stats.histograms[name].update(7)
    clock[0] += 0.1
    assert part()["h"][name][:3] == [1, 7.0, 7.0]


def _requests(docs: list[tuple[bool, dict[str, Any]]]) -> float:
    merged = _merged(*((live, d["parts"]["prom:otel"]) for live, d in docs if "prom:otel" in d["parts"]))
    return float(merged["f"]["requests_total"]["s"]['route="/a"'])


def test_exited_workers_snapshots_compacted_once_and_never_counted_twice(tmp_path: Path) -> None:
    own = Publisher(str(tmp_path), 1)
    registry = _registry()  # /a: 3
    own.add("prom:otel", lambda: prom_part(registry))
    for pid in range(100, 105):  # five restarts' worth of exited workers, 3 each
        (tmp_path / f"gone-{pid}.json").write_bytes(
            orjson.dumps({"pid": pid, "parts": {"prom:otel": prom_part(_registry())}})
        )
    assert _requests(own.gather()) == 18
    left = sorted(p.name for p in tmp_path.glob("gone-*.json"))
    assert len(left) == 1 and left[0].startswith("gone-merged-")
    assert _requests(own.gather()) == 18
    # a compaction that wrote its file and stopped before removing what it merged
    assert "gone-100.json" in orjson.loads((tmp_path / left[0]).read_bytes())["covers"]
    (tmp_path / "gone-100.json").write_bytes(orjson.dumps({"pid": 100, "parts": {"prom:otel": prom_part(_registry())}}))
    assert _requests(own.gather()) == 18


def _snap(pid: int, n: float, *, live: bool = False) -> bytes:
    """A worker's snapshot file: ``requests{route="/a"}`` at ``n``."""
    registry = Registry()
    registry.family("requests", "counter", ["route"]).counter("/a").inc(n)
    doc: dict[str, Any] = {"pid": pid, "slot": 2, "parts": {"prom:otel": prom_part(registry)}}
    if live:
        doc["proc"] = {"rss": 0, "gc": [[0, 0]], "threads": 1}
    return orjson.dumps(doc)


def _publisher(run_dir: Path, n: float = 1) -> tuple[Publisher, Registry]:
    registry = Registry()
    registry.family("requests", "counter", ["route"]).counter("/a").inc(n)
    publisher = Publisher(str(run_dir), 1)
    publisher.add("prom:otel", registry_part(registry))
    return publisher, registry


async def _scrape(publisher: Publisher, registry: Registry) -> float:
    """``requests_total{route="/a"}`` of a ``/metrics`` body, parsed by prometheus_client."""
    body = await workers_prometheus_body(
        publisher, "prom:otel", registry, scope="", target_info="", process=True, runtime=True
    )
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "requests_total":
                return float(sample.value)
    raise AssertionError(body)


def test_a_removed_run_directory_fails_no_scrape_and_is_made_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """systemd-logind's RemoveIPC at logout, a tmp cleaner: the scrape still shows this worker's
    figures, and the next write makes the directory again (private), for the other workers too."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    publisher, registry = _publisher(run_dir)
    (run_dir / "live-999999.json").write_bytes(_snap(999_999, 10, live=True))
    assert asyncio.run(_scrape(publisher, registry)) == 11
    shutil.rmtree(run_dir)
    with caplog.at_level(logging.WARNING, logger="krakenpy"):
        assert asyncio.run(_scrape(publisher, registry)) == 1
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    assert sorted(os.listdir(run_dir)) == [".lock", f"live-{os.getpid()}.json"]
    assert "made again" in caplog.text
    rundir.remove(str(run_dir))


def test_a_publisher_keeps_ticking_through_a_removed_directory(tmp_path: Path) -> None:
    """Another worker's tick (here a stand-in pid) makes the directory again and goes on."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    other = Publisher(str(run_dir), 2, pid=999_999)
    other.add("prom:otel", lambda: prom_part(_registry()))

    async def run() -> None:
        other.start()
        await asyncio.sleep(shared.PERIOD * 1.3)
        shutil.rmtree(run_dir)
        await asyncio.sleep(shared.PERIOD * 1.3)
        assert other._task is not None and not other._task.done()
        await other.stop()

    asyncio.run(run())
    assert (run_dir / "live-999999.json").exists()
    rundir.remove(str(run_dir))


def test_two_scrapes_during_a_compaction_never_go_down(tmp_path: Path) -> None:
    """The scrape behind listed the files the other one merged away: it lists again."""
    publisher, registry = _publisher(tmp_path)
    for pid in range(100, 105):
        (tmp_path / f"gone-{pid}-1.json").write_bytes(_snap(pid, 10))

    async def both() -> list[float]:
        first = asyncio.ensure_future(_scrape(publisher, registry))
        await asyncio.sleep(0)  # the second one a loop turn later
        second = asyncio.ensure_future(_scrape(publisher, registry))
        return list(await asyncio.gather(first, second))

    assert asyncio.run(both()) == [51, 51]
    assert len(list(tmp_path.glob("gone-*.json"))) == 1


@pytest.mark.parametrize("clock", ["running", "frozen"])
def test_a_reused_pid_is_not_hidden_by_a_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: str
) -> None:
    """Also when the clock reads the same twice (stepped back, coarse, frozen): the later worker's
    snapshot got the name of the first one's, which the merged file lists as merged (400, not 407)."""
    if clock == "frozen":
        monkeypatch.setattr(rundir.time, "time_ns", lambda: 1_800_000_000_000_000_000)
    publisher, registry = _publisher(tmp_path, 0)
    for pid in (10, 11, 12, 13):
        (tmp_path / rundir.live_name(pid)).write_bytes(_snap(pid, 100, live=True))
        rundir.retire(str(tmp_path), pid)
    assert asyncio.run(_scrape(publisher, registry)) == 400  # compacted
    (tmp_path / rundir.live_name(10)).write_bytes(_snap(10, 7, live=True))  # a later worker, the same pid
    rundir.retire(str(tmp_path), 10)
    assert asyncio.run(_scrape(publisher, registry)) == 407


def test_what_a_stopped_compaction_left_is_not_counted_again_by_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction wrote its merged file, then could not remove what it merged (a file error; a
    SIGKILL there leaves the same): the merged file's ``covers`` kept the sums right. The next
    compaction merged that file away with three newer ones, and what it covered, still there,
    counted a second time (40 became 80 in every later scrape)."""
    publisher, registry = _publisher(tmp_path, 0)
    stuck = [f"gone-{pid}-1.json" for pid in (10, 11, 12, 13)]
    for name in stuck:
        (tmp_path / name).write_bytes(_snap(1, 10))
    unlink = os.unlink

    def refused(path: Any, *args: Any, **kwargs: Any) -> None:
        if os.path.basename(str(path)) in stuck:
            raise PermissionError(1, "Operation not permitted", str(path))
        unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refused)
    assert asyncio.run(_scrape(publisher, registry)) == 40  # merged, nothing removed
    (merged,) = tmp_path.glob("gone-merged-*.json")
    assert asyncio.run(_scrape(publisher, registry)) == 40
    for pid in (14, 15, 16):
        (tmp_path / f"gone-{pid}-1.json").write_bytes(_snap(pid, 10))
    assert asyncio.run(_scrape(publisher, registry)) == 70  # the merged file and three: compacted
    assert not merged.exists()
    assert asyncio.run(_scrape(publisher, registry)) == 70
    assert asyncio.run(_scrape(publisher, registry)) == 70


def test_what_a_stopped_compaction_left_is_removed_at_the_next_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files a stopped compaction could not remove stay covered by its merged file, but each
    scrape and each of worker 1's ticks read them all again (five files, four of them for nothing)
    until three more workers exited: the next scrape removes them, under the compaction's lock."""
    publisher, registry = _publisher(tmp_path, 0)
    for pid in (10, 11, 12, 13):
        (tmp_path / f"gone-{pid}-1.json").write_bytes(_snap(pid, 10))
    unlink = os.unlink

    def refused(path: Any, *args: Any, **kwargs: Any) -> None:
        if os.path.basename(str(path)).startswith("gone-"):
            raise PermissionError(1, "Operation not permitted", str(path))
        unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refused)
    assert asyncio.run(_scrape(publisher, registry)) == 40  # merged, nothing removed
    assert len(list(tmp_path.glob("gone-*.json"))) == 5
    assert asyncio.run(_scrape(publisher, registry)) == 40  # and still refused: no harm, no error
    monkeypatch.setattr(os, "unlink", unlink)
    assert asyncio.run(_scrape(publisher, registry)) == 40
    assert [p.name.startswith("gone-merged-") for p in tmp_path.glob("gone-*.json")] == [True]
    assert asyncio.run(_scrape(publisher, registry)) == 40


def test_two_compactions_at_one_clock_reading_keep_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The merged file is named after the wall clock: a clock that reads the same twice (stepped
    back, coarse, frozen) gave the second compaction the name of the first one's file, which it
    was merging. It replaced that file, then removed it as one of its sources: every exited
    worker's counts were gone (70, then 0). And a third one took the name of the first one, merged
    away: the second one, not removed (a file error), lists it as merged (100, then 0)."""
    monkeypatch.setattr(shared, "time_ns", lambda: 1_800_000_000_000_000_000)
    publisher, registry = _publisher(tmp_path, 0)
    for pid in (10, 11, 12, 13):
        (tmp_path / f"gone-{pid}-1.json").write_bytes(_snap(pid, 10))
    assert asyncio.run(_scrape(publisher, registry)) == 40
    for pid in (14, 15, 16):
        (tmp_path / f"gone-{pid}-1.json").write_bytes(_snap(pid, 10))
    assert asyncio.run(_scrape(publisher, registry)) == 70  # compacted again
    assert len(list(tmp_path.glob("gone-*.json"))) == 1
    assert asyncio.run(_scrape(publisher, registry)) == 70
    # once more, the merged file it merges staying (a file error): not under a name that one lists
    (stays,) = (p.name for p in tmp_path.glob("gone-merged-*.json"))
    unlink = os.unlink

    def refused(path: Any, *args: Any, **kwargs: Any) -> None:
        if os.path.basename(str(path)) == stays:
            raise PermissionError(1, "Operation not permitted", str(path))
        unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refused)
    for pid in (17, 18, 19):
        (tmp_path / f"gone-{pid}-1.json").write_bytes(_snap(pid, 10))
    assert asyncio.run(_scrape(publisher, registry)) == 100
    assert len(list(tmp_path.glob("gone-merged-*.json"))) == 2
    assert asyncio.run(_scrape(publisher, registry)) == 100


def test_the_tick_does_not_write_older_counts_over_a_scrapes(tmp_path: Path) -> None:
    """The tick, stepping through due /__stats summaries, finishes after a scrape began later and
    wrote: the file keeps the scrape's counts (what a SIGKILL now would leave)."""
    stats = StatsRegistry()
    key = stats.counter_key("router.response./x.status.200.count")
    for i in range(50):
        stats.histogram(f"router.response./e{i}.time").update(i + 1)
    publisher = Publisher(str(tmp_path), 1)
    part = shared.StatsPart(stats)
    publisher.add("stats", part, part.steps)
    publisher.write()
    for histogram in stats.histograms.values():
        histogram.update(7)  # the next due snapshot summarizes each again: a step each
    part._summarized = -1e9  # due
    stats.inc(key, 10)

    async def run() -> dict[str, Any]:
        async def tick() -> None:
            for _ in publisher.write_steps({}):
                await asyncio.sleep(0)

        ticking = asyncio.ensure_future(tick())
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # a few summaries in
        stats.inc(key, 5)
        shown: dict[str, Any] = orjson.loads(await workers_expvar_body(publisher))
        await ticking
        return shown

    shown = asyncio.run(run())
    assert shown[key] == 15
    on_file = orjson.loads((tmp_path / f"live-{os.getpid()}.json").read_bytes())
    assert on_file["parts"]["stats"]["c"][key] == 15


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("gone-7-1.json", b"{}"),
        ("gone-7-1.json", b'{"pid": 7, "parts": null}'),
        ("gone-7-1.json", b'{"pid": 7, "parts": {"prom:otel": {"f": {"x": {"t": "counter"}}}}}'),
        ("live-7.json", b'{"pid": 7, "slot": 2, "parts": {}}'),  # no process figures
        ("live-7.json", b'{"pid": 7, "parts": {"stats": {"c": {"x": "a"}}}, "proc": {}}'),
        ("live-7.json", b"[]"),
        ("live-7.json", b'{"pid": 7, "slot": 2, "parts": {"st'),  # truncated
    ],
)
def test_a_snapshot_of_another_shape_is_skipped_with_one_warning(
    tmp_path: Path, name: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    publisher, registry = _publisher(tmp_path)
    stats = StatsRegistry()
    part = shared.StatsPart(stats)
    publisher.add("stats", part, part.steps)
    (tmp_path / name).write_bytes(body)
    for pid in range(100, 104):  # and a compaction's worth of exited workers
        (tmp_path / f"gone-{pid}-1.json").write_bytes(_snap(pid, 1))
    with caplog.at_level(logging.WARNING, logger="krakenpy.telemetry"):
        assert asyncio.run(_scrape(publisher, registry)) == 5
        assert asyncio.run(_scrape(publisher, registry)) == 5
        assert b"krakend.router" in asyncio.run(workers_expvar_body(publisher))
    assert caplog.text.count(f"unreadable metrics snapshot {name}") == 1


def test_worker_1s_tick_compacts_without_scrapes(tmp_path: Path) -> None:
    """Nobody scrapes (yet): exited workers' files still stay few; only worker 1's tick does it."""
    for slot in (2, 1):
        publisher = Publisher(str(tmp_path), slot, pid=999_990 + slot)
        publisher.add("prom:otel", lambda: prom_part(_registry()))
        for pid in range(100, 105):
            (tmp_path / f"gone-{pid}-1.json").write_bytes(_snap(pid, 10))

        async def tick(publisher: Publisher = publisher) -> None:
            publisher.start()
            await asyncio.sleep(shared.PERIOD * 1.5)
            await publisher.stop()

        asyncio.run(tick())
        assert len(list(tmp_path.glob("gone-*.json"))) == (5 if slot == 2 else 1)
    assert _requests(Publisher(str(tmp_path), 3).gather()) == 50 + 3 * 2  # and the two stand-ins' 3


def _exited_files(tmp_path: Path, count: int = 16, series: int = 1900) -> None:
    """``count`` exited workers' files of ``series`` histogram series and a counter of 10 each."""
    big = Registry()
    took = big.family("took", "histogram", ["route"], unit="s")
    for i in range(series):
        took.histogram(f"/r{i}").add(0.1)
    big.family("requests", "counter", ["route"]).counter("/a").inc(10)
    body = orjson.dumps({"pid": 1, "parts": {"prom:otel": prom_part(big)}})
    for pid in range(100, 100 + count):
        (tmp_path / f"gone-{pid}-1.json").write_bytes(body)


def test_a_compaction_is_stepped(tmp_path: Path) -> None:
    """Sixteen exited workers' files of 1,900 histogram series: worker 1's tick (or a scrape) merged
    them in one step, 50 to 120 ms of the serving worker's loop (its requests waited). Now a pause
    after each file read and every family or COMPACT_SERIES series (~2 to 12 ms of CPU between two
    turns of the loop, measured; counted here in steps, not timed)."""
    _exited_files(tmp_path)
    publisher = Publisher(str(tmp_path), 1)
    steps = sum(1 for _ in publisher.tidy_steps())
    assert steps >= 16 + 16 * 1900 // shared.COMPACT_SERIES
    assert [p.name.startswith("gone-merged-") for p in tmp_path.glob("gone-*.json")] == [True]
    assert _requests(Publisher(str(tmp_path), 2).gather()) == 160


@pytest.mark.parametrize("scraping", [False, True])
def test_scrapes_during_a_stepped_compaction_count_once(tmp_path: Path, scraping: bool) -> None:
    """The scrapes between a compaction's steps (worker 1's tick, on the loop) count every exited
    worker once."""
    _exited_files(tmp_path)
    publisher, registry = _publisher(tmp_path, 0)  # worker 1: its tick compacts

    async def run() -> list[float]:
        seen: list[float] = []
        done = asyncio.Event()

        async def scrapes() -> None:
            while scraping and not done.is_set():
                seen.append(await _scrape(publisher, registry))
                await asyncio.sleep(0.02)

        publisher.start()
        task = asyncio.ensure_future(scrapes())
        for _ in range(200):
            await asyncio.sleep(0.05)
            if len(list(tmp_path.glob("gone-*.json"))) == 1:
                break
        await asyncio.sleep(0.1)
        done.set()
        await task
        await publisher.stop(last=False)
        return seen

    seen = asyncio.run(run())
    assert [p.name.startswith("gone-merged-") for p in tmp_path.glob("gone-*.json")] == [True]
    assert _requests(Publisher(str(tmp_path), 2).gather()) == 160
    if scraping:
        assert seen and set(seen) == {160}


def test_a_workers_base_holds_the_series_cap_through_reloads(tmp_path: Path) -> None:
    """Five reloads of 2,500 routes each: the retired configurations' series are held to the
    registry's cap, the rest folded into ``__other__`` (counted in the overflow), nothing lost."""
    publisher = Publisher(str(tmp_path), 1)
    for reload in range(5):
        registry = Registry()
        family = registry.family("requests", "counter", ["route"])
        hist = registry.family("took", "histogram", ["route", "code"], unit="s")
        for i in range(2500):
            family.counter(f"/r{reload}-{i}").inc(1)
            if reload == 0 and i < 3:
                hist.histogram(f"/r{i}", "200").add(0.1)
        publisher.add("prom:otel", registry_part(registry))()  # the reload's old gateway closed
    part = publisher.snapshot()["parts"]["prom:otel"]
    series = part["f"]["requests_total"]["s"]
    assert len(series) == MAX_SERIES + 1
    assert series['route="__other__"'] == 5 * 2500 - MAX_SERIES
    assert sum(series.values()) == 5 * 2500
    assert part["o"] == 5 * 2500 - MAX_SERIES
    assert len(part["f"]["took_seconds"]["s"]) == 3  # under the cap: as it was
    other: dict[str, Any] = {"f": {"took": {**part["f"]["took_seconds"]}}, "o": 0}
    shared._cap(other, 2)
    assert list(other["f"]["took"]["s"]) == ['route="/r0",code="200"', 'route="/r1",code="200"', OTHER2]
    assert other["f"]["took"]["s"][OTHER2][-1] == 1 and other["o"] == 1


def test_the_ticks_registry_snapshot_is_stepped(tmp_path: Path) -> None:
    """1,900 series held the loop ~3 ms in one step every second: now a pause every 200 series,
    and the file the same as one step's."""
    registry = Registry()
    family = registry.family("took", "histogram", ["route"], unit="s")
    for i in range(450):
        family.histogram(f"/r{i}").add(0.1)
    publisher = Publisher(str(tmp_path), 1)
    publisher.add("prom:otel", registry_part(registry), registry_steps(registry))
    doc: dict[str, Any] = {}
    assert sum(1 for _ in publisher.write_steps(doc)) >= 450 // shared.STEP_SERIES
    assert doc["parts"]["prom:otel"] == prom_part(registry)
    merged: dict[str, Any] = {}
    assert sum(1 for _ in add_prom(merged, prom_part(registry), live=True)) == 450 // shared.STEP_SERIES + 1
    assert merged == prom_part(registry)


def test_a_reload_closing_a_gateway_during_a_stepped_snapshot(tmp_path: Path) -> None:
    """The base grows (a new family, new series) while a scrape's snapshot pauses in it."""
    publisher = Publisher(str(tmp_path), 1)

    def routes(first: int, count: int, name: str = "requests") -> Registry:
        registry = Registry()
        family = registry.family(name, "counter", ["route"])
        for i in range(first, first + count):
            family.counter(f"/r{i}").inc(1)
        return registry

    publisher.add("prom:otel", registry_part(routes(0, 450)))()
    doc: dict[str, Any] = {}
    steps = publisher.snapshot_steps(doc)
    next(steps)  # paused in the base
    publisher.add("prom:otel", registry_part(routes(450, 300)))()
    publisher.add("prom:otel", registry_part(routes(0, 5, "other")))()
    for _ in steps:
        pass
    assert len(doc["parts"]["prom:otel"]["f"]["requests_total"]["s"]) >= 450
    assert publisher.snapshot()["parts"]["prom:otel"]["f"]["requests_total"]["s"]['route="/r0"'] == 1


def test_a_snapshot_pausing_in_the_base_counts_a_gateway_a_reload_retires_meanwhile() -> None:
    """``run -w 1``, a second reload: a scrape paused in the base (the first gateway's 7) while the
    second gateway (5) was retired; it read 7 once (the old base, then the sources without it), and
    a Prometheus counter went down for one scrape. Now the base and the sources of one moment."""

    def counted(n: int) -> Registry:
        registry = Registry()
        registry.family("requests", "counter", ["route"]).counter("/a").inc(n)
        return registry

    publisher = LocalPublisher(1)
    publisher.add("prom:otel", registry_part(counted(7)))()  # the first reload retired gateway 0
    second = publisher.add("prom:otel", registry_part(counted(5)))
    publisher.add("prom:otel", registry_part(counted(0)))  # the second reload's new gateway

    def total(doc: dict[str, Any]) -> float:
        value: float = doc["parts"]["prom:otel"]["f"]["requests_total"]["s"]['route="/a"']
        return value

    before = publisher.snapshot()
    doc: dict[str, Any] = {}
    steps = publisher.snapshot_steps(doc)
    next(steps)  # paused in the base
    second()  # gateway 1 retired: its counts move into the base
    for _ in steps:
        pass
    assert (total(before), total(doc), total(publisher.snapshot())) == (12, 12, 12)


def test_a_closed_configurations_stats_are_kept_without_summaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reload keeps a /__stats collector's counters only: its window summaries (a sort and a sum
    of squares per histogram, ~33 ms in one step for 100 full ones) were made and thrown away."""
    stats = StatsRegistry()
    key = stats.counter_key("router.response./a.status.200.count")
    stats.inc(key, 7)
    for i in range(100):
        histogram = stats.histogram(f"router.response./r{i}.time")
        for v in range(50):
            histogram.update(v)
    part = StatsPart(stats)
    publisher = LocalPublisher(1)
    remove = publisher.add("stats", part, part.steps, part.counters)

    def summarized(*_: object) -> None:
        raise AssertionError("a summary made for nothing")

    monkeypatch.setattr(shared, "summarize", summarized)
    remove()
    assert publisher.base["stats"]["c"][key] == 7
    assert publisher.snapshot()["parts"]["stats"]["c"][key] == 7
