"""The metric slots: a request appends rows, every read folds them first. The fold's edge cases
through a served gateway (a scrape between two requests, the N-request fold, a reload, a gateway
with no traffic), and the slots' folds against the per-value updates they replaced."""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from krakenpy.backends.conntiming import CallTiming
from krakenpy.telemetry.hub import HUB, Telemetry
from krakenpy.telemetry.layers.record import call_slot
from krakenpy.telemetry.metrics.client_slot import CANCELED, FAILED, TIMEDOUT, ClientSlot, ReadSlot
from krakenpy.telemetry.metrics.instruments import ClientMetrics, ReadMetrics
from krakenpy.telemetry.metrics.registry import SIZE_BUCKETS, TIME_BUCKETS, Histogram, Registry
from krakenpy.telemetry.metrics.slots import CallSlot, EdgeSlot, by_key, count_ns, count_seconds, count_sizes
from krakenpy.telemetry.metrics.stats import StatsRegistry
from krakenpy.telemetry.servers import PROM_LISTENERS, STATS_LISTENER, prometheus_body
from tests.components.telemetry.conftest import Served, doc, recording_app
from tests.components.telemetry.test_otel_connection import CLIENTS, _client, _doc, _prom, cut_backend, gw  # noqa: F401
from tests.conftest import free_port


