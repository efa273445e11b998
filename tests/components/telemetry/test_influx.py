"""``telemetry/influx``: the /__stats collector pushed to a real InfluxDB-shaped HTTP receiver."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from krakenpy.errors import ConfigError
from krakenpy.gateway import load
from krakenpy.telemetry.influx import InfluxOptions, InfluxPusher, PointKeys, parse_influx, points
from krakenpy.telemetry.metrics.stats import StatsRegistry
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.test_scrape_steps import fill_windows


def test_influx_points_are_line_protocol_with_escaped_tags() -> None:
    snapshot = {
        "krakend.router.response./a b/:id.status.200.count": 3,
        "krakend.proxy.requests.layer.backend.name./u/{{.Id}}.complete.true.error.false": 3,
        "krakend.router.response./a b/:id.time.count": 3,
        "krakend.router.response./a b/:id.time.max": 1500.0,
        "krakend.router.connected": 2,
        "krakend.router.disconnected-total": 5,
        "krakend.router.response./e.size.count": 0,  # a window without values: not sent
        "krakend.router.response./e.size.max": 0.0,
        "cmdline": ["krakenpy"],
    }
    lines = points(snapshot, "gw,1", 17)
    # krakend-influx's layout: tag ``name``, ``total`` and ``count`` (the growth since the last push:
    # all of it at the first), histogram fields as ints, ``router`` by ``direction``
    assert "responses,host=gw\\,1,name=/a\\ b/:id,status=200 count=3i,total=3i 17" in lines
    assert "requests,complete=true,error=false,host=gw\\,1,layer=backend,name=/u/{{.Id}} count=3i,total=3i 17" in lines
    assert "router.response-time,host=gw\\,1,name=/a\\ b/:id count=3i,max=1500i 17" in lines
    assert "router,direction=in,host=gw\\,1 current=2i 17" in lines
    assert "router,direction=out,host=gw\\,1 total=5i 17" in lines
    assert len(lines) == 5


def test_influx_points_send_the_debug_and_runtime_gauges_as_krakend_influx() -> None:
    """krakend-influx writes the collector's ``krakend.service.debug.X`` gauges as the field ``X`` of
    one ``debug`` point and ``krakend.service.runtime.X`` as ``X`` of one ``runtime`` point, ints,
    tagged ``host`` (points() looked for ``service.runtime.`` keys: neither was ever sent)."""
    snapshot = {
        "krakend.service.debug.GCStats.NumGC": 12,
        "krakend.service.runtime.NumThread": 4,
        "krakend.service.runtime.MemStats.Alloc": 2048.0,
        "krakend.service.runtime.": 1,  # no field name: nothing
        "memstats": {"Sys": 1, "NumGC": 12},  # /__stats' own object: not a gauge
    }
    lines = points(snapshot, "gw", 17, {"worker": "2"})
    assert sorted(lines) == [
        "debug,host=gw,worker=2 GCStats.NumGC=12i 17",
        "runtime,host=gw,worker=2 MemStats.Alloc=2048i,NumThread=4i 17",
    ]


def test_influx_point_keys_kept_across_pushes_follow_the_snapshot() -> None:
    """A snapshot key's measurement, tags and field are read once and kept for the next pushes: the
    points of each push are those points() makes afresh, new keys are read, and keys that left the
    snapshots are forgotten once the kept ones outgrow them."""
    kept = PointKeys("gw", {"worker": "1"})
    first = {
        "krakend.router.response./a.status.200.count": 3,
        "krakend.router.response./a.time.max": 15.0,
        "krakend.router.response./a.time.count": 2,
        "krakend.router.connected": 1,
        "krakend.service.runtime.NumThread": 4,
        "unknown.key": 5,
    }
    second = {**first, "krakend.router.response./a.status.200.count": 4}
    second["krakend.router.response./b.status.500.count"] = 1
    for snapshot in (first, second, first):  # ``count`` aside (the growth since the last push)
        assert _totals(kept.points(snapshot, 9)) == _totals(points(snapshot, "gw", 9, {"worker": "1"}))
    for round_ in range(30):  # 100 new keys a push, the older ones gone: what is kept stays bounded
        snapshot = {f"krakend.router.response./r{round_}.status.{i}.count": i for i in range(100)}
        assert kept.points(snapshot, 9) == points(snapshot, "gw", 9, {"worker": "1"})
        assert len(kept._keys) <= 3 * len(snapshot) + 1024
    assert len(kept._keys) < 30 * 100


def _totals(lines: list[str]) -> list[str]:
    return [re.sub(r" count=\d+i,total=", " total=", text) for text in lines]


def test_influx_counts_are_what_the_counters_grew_since_the_last_push() -> None:
    """krakend-influx's ``count``: the growth since the previous push (KrakenD's Grafana dashboard
    sums it per interval), ``total`` the counter; a counter that restarted counts from zero."""
    kept = PointKeys("gw")
    key = "krakend.router.response./a.status.200.count"
    pushed = [kept.points({key: total}, 1)[0].split(" ")[1] for total in (3, 3, 10, 2)]
    assert pushed == ["count=3i,total=3i", "count=0i,total=3i", "count=7i,total=10i", "count=2i,total=2i"]


def test_influx_parse_checks_the_address() -> None:
    assert parse_influx({"address": "http://h:8086/", "ttl": "25s"}, "p").ttl == 25.0
    with pytest.raises(ConfigError) as info:
        parse_influx({"address": "h:8086"}, "extra_config.telemetry/influx")
    assert info.value.issues[0].path == "extra_config.telemetry/influx.address"


async def test_influx_pushes_the_collector_with_basic_auth(served, upstream) -> None:  # type: ignore[no-untyped-def]
    writes: list[tuple[str, str, bytes]] = []
    arrived = asyncio.Event()

    async def write(request: web.Request) -> web.Response:
        writes.append((request.query.get("db", ""), request.headers.get("Authorization", ""), await request.read()))
        arrived.set()
        return web.Response(status=204)

    influx = web.Application()
    influx.router.add_post("/write", write)
    influx_url = await upstream(influx)
    base = await upstream(recording_app([], {"a": 1}))
    config = doc(
        [{"endpoint": "/users/{id}", "backend": [{"host": [base], "url_pattern": "/u/{id}"}]}],
        extra_config={
            "telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "10s"},
            "telemetry/influx": {
                "address": influx_url,
                "ttl": "200ms",
                "db": "krakend_db",
                "username": "u",
                "password": "pw",
            },
        },
    )
    s = await served(config)
    assert (await s.client.get("/users/7")).status == 200
    await asyncio.wait_for(arrived.wait(), 5)
    db, auth, body = writes[0]
    assert db == "krakend_db" and auth == "Basic " + base64.b64encode(b"u:pw").decode()
    text = body.decode()
    host = socket.gethostname()
    assert f"responses,host={_escaped(host)},name=/users/:id,status=200 count=1i,total=1i" in text
    assert f"router.response-time,host={_escaped(host)},name=/users/:id" in text
    # krakend-influx's process gauges: one debug and one runtime point, ints, tagged host
    by_measurement = {p.split(" ")[0]: p.split(" ")[1] for p in text.split("\n")}
    assert re.fullmatch(r"GCStats\.NumGC=\d+i", by_measurement[f"debug,host={_escaped(host)}"])
    assert re.fullmatch(r"NumThread=[1-9]\d*i", by_measurement[f"runtime,host={_escaped(host)}"])


def _escaped(tag: str) -> str:
    return tag.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def test_influx_address_krakend_cannot_use_is_a_warning_and_no_export(tmp_path: Path) -> None:
    # krakend-influx refuses the address and KrakenD runs without the export: so does krakenpy
    influx = {"address": "$INFLUXDB_HOST:$INFLUXDB_PORT", "ttl": "25s"}
    config = doc([], extra_config={"telemetry/metrics": {"collection_time": "10s"}, "telemetry/influx": influx})
    path = tmp_path / "k.json"
    path.write_bytes(orjson.dumps(config))
    loaded = load(path, use_env=False)
    assert loaded.parsed[""]["telemetry/influx"] is None
    found = [(w.path, w.severity) for w in loaded.warnings if "nothing is sent to InfluxDB" in w.message]
    assert found == [("extra_config.telemetry/influx.address", "warning")]


async def test_influx_without_metrics_warns(served) -> None:  # type: ignore[no-untyped-def]
    config = doc([], extra_config={"telemetry/influx": {"address": "http://127.0.0.1:9"}})
    s = await served(config)
    assert any("needs telemetry/metrics" in w for w in s.gateway.resources.warnings)


async def test_influx_push_takes_the_snapshot_in_steps(upstream) -> None:  # type: ignore[no-untyped-def]
    """The push reads the collector as ``/__stats`` does: one capture, then a window histogram a step,
    the loop running in between (it took the whole snapshot in one step: 100 full window histograms
    held the loop ~21 ms); the points are those of the snapshot taken in one go."""
    turns = 0
    running = True
    arrived_after: list[int] = []  # the loop's turns before the write reached the receiver
    bodies: list[bytes] = []

    async def other() -> None:
        nonlocal turns
        while running:
            await asyncio.sleep(0)
            turns += 1

    async def write(request: web.Request) -> web.Response:
        arrived_after.append(turns)
        bodies.append(await request.read())
        return web.Response(status=204)

    influx = web.Application()
    influx.router.add_post("/write", write)
    url = await upstream(influx)
    stats = StatsRegistry()
    fill_windows(stats, 50)  # 100 window histograms of 2,000 queued values
    stats.inc(stats.counter_key("router.response./w0.status.200.count"), 3)
    pusher = InfluxPusher(InfluxOptions(address=url, ttl=3600.0), stats)
    await pusher.start()
    task = asyncio.ensure_future(other())
    try:
        await asyncio.sleep(0)
        start = turns
        await pusher.push()
    finally:
        running = False
        await task
        await pusher.stop()
    assert pusher.sent == 1 and arrived_after[0] - start >= 100

    def stable(lines: list[str]) -> list[str]:  # without the time stamps and the process figures
        return sorted(p.rsplit(" ", 1)[0] for p in lines if not p.startswith(("debug,", "runtime,")))

    whole = points(stats.snapshot(), pusher.host, 0, pusher.tags)
    # the window histograms, the responses counter, the router's two directions, debug and runtime
    assert len(whole) == 100 + 1 + 2 + 2
    assert stable(bodies[0].decode().split("\n")) == stable(whole)


async def test_influx_push_stopped_during_its_steps_sends_nothing(upstream) -> None:  # type: ignore[no-untyped-def]
    """A gateway closing (``stop``) while a push is between its snapshot's steps: no write, no error."""
    bodies: list[bytes] = []

    async def write(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(status=204)

    influx = web.Application()
    influx.router.add_post("/write", write)
    url = await upstream(influx)
    stats = StatsRegistry()
    fill_windows(stats, 20)
    pusher = InfluxPusher(InfluxOptions(address=url, ttl=3600.0), stats)
    await pusher.start()
    push = asyncio.ensure_future(pusher.push())
    await asyncio.sleep(0)  # the push is in its steps
    assert not push.done()
    await pusher.stop()
    await asyncio.wait_for(push, 5)  # returns (a closed session's post raised RuntimeError)
    assert pusher.sent == 0 and bodies == []


@pytest.mark.parametrize(
    ("user", "expected"),
    [("u", b"u:pw"), ("", b"admin:urlpw")],
    ids=["username-wins", "address-credentials"],
)
async def test_influx_address_with_credentials_still_writes(served, upstream, user, expected) -> None:  # type: ignore[no-untyped-def]
    """An address with ``user:password@`` writes as Go's client does: ``username``/``password`` win
    when set, else the address's own (aiohttp refused both at once: every push raised, and the loop
    pushing them ended without a word: nothing reached InfluxDB, nothing was logged)."""
    auths: list[str] = []
    arrived = asyncio.Event()

    async def write(request: web.Request) -> web.Response:
        auths.append(request.headers.get("Authorization", ""))
        arrived.set()
        return web.Response(status=204)

    influx = web.Application()
    influx.router.add_post("/write", write)
    base = await upstream(influx)
    influx_url = base.replace("http://", "http://admin:urlpw@")
    influx_conf = {"address": influx_url, "ttl": "100ms", "username": user, "password": "pw"}
    config = doc(
        [{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/write"}]}],
        extra_config={
            "telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "10s"},
            "telemetry/influx": {k: v for k, v in influx_conf.items() if v},
        },
    )
    await served(config)
    await asyncio.wait_for(arrived.wait(), 5)
    assert auths[0] == "Basic " + base64.b64encode(expected).decode()


async def test_influx_push_without_points_writes_nothing(upstream) -> None:  # type: ignore[no-untyped-def]
    """OpenCensus' views before the first request have no row: no write (opencensus-influxdb skips a
    view without rows, krakend-influx a snapshot without metrics; krakenpy posted an empty body every
    reporting period)."""
    bodies: list[bytes] = []

    async def write(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(status=204)

    influx = web.Application()
    influx.router.add_post("/write", write)
    rows: list[str] = []
    pusher = InfluxPusher(InfluxOptions(address=await upstream(influx), ttl=3600), None, lambda *_: list(rows))
    await pusher.start()
    try:
        await pusher.push()
        assert bodies == [] and pusher.sent == 0
        rows.append("opencensus.io/http/server/request_count count=1i 17")
        await pusher.push()
        assert bodies == [b"opencensus.io/http/server/request_count count=1i 17"] and pusher.sent == 1
    finally:
        await pusher.stop()


@pytest.mark.parametrize("ttl", ["0s", "-25s"])
def test_influx_ttl_not_positive_is_a_warning_at_check(tmp_path: Path, ttl: str) -> None:
    """KrakenD stops at start on such a ttl (Go's ticker panics); krakenpy pushes every minute, and
    ``check`` now says so instead of nothing."""
    from tests.cli_gateway import check_config

    influx = {"address": "http://127.0.0.1:8086", "ttl": ttl}
    config = doc([], extra_config={"telemetry/metrics": {"collection_time": "10s"}, "telemetry/influx": influx})
    path = tmp_path / "k.json"
    path.write_bytes(orjson.dumps(config))
    result = check_config(path)
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert "extra_config.telemetry/influx.ttl: not a positive duration: pushes every 1m" in said
