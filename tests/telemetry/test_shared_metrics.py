"""The workers' metric snapshots (:mod:`krakenpy.telemetry.metrics.shared`) on real registries and
real files: the merged exposition of one worker is the registry's own text, counters add up over
live and exited workers, gauges and windows over live ones only, a reload's retired gateway still
counts, and a snapshot renamed between the listing and the read is still read."""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.telemetry.metrics.registry import SIZE_BUCKETS, Registry
from krakenpy.telemetry.metrics.shared import (
    Publisher,
    add_prom,
    expvar_snapshot,
    prom_part,
    render_prom,
    stats_part,
)
from krakenpy.telemetry.metrics.stats import StatsRegistry
from krakenpy.telemetry.opencensus.views import SERVER_VIEWS, ViewFamily

SCOPE = 'otel_scope_name="io.krakend.krakend-otel"'


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


def test_publisher_keeps_a_retired_gateway_and_reads_a_renamed_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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

    other = {"pid": 999_999, "slot": 2, "parts": {"prom:otel": prom_part(_registry())}, "proc": {}}
    (tmp_path / "gone-999999.json").write_bytes(orjson.dumps(other))  # retired after the listing...
    monkeypatch.setattr(os, "listdir", lambda path: ["live-999999.json", ".tmp-5"])  # ...listed as live
    docs = publisher.gather()
    monkeypatch.undo()
    assert [(live, d["pid"]) for live, d in docs] == [(True, os.getpid()), (False, 999_999)]
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
