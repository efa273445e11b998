from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from krakenpy.errors import ConfigError
from krakenpy.telemetry.hub import HUB
from krakenpy.telemetry.servers import STATS_LISTENER
from krakenpy.telemetry.settings import parse_metrics
from tests.components.telemetry.conftest import doc, recording_app

HIST = (".count", ".min", ".max", ".mean", ".std-dev", ".50-percentile", ".75-percentile", ".95-percentile",
        ".99-percentile", ".999-percentile")  # fmt: skip


def test_parse_metrics_defaults_and_address() -> None:
    o = parse_metrics({}, "p")
    assert o.collection_time == 60.0 and o.listen_address == ":8090" and o.host_port == ("", 8090)
    assert parse_metrics({"listen_address": "127.0.0.1:9001", "collection_time": "200ms"}, "p").collection_time == 0.2
    with pytest.raises(ConfigError) as err:
        parse_metrics({"listen_address": "8090"}, "p")
    assert err.value.issues[0].path == "p.listen_address"


async def test_stats_exact_keys_window_histograms_and_redirect(served, upstream) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([], {"a": 1}))
    # a window longer than the test: the window's end is triggered below, not waited for
    s = await served(
        doc(
            [{"endpoint": "/users/{id}", "backend": [{"host": [base], "url_pattern": "/u/{id}"}]}],
            extra_config={"telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "1h"}},
        )
    )
    port = s.gateway.resources.state[STATS_LISTENER].bound_port
    assert port
    for i in range(3):
        assert (await s.client.get(f"/users/{i}")).status == 200
    await s.client.get("/nowhere")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/__stats") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/json; charset=utf-8"
            text = await resp.text()
        stats = orjson.loads(text)
        keys = [line.split('"')[1] for line in text.splitlines()[1:-1]]
        assert keys == sorted(keys)  # expvar: sorted, one per line
        ep = "krakend.router.response./users/:id"
        assert stats[f"{ep}.status.200.count"] == 3
        assert stats[f"{ep}.status"] == 0  # registered, never incremented (as KrakenD)
        for name in (f"{ep}.size", f"{ep}.time"):
            assert all(name + suffix in stats for suffix in HIST)
        assert stats[f"{ep}.size.count"] == 3 and stats[f"{ep}.size.max"] == float(len(b'{"a":1}'))
        assert stats[f"{ep}.time.min"] > 0
        pipe = "krakend.proxy.requests.layer.pipe.name./users/:id"
        assert stats[f"{pipe}.complete.true.error.false"] == 3
        for combo in ("complete.true.error.true", "complete.false.error.true", "complete.false.error.false"):
            assert stats[f"{pipe}.{combo}"] == 0  # pre-registered
        assert stats["krakend.proxy.requests.layer.backend.name./u/{{.Id}}.complete.true.error.false"] == 3, [
            k for k in stats if "backend" in k
        ]
        assert "krakend.proxy.latency.layer.pipe.name./users/:id.complete.true.error.false.99-percentile" in stats
        assert not any("nowhere" in k for k in stats)
        assert isinstance(stats["cmdline"], list) and "memstats" in stats
        for key in ("connected", "disconnected", "connected-total", "disconnected-total", "connected-gauge"):
            assert f"krakend.router.{key}" in stats
        s.gateway.resources.state[HUB].stats.tick()  # the window ends: histograms cleared, counters kept
        async with http.get(f"http://127.0.0.1:{port}/__stats") as resp:
            later = orjson.loads(await resp.read())
        assert later[f"{ep}.status.200.count"] == 3 and later[f"{ep}.time.count"] == 0
        async with http.get(f"http://127.0.0.1:{port}/__stats/", allow_redirects=False) as resp:
            assert resp.status == 301 and resp.headers["Location"] == "/__stats"


async def test_stats_collection_time_ends_windows(served, upstream) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([]))
    s = await served(
        doc(
            [{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/metrics": {"endpoint_disabled": True, "collection_time": "50ms"}},
        )
    )
    stats = s.gateway.resources.state[HUB].stats
    # a window's end clears every histogram, its queued values too: a value queued and gone is a
    # tick (the registry is compiled, its methods cannot be wrapped on the instance)
    window = stats.histogram("bench.window")
    async with asyncio.timeout(30):  # a few windows, however slow the machine
        for _ in range(3):
            window.pending.append(1)
            while window.pending or window.values:  # not a fold (it keeps the value): a clear
                await asyncio.sleep(0.01)
    await s.gateway.close()  # the collector stops with the gateway
    window.pending.append(1)
    await asyncio.sleep(0.2)
    assert window.pending == [1] or window.values == [1]  # queued or folded, never cleared


async def test_stats_busy_address_is_logged_and_serving_goes_on(served, upstream, caplog) -> None:  # type: ignore[no-untyped-def]
    import socket

    base = await upstream(recording_app([]))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        s = await served(
            doc(
                [{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
                extra_config={"telemetry/metrics": {"listen_address": f"127.0.0.1:{port}"}},
            )
        )
        assert (await s.client.get("/a")).status == 200
    assert any("cannot listen" in r.getMessage() for r in caplog.records)


async def test_stats_endpoint_disabled_collects_without_serving(served, upstream) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([]))
    s = await served(
        doc(
            [{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/metrics": {"endpoint_disabled": True, "listen_address": "127.0.0.1:0"}},
        )
    )
    assert s.gateway.resources.state.get(STATS_LISTENER) is None
    await s.client.get("/a")
    stats = s.gateway.resources.state[HUB].stats
    # the request's row is folded when the collector is read (its snapshot, the tick, an Influx push)
    assert stats is not None and stats.snapshot()["krakend.router.response./a.status.200.count"] == 1