def _endpoints(base: str) -> list[dict[str, Any]]:
    """One endpoint ``/a`` on backend ``/u`` at ``base``."""
    return [{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/u"}]}]


def _metrics() -> dict[str, Any]:
    return {
        "telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "1h"},
        "telemetry/opentelemetry": {
            "exporters": {"prometheus": [{"name": "p", "port": free_port(), "listen_ip": "127.0.0.1"}]}
        },
    }


async def _scrape(s: Served, *, parse: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """(/metrics parsed by prometheus_client: sample name and labels → value, /__stats); unparsed,
    only ``http_server_duration_count`` summed over its series."""
    prom = s.gateway.resources.state[PROM_LISTENERS][0].bound_port
    stats = s.gateway.resources.state[STATS_LISTENER].bound_port
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{prom}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        async with http.get(f"http://127.0.0.1:{stats}/__stats") as resp:
            assert resp.status == 200
            snapshot = orjson.loads(await resp.text())
    if not parse:
        counts = [line for line in text.splitlines() if line.startswith("http_server_duration_count")]
        return {"http_server_duration_count": sum(float(line.split()[-1]) for line in counts)}, snapshot
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "le")
            if "le" not in sample.labels:
                samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples, snapshot


def _count(samples: dict[str, Any], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = [f"{k}={v}" for k, v in labels.items()]
    return float(sum(v for k, v in samples.items() if k.startswith(name + "{") and all(w in k for w in want)))


async def test_metric_slots_scrape_between_two_requests(served, upstream) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([], {"a": 1}))
    s = await served(doc(_endpoints(base), extra_config=_metrics()))
    for n in (1, 2):
        assert (await s.client.get("/a")).status == 200
        samples, stats = await _scrape(s)
        assert _count(samples, "http_server_duration_count", http_route="/a", http_response_status_code="200") == n
        assert _count(samples, "http_server_response_size_sum", http_route="/a") == n * len(b'{"a":1}')
        assert _count(samples, "krakend_proxy_duration_count", complete="true", error="false") == n
        assert _count(samples, "krakend_backend_duration_count", complete="true", error="false") == n
        assert _count(samples, "http_client_duration_count", http_response_status_code="200") == n
        assert _count(samples, "http_client_request_started_count_total") == n
        assert _count(samples, "http_client_request_get_conn_duration_count") == n
        assert _count(samples, "http_client_response_read_size_hist_count", error="false") == n
        assert stats["krakend.router.response./a.status.200.count"] == n
        assert stats["krakend.router.response./a.time.count"] == n  # this window's
        assert stats["krakend.proxy.requests.layer.pipe.name./a.complete.true.error.false"] == n
        assert stats["krakend.proxy.requests.layer.backend.name./u.complete.true.error.false"] == n
    # an unmatched request keeps its per-status route label (and no /__stats route keys)
    assert (await s.client.get("/nowhere")).status == 404
    samples, stats = await _scrape(s)
    assert _count(samples, "http_server_duration_count", http_route="404 Not Found") == 1
    assert not any("nowhere" in k for k in stats)


async def test_metric_slots_fold_every_n_requests_without_a_read(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from krakenpy.telemetry.layers import edge_metered

    monkeypatch.setattr(edge_metered, "FOLD_EVERY", 4)
    base = await upstream(recording_app([], {"a": 1}))
    s = await served(doc(_endpoints(base), extra_config=_metrics()))
    hub = s.gateway.resources.state[HUB]

    def counted() -> set[int]:
        """The used histograms' counted values, read without a fold (no ``families()``; the proxy and
        backend layers' series of other outcomes exist from start-up and stay empty)."""
        families = hub.registry._families.values()
        return {h.count for f in families if f.kind == "histogram" for h in f._series.values()} - {0}

    for _ in range(4):
        await s.client.get("/a")
    assert counted() == {4}  # every slot folded at the 4th request, no read in between
    assert {h.count for h in hub.stats.histograms.values()} - {0} == {4}
    await s.client.get("/a")
    assert counted() == {4}  # the 5th waits in the slots
    samples, _ = await _scrape(s)  # until a read
    assert _count(samples, "http_server_duration_count") == 5
    assert counted() == {5}


async def test_metric_slots_reload_keeps_gateways_apart(served, upstream) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([], {"a": 1}))
    endpoints = [{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/u"}]}]
    old = await served(doc(endpoints, extra_config=_metrics()))
    for _ in range(2):
        await old.client.get("/a")
    # a reload builds the new gateway beside the old one (which finishes its requests): its own slots
    new = await served(doc(endpoints, extra_config=_metrics()))
    await new.client.get("/a")
    await old.client.get("/a")
    old_samples, old_stats = await _scrape(old)
    new_samples, new_stats = await _scrape(new)
    assert _count(old_samples, "http_server_duration_count") == 3
    assert _count(new_samples, "http_server_duration_count") == 1
    assert old_stats["krakend.router.response./a.status.200.count"] == 3
    assert new_stats["krakend.router.response./a.status.200.count"] == 1


async def test_metric_slots_gateway_without_traffic(served, upstream) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([]))
    s = await served(doc(_endpoints(base), extra_config=_metrics()))
    hub = s.gateway.resources.state[HUB]
    hub.fold_metrics()
    hub.stats.tick()
    samples, stats = await _scrape(s)
    assert not any(k.startswith(("http_server", "http_client_duration", "http_client_request")) for k in samples)
    # the proxy and backend layers' OTel series are made when an outcome is first observed (as
    # krakend-otel's instruments record them): none before traffic
    assert not any(
        k.startswith(("krakend_proxy_duration", "krakend_backend_duration", "http_client_response_read"))
        for k in samples
    )
    # the proxy and backend /__stats keys are registered at start-up (zero: krakend-metrics), the router's on first use
    assert stats["krakend.proxy.requests.layer.pipe.name./a.complete.true.error.false"] == 0
    assert not any(k.startswith("krakend.router.response.") for k in stats)
    assert (await s.client.get("/a")).status == 200
    hub.fold_metrics()
    samples, _ = await _scrape(s)
    # one request: the outcome it had, and only that one (no zero series of the seven others)
    for family in ("krakend_proxy_duration_count", "krakend_backend_duration_count"):
        made = [k for k in samples if k.startswith(family + "{")]
        assert len(made) == 1 and "complete=true" in made[0] and "error=false" in made[0], made
        assert _count(samples, family) == 1
    # the backend's body read: its series (successful reads) made by the same fold
    assert _count(samples, "http_client_response_read_size_hist_count", error="false") == 1
    assert not any(k.startswith("http_client_response_read") and "error=true" in k for k in samples)


def test_metric_slots_groups_keep_arrival_order() -> None:
    keys, letters, numbers = [1, 2, 1, 3, 2], ["a", "b", "c", "d", "e"], [10, 20, 30, 40, 50]
    assert dict(by_key(keys, letters, numbers)) == {
        1: (["a", "c"], [10, 30]), 2: (["b", "e"], [20, 50]), 3: (["d"], [40])
    }  # fmt: skip
    same = ["a", "b"]
    ((key, (group,)),) = by_key([(1, 2), (1, 2)], same)
    assert key == (1, 2) and group is same  # one key for all: the column itself, nothing split


def test_metric_slots_edge_fold_equals_per_value_updates() -> None:
    """The fold gives the series the per-request updates gave: the same buckets, counts and float sums."""
    from krakenpy.telemetry.layers.edge import route_label
    from krakenpy.telemetry.metrics.instruments import ServerMetrics

    registry = Registry()
    server = ServerMetrics(registry)
    stats = StatsRegistry()
    slot = EdgeSlot(server, stats, route_label)
    nss = [123_456_789, 7_000_001, 250_000_333, 3, 99_999_999_999, 41_000_017]
    expected = Histogram("", registry.family("x", "histogram", ["k"]).buckets)
    for i, ns in enumerate(nss):
        status = 200 if i % 3 else 500
        slot.record("/u/{id}", "GET", "http", status, ns, 10 + i, True)
        if status == 200:
            expected.observe(ns * 1e-9)
    slot.record(None, "GET", "http", 404, 5_000, 9, True)
    slot.record("/u/{id}", "GET", "http", 200, 1, 1, False)  # a path OTel skips: /__stats only
    slot.drain()
    assert slot.keys == slot.ns == slot.sizes == []
    time, size = server.recorder("/u/:id", "GET").series(200)
    time.fold()
    assert (time.buckets, time.count, time.sum) == (expected.buckets, expected.count, expected.sum)
    size.fold()
    assert size.count == 4 and size.sum == 11 + 12 + 14 + 15
    assert _same(server.recorder("404 Not Found", "GET").series(404)[0], [5_000 * 1e-9])
    assert stats.counters["krakend.router.response./u/:id.status.200.count"] == 5
    assert stats.counters["krakend.router.response./u/:id.status.500.count"] == 2
    assert stats.counters["krakend.router.response./u/:id.status"] == 0
    assert not any("404" in k for k in stats.counters)
    # a route's window takes its statuses' rows a group at a time (a uniform sample: order is no matter)
    assert sorted(stats.histogram("router.response./u/:id.time").pending) == sorted([*nss, 1])


def test_metric_slots_count_as_per_value_updates() -> None:
    """The drains count a column straight into its histogram: the buckets of ``bisect_left`` on the
    float values (a value on a bound in that bound's bucket, one above the last in the overflow
    bucket, the first bucket's values and the others in any mix), the float sum in arrival order
    (after the values the histogram still queued) and the count, as observing each value did."""
    ns = [10_000_000, 10_000_001, 9_999_999, 0, 1, 75_000_000, 3_500_000_000, 10_000_000_000]
    ns += [10_000_000_001, 123_456_789_012, 987_654_321, 150_000_000, 149_999_999, 1_000_000_000]
    seconds = [n * 1e-9 for n in ns] + [0.3, 0.35, 0.349999, 2.0, 5.0, 10.0, 10.5, 1e-12, 0.0]
    sizes = [0, 1, 127, 128, 129, 256, 1 << 20, (1 << 20) + 1, 64 << 20, (64 << 20) + 1, 10**12, 500]
    for count, values, bounds in (
        (count_ns, ns, TIME_BUCKETS), (count_seconds, seconds, TIME_BUCKETS), (count_sizes, sizes, SIZE_BUCKETS),
    ):  # fmt: skip
        floats = [n * 1e-9 for n in values] if count is count_ns else values
        expected = Histogram("", bounds)
        got = Histogram("", bounds)
        expected.observe(0.123456789)
        got.add(0.123456789)  # queued before the column: added to the sum first
        for value in floats:
            expected.observe(value)
        count(got, values)  # type: ignore[operator]
        assert got.pending == []
        assert (got.buckets, got.count, got.sum) == (expected.buckets, expected.count, expected.sum)
        assert sum(got.buckets[1:-1]) and got.buckets[0] and got.buckets[-1]  # every kind of bucket seen
        count(got, [])  # type: ignore[operator]
        assert (got.buckets, got.count, got.sum) == (expected.buckets, expected.count, expected.sum)


def test_metric_slots_edge_key_reused_while_it_repeats() -> None:
    """The edge's key tuple is one object while route, method, scheme, status and the OTel flag
    repeat, a new one as soon as any of them changes (and again when it changes back); each
    request's values land in the series of its own key."""
    from krakenpy.telemetry.layers.edge import route_label
    from krakenpy.telemetry.metrics.instruments import ServerMetrics

    server = ServerMetrics(Registry())
    stats = StatsRegistry()
    slot = EdgeSlot(server, stats, route_label)
    calls = [
        ("/a", "GET", "http", 200, True), ("/a", "GET", "http", 200, True), ("/a", "GET", "http", 500, True),
        ("/b", "GET", "http", 500, True), ("/b", "POST", "http", 500, True), ("/b", "POST", "https", 500, True),
        ("/b", "POST", "https", 500, False), (None, "POST", "https", 500, False), ("/a", "GET", "http", 200, True),
    ]  # fmt: skip
    for i, (route, method, scheme, status, otel) in enumerate(calls):
        # a fresh string each time: equal values reuse the key, not only the same objects
        slot.record(route, "".join(method), scheme, status, 1_000 * (i + 1), i, otel)
    keys = slot.keys
    assert keys == [(route, method, scheme, status, otel) for route, method, scheme, status, otel in calls]
    assert keys[1] is keys[0] and len({id(k) for k in keys[1:]}) == len(calls) - 1
    slot.drain()
    assert _same(server.recorder("/a", "GET").series(200)[0], [n * 1e-9 for n in (1_000, 2_000, 9_000)])
    assert _same(server.recorder("/a", "GET").series(500)[0], [3_000 * 1e-9])
    assert _same(server.recorder("/b", "GET").series(500)[0], [4_000 * 1e-9])
    assert _same(server.recorder("/b", "POST").series(500)[0], [5_000 * 1e-9])
    assert _same(server.recorder("/b", "POST", "https").series(500)[1], [5])  # the size; OTel off after it
    assert stats.counters["krakend.router.response./b.status.500.count"] == 4
    assert stats.counters["krakend.router.response./a.status.200.count"] == 3
    assert sorted(stats.histogram("router.response./b.time").pending) == [4_000, 5_000, 6_000, 7_000]
    # the same key after the fold: the one kept, no tuple made
    before = slot._key
    slot.record("/a", "GET", "http", 200, 1, 1, True)
    assert slot.keys[0] is before


def test_metric_slots_call_slot_outcomes() -> None:
    registry = Registry()
    family = registry.family("d", "histogram", ["e", "c", "k"])
    otel = {(e, c, k): family.histogram(str(e), str(c), str(k)) for e in (0, 1) for c in (0, 1) for k in (0, 1)}
    stats = StatsRegistry()
    keys = {(k, e): (stats.counter_key(f"c.{k}.{e}"), stats.histogram(f"l.{k}.{e}")) for k in (0, 1) for e in (0, 1)}
    slot = CallSlot(otel, stats, keys)  # type: ignore[arg-type]
    slot.add[0 * 4 + 0 * 2 + 1](5)  # complete
    slot.add[1 * 4 + 1 * 2 + 0](7)  # canceled (an error)
    slot.add[1 * 4 + 0 * 2 + 0](9)  # failed
    slot.add[0 * 4 + 0 * 2 + 1](11)
    slot.drain()
    assert _same(otel[(0, 0, 1)], [5 * 1e-9, 11 * 1e-9])  # the seconds the layer computed before
    assert _same(otel[(1, 1, 0)], [7 * 1e-9]) and _same(otel[(1, 0, 0)], [9 * 1e-9])
    assert stats.counters == {"krakend.c.1.0": 2, "krakend.c.0.1": 2, "krakend.c.0.0": 0, "krakend.c.1.1": 0}
    assert sorted(stats.histogram("l.0.1").pending) == [7, 9]
    assert all(not values for values in slot.lists)


def test_metric_slots_call_slot_lists_are_the_slots() -> None:
    """``call_slot`` hands the layers the slot's own per-outcome lists (they append to them): rows
    appended there are the hub's fold's, by outcome, and leave the lists empty."""
    hub = Telemetry()
    hub.registry = Registry()
    hub.stats = StatsRegistry()
    family = hub.registry.family("d", "histogram", ["e", "c", "k"])
    otel = {(e, c, k): family.histogram(str(e), str(c), str(k)) for e in (0, 1) for c in (0, 1) for k in (0, 1)}
    stats = hub.stats
    keys = {(k, e): (stats.counter_key(f"c.{k}.{e}"), stats.histogram(f"l.{k}.{e}")) for k in (0, 1) for e in (0, 1)}
    adds = call_slot(hub, otel, stats, keys)
    assert len(adds) == 8
    adds[0 * 4 + 0 * 2 + 1].append(5)  # complete
    adds[1 * 4 + 1 * 2 + 0].append(7)  # canceled (an error)
    adds[0 * 4 + 0 * 2 + 1].append(11)
    hub.fold_metrics()
    assert _same(otel[(0, 0, 1)], [5 * 1e-9, 11 * 1e-9]) and _same(otel[(1, 1, 0)], [7 * 1e-9])
    assert stats.counters == {"krakend.c.1.0": 2, "krakend.c.0.1": 1, "krakend.c.0.0": 0, "krakend.c.1.1": 0}
    assert all(not values for values in adds)
    assert call_slot(hub, None, None, keys) == ()  # nothing on: no slot, nothing for the layers to append


def test_metric_slots_client_rows() -> None:
    registry = Registry()
    metrics = ClientMetrics(registry, detailed=True)
    slot = ClientSlot(metrics, ("GET", "/u", "/a", "GET", "/u", "h", "80"))
    dialled, kept, odd = (0.5, 0.1, 0.2), (0.0, 0.0, 0.0), (0.0, 0.3, 0.0)
    # odd: no connection obtained but a DNS time: recorded as zero, as the per-call update did
    slot.record(200, 0.01, 7, 3, 0, *dialled)
    slot.record(200, 0.02, 7, 0, 0, *kept)
    slot.record(0, 0.03, 0, 4, CANCELED, *odd)
    slot.record(0, 0.04, 0, 0, TIMEDOUT, *kept)
    slot.record(0, 0.05, 0, 0, FAILED, *kept)
    assert slot.size() == 5
    slot.drain()
    assert slot.size() == 0
    assert (slot.started.value, slot.request_size.value) == (5, 7)
    # krakend-otel: a timed-out call counts in failed too, a canceled one does not
    assert (slot.canceled.value, slot.timedout.value, slot.failed.value) == (1, 1, 2)
    duration, size, connection = slot.by_status[200]
    assert _same(duration, [0.01, 0.02]) and _same(size, [7, 7])
    # the dialled call's times counted, the kept-alive call's zeros in the first bucket, none queued
    assert connection is not None and [h.pending for h in connection] == [[], [], []]
    assert [(h.count, h.sum) for h in connection] == [(2, 0.5), (2, 0.1), (2, 0.2)]
    failed = slot.by_status[0][2]
    assert failed is not None and [h.pending for h in failed] == [[], [], []]
    assert [(h.count, h.buckets[0], h.sum) for h in failed] == [(3, 3, 0.0)] * 3
    assert [h.buckets for h in connection] == [_observed(connection[0].bounds, value) for value in (0.5, 0.1, 0.2)]
    # the totals start again from zero after a fold
    slot.record(200, 0.06, 7, 5, FAILED, *kept)
    slot.drain()
    assert (slot.started.value, slot.request_size.value) == (6, 12)
    assert (slot.canceled.value, slot.timedout.value, slot.failed.value) == (1, 1, 3)
    assert _same(duration, [0.01, 0.02, 0.06])
    assert connection[0].count == 3 and connection[0].sum == 0.5


def _same(histogram: Histogram, values: list[float]) -> bool:
    """Whether ``histogram`` counted what observing ``values`` one at a time, in this order, counts
    (the per-request update the slots replaced): the same buckets, count and float sum."""
    expected = Histogram("", histogram.bounds)
    for value in values:
        expected.observe(value)
    histogram.fold()
    return (histogram.buckets, histogram.count, histogram.sum) == (expected.buckets, expected.count, expected.sum)


def _observed(bounds: tuple[float, ...], value: float) -> list[int]:
    """A histogram's buckets after observing ``value`` and 0.0 one at a time (the per-call update)."""
    expected = Histogram("", bounds)
    expected.observe(value)
    expected.observe(0.0)
    return expected.buckets


def test_metric_slots_client_rows_without_detailed_connection() -> None:
    """Without ``detailed_connection`` no connection column is kept, the series have none."""
    metrics = ClientMetrics(Registry(), detailed=False)
    slot = ClientSlot(metrics, ("GET", "/u", "/a", "GET", "/u", "h", "80"))
    slot.record(200, 0.01, 7, 3, 0, 0.5, 0.1, 0.2)
    slot.record(404, 0.02, 9, 0, 0, 0.0, 0.0, 0.0)
    assert slot.dialled == slot.get_conn == slot.dns == slot.tls == []
    slot.drain()
    assert _same(slot.by_status[200][0], [0.01]) and _same(slot.by_status[404][1], [9])
    assert slot.by_status[200][2] is None and slot.request_size.value == 3


def test_metric_slots_read_rows() -> None:
    registry = Registry()
    reads = ReadMetrics(registry)
    slot = ReadSlot(reads, ("GET", "/u", "/a", "GET"))
    # (head, read end, size, failed, bytes read)
    slot.record(1.0, 1.25, 100, False, 100)
    slot.record(2.0, 1.5, 50, False, 50)  # an end before the head (clock readings of two parts): 0
    assert slot.size() == 2
    slot.drain()
    values = {f.name: [s for _, s in f.items()] for f in registry.families()}
    size, size_hist, seconds, time_hist, _ = reads.series(("GET", "/u", "/a", "GET"), False)
    assert size.value == 150 and _same(size_hist, [100, 50])
    assert seconds.value == 0.25 and _same(time_hist, [0.25, 0.0])
    slot.record(1.0, 1.25, 10, False, 10)
    slot.record(3.0, 3.5, 999, True, 40)  # a failed read: its size is what came (read_size)
    slot.record(4.0, 4.25, 999, True, -1)  # a failed read that counted nothing: 0 bytes
    slot.drain()
    assert slot.size() == 0
    assert size.value == 160 and seconds.value == 0.5
    errors = reads.series(("GET", "/u", "/a", "GET"), True)
    assert errors[0].value == 40 and errors[2].value == 0.75 and errors[4].value == 2
    assert _same(errors[1], [40, 0]) and _same(errors[3], [0.5, 0.25])
    assert "http.client.response.read.errors" in values


def test_metric_slots_drain_with_a_threshold_leaves_small_slots() -> None:
    """The folder's tick folds a slot once it holds ``least`` rows; a read folds every slot."""
    from krakenpy.telemetry.metrics.slots import Slots

    stats = StatsRegistry()
    keys = {(k, e): (stats.counter_key(f"c.{k}.{e}"), stats.histogram(f"l.{k}.{e}")) for k in (0, 1) for e in (0, 1)}
    few, many = CallSlot(None, stats, keys), CallSlot(None, stats, keys)  # type: ignore[arg-type]
    slots = Slots()
    for slot in (few, many):
        slots.register(slot.drain, slot.size)
    stats.feeders.append(slots.drain)
    few.add[1](1)
    for n in range(3):
        many.add[1](n)
    slots.drain(3)
    assert (few.size(), many.size()) == (1, 0) and stats.counters["krakend.c.1.0"] == 3
    assert stats.snapshot()["krakend.c.1.0"] == 4 and few.size() == 0


@pytest.mark.parametrize("kind", CLIENTS)
async def test_metric_slots_failed_read_rows_hold_no_exception(gw, cut_backend, kind: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A queued row waits for the next fold: it must not keep the call's exception (whose traceback
    holds the call's frames: partial bodies, the request body) nor anything but numbers alive."""
    otel = _prom()
    otel["layers"] = {"backend": {"metrics": {"round_trip": True, "detailed_connection": True, "read_payload": True}}}
    g = await gw(_doc(f"http://127.0.0.1:{cut_backend}", otel, cut=f"http://127.0.0.1:{cut_backend}"), _client(kind))
    assert (await g.client.get("/cut")).status >= 500
    gc.collect()
    reads = [o for o in gc.get_objects() if isinstance(o, ReadSlot)]
    clients = [o for o in gc.get_objects() if isinstance(o, ClientSlot)]
    # one failed read queued, no answered one
    assert [(slot.size(), len(slot.failed_seconds), slot.seconds) for slot in reads if slot.size()] == [(1, 1, [])]
    assert sum(slot.size() for slot in clients) == 1
    # numbers only (a queued exception's traceback would hold the call's frames until the fold)
    columns = [c for r in reads for c in (r.seconds, r.sizes, r.failed_seconds, r.failed_sizes)]
    columns += [c for s in clients for c in (s.statuses, s.seconds, s.sizes, s.get_conn, s.dns, s.tls)]
    assert all(type(v) in (int, float) for column in columns for v in column)
    # nothing keeps the call's timing alive until the fold
    assert not [o for o in gc.get_objects() if isinstance(o, CallTiming)]


def _edge_slot(s: Served) -> EdgeSlot:
    """The served gateway's edge slot."""
    hub = s.gateway.resources.state[HUB]
    (edge,) = [o for o in gc.get_objects() if isinstance(o, EdgeSlot) and o._stats is hub.stats]
    return edge


async def _many_routes(served: Any, upstream: Any, n: int = 80) -> Served:
    """A gateway that served one request on each of ``n`` endpoints (``n`` edge series: a stepped
    fold pauses every 32)."""
    base = await upstream(recording_app([], {"a": 1}))
    endpoints = [{"endpoint": f"/e{i}", "backend": [{"host": [base], "url_pattern": "/u"}]} for i in range(n)]
    s: Served = await served(doc(endpoints, extra_config=_metrics()))
    for i in range(n):
        assert (await s.client.get(f"/e{i}")).status == 200
    return s


async def _served_counts(s: Served) -> tuple[float, int]:
    """(``http_server_duration_count`` summed over ``/metrics``, the ``/__stats`` status counters
    summed), read without prometheus_client's parser (seconds for 80 routes' buckets)."""
    samples, stats = await _scrape(s, parse=False)
    return samples["http_server_duration_count"], sum(
        v for k, v in stats.items() if k.startswith("krakend.router.response.") and ".status." in k
    )


async def _paused_scrape(s: Served) -> asyncio.Future[bytes]:
    """A scrape started and run until its stepped fold has taken the edge rows and paused."""
    hub = s.gateway.resources.state[HUB]
    edge = _edge_slot(s)
    assert hub.registry is not None
    task = asyncio.ensure_future(prometheus_body(hub.registry, scope="", target_info="", process=False, runtime=False))
    for _ in range(10_000):
        await asyncio.sleep(0)
        if not edge.keys:
            break
    assert not edge.keys and not task.done()
    return task


async def test_metric_slots_cancelled_scrape_loses_no_rows(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """A scrape cancelled while its fold pauses (the side listener cancels the handler when the
    scraper goes: a scrape_timeout) leaves the rows it had not folded on the slot."""
    s = await _many_routes(served, upstream)
    task = await _paused_scrape(s)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _served_counts(s) == (80, 80)


async def test_metric_slots_read_during_a_paused_fold_sees_every_row(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """``/__stats`` read while a scrape's fold pauses counts the rows that fold took, and so does the scrape."""
    s = await _many_routes(served, upstream)
    hub = s.gateway.resources.state[HUB]
    task = await _paused_scrape(s)
    assert hub.stats is not None
    snapshot = hub.stats.snapshot()
    text = (await task).decode()
    assert sum(v for k, v in snapshot.items() if k.startswith("krakend.router.response.") and ".status." in k) == 80
    assert (
        sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("http_server_duration_count"))
        == 80
    )


async def test_metric_slots_scraper_reset_mid_fold_loses_no_rows(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Through the real ``/metrics`` listener: a scraper that resets the connection mid-scrape (a
    pause every group: the reset reaches the handler while the fold still has rows to go)."""
    monkeypatch.setattr("krakenpy.telemetry.metrics.slots.STEP", 1)
    s = await _many_routes(served, upstream)
    port = s.gateway.resources.state[PROM_LISTENERS][0].bound_port
    edge = _edge_slot(s)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    for _ in range(10_000):  # until the handler's stepped fold has taken the edge rows
        await asyncio.sleep(0)
        if not edge.keys:
            break
    assert not edge.keys and edge.size() > 0  # paused mid-fold
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # RST, as a scraper's timeout
    await asyncio.sleep(0.2)
    assert await _served_counts(s) == (80, 80)


def test_metric_slots_paused_fold_keeps_arrival_order() -> None:
    """Rows that come while a stepped fold pauses fold after the rows it took (float sums in arrival
    order), and the paused rows count toward the folder's threshold."""
    from krakenpy.telemetry.layers.edge import route_label
    from krakenpy.telemetry.metrics.instruments import ServerMetrics
    from krakenpy.telemetry.metrics.slots import STEP

    server = ServerMetrics(Registry())
    slot = EdgeSlot(server, None, route_label)
    for i in range(STEP + 8):
        slot.record(f"/r{i}", "GET", "http", 200, 1_000 + i, 1, True)
    steps = slot.steps()
    next(steps)  # paused after STEP groups
    assert slot.keys == [] and slot.size() == 8
    slot.record(f"/r{STEP + 7}", "GET", "http", 200, 5, 1, True)  # the same series as a paused row
    slot.drain()
    assert slot.size() == 0
    time = server.recorder(f"/r{STEP + 7}", "GET").series(200)[0]
    assert _same(time, [(1_000 + STEP + 7) * 1e-9, 5 * 1e-9])
    assert list(steps) == []  # the paused fold finds nothing left
    assert sum(server.recorder(f"/r{i}", "GET").series(200)[0].count for i in range(STEP + 8)) == STEP + 9


@pytest.mark.parametrize("which", ["telemetry/metrics", "telemetry/opentelemetry"])
async def test_metric_slots_folder_folds_small_slots_eventually(served, upstream, monkeypatch, which: str) -> None:  # type: ignore[no-untyped-def]
    """A worker with no reads and too few edge requests for the edge's fold (one that only runs
    async agents: none at all) has its rows folded by the folder, under its threshold too, with
    ``/__stats`` alone as with OTel."""
    from krakenpy.telemetry import setup

    monkeypatch.setattr(setup, "FOLD_PERIOD", 0.02)
    monkeypatch.setattr(setup, "FOLD_ALL_EVERY", 3)
    base = await upstream(recording_app([], {"a": 1}))
    s = await served(doc(_endpoints(base), extra_config={which: _metrics()[which]}))
    hub = s.gateway.resources.state[HUB]
    slots = hub.metric_slots()
    for _ in range(3):
        assert (await s.client.get("/a")).status == 200
    for _ in range(100):
        if sum(size() for size in slots._sizes) == 0:
            break
        await asyncio.sleep(0.02)
    assert sum(size() for size in slots._sizes) == 0
    if hub.stats is not None:  # counted without a read (snapshot would fold)
        assert hub.stats.counters["krakend.router.response./a.status.200.count"] == 3


@pytest.mark.parametrize("kind", CLIENTS)
async def test_metric_slots_answered_rows_are_numbers_the_collector_drops(gw, backend, kind: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The client and read rows of answered calls wait for their fold as numbers only: after one
    collection the collector no longer tracks them, and no call's CallTiming is kept alive by them
    (rows that held it were containers walked at every young collection until the fold; a worker
    folds every 1,024 requests). The folded series still carry the connection and read times."""
    from aiohttp import web

    async def small(_request: web.Request) -> web.Response:
        return web.json_response({"a": 1})

    app = web.Application()
    app.router.add_get("/small", small)
    base = (await backend(app)).replace("127.0.0.1", "localhost")  # a name: the first call dials and resolves
    # no backend metrics object: detailed_connection and read_payload on (krakend-otel's default)
    g = await gw(_doc(base, _prom()), _client(kind))
    for _ in range(3):
        assert (await g.client.get("/small")).status == 200
    gc.collect()
    (client,) = [o for o in gc.get_objects() if isinstance(o, ClientSlot) and o.size()]
    (read,) = [o for o in gc.get_objects() if isinstance(o, ReadSlot) and o.size()]
    assert client.size() == 3 and read.size() == 3
    columns = (client.statuses, client.seconds, client.sizes, client.get_conn, client.dns, client.tls)
    assert all(type(v) in (int, float) for column in columns + (read.seconds, read.sizes) for v in column)
    # no row keeps a call's CallTiming alive (the rows of the old shape kept all three); one may live
    # on in the context asyncio copied into the handles of the connection the first call dialled
    assert len([o for o in gc.get_objects() if isinstance(o, CallTiming)]) <= 1
    # the first call dialled (get_conn > 0), the kept-alive ones record zeros; each read ended after its head
    assert client.dialled == [200] and client.get_conn[0] > 0.0 and len(client.dns) == len(client.tls) == 1
    assert all(s >= 0.0 for s in read.seconds) and read.sizes == [8] * 3 and read.failed_seconds == []
    families = await g.metrics()
    conn = families["http_client_request_get_conn_duration"]
    assert [s.value for s in conn.samples if s.name.endswith("_count")] == [3.0]
    read_size = families["http_client_response_read_size_hist"]
    assert sum(s.value for s in read_size.samples if s.name.endswith("_sum")) == 24


def test_metric_slots_tick_skips_a_fold_with_nothing_to_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder's tick (``fold_metrics(least)``) folds nothing, not even walking the families,
    while no slot holds ``least`` rows and no slot was drained since its last fold; rows drained by
    a read without a fold of that registry's histograms (``feed``) are folded by the next tick."""
    from krakenpy.telemetry.hub import Telemetry

    registry = Registry()
    hub = Telemetry(registry=registry)
    slot = ClientSlot(ClientMetrics(registry), ("GET", "/u", "/a", "GET", "/u", "h", "80"))
    hub.metric_slots().register(slot.drain, slot.size)
    walks: list[int] = []
    fold = registry.fold

    def counted(least: int = 1) -> None:
        walks.append(least)
        fold(least)

    monkeypatch.setattr(registry, "fold", counted)

    def record(n: int) -> None:
        for _ in range(n):
            slot.record(200, 0.001, 2, 0, 0, 0.0, 0.0, 0.0)

    record(10)
    hub.fold_metrics(256)  # the first tick folds (nothing to fold yet: 10 rows stay queued)
    hub.fold_metrics(256)
    assert walks == [256] and slot.size() == 10
    record(300)
    hub.fold_metrics(256)  # a slot holds 256 rows: folded
    duration = slot.by_status[200][0]
    assert walks == [256, 256] and slot.size() == 0 and (duration.count, duration.pending) == (310, [])
    record(300)
    registry.feed()  # a read drains the slots (their rows counted into the OTel histograms at once)
    assert slot.size() == 0 and (duration.count, duration.pending) == (610, [])
    hub.fold_metrics(256)
    assert walks == [256] * 3 and (duration.count, duration.pending) == (610, [])
    hub.fold_metrics(256)
    record(3)
    hub.fold_metrics(256)
    assert walks == [256] * 3 and slot.size() == 3
    hub.fold_metrics(1)  # every FOLD_ALL_EVERY ticks: never skipped
    assert walks == [256, 256, 256, 1] and (slot.size(), duration.count) == (0, 613)
