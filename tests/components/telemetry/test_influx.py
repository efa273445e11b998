"""``telemetry/influx``: the /__stats collector pushed to a real InfluxDB-shaped HTTP receiver."""

from __future__ import annotations

import asyncio
import base64
import socket
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from krakenpy.errors import ConfigError
from krakenpy.gateway import load
from krakenpy.telemetry.influx import parse_influx, points
from tests.components.telemetry.conftest import doc, recording_app


def test_influx_points_are_line_protocol_with_escaped_tags() -> None:
    snapshot = {
        "krakend.router.response./a b/:id.status.200.count": 3,
        "krakend.proxy.requests.layer.backend.name./u/{{.Id}}.complete.true.error.false": 3,
        "krakend.router.response./a b/:id.time.count": 3,
        "krakend.router.response./a b/:id.time.max": 1500.0,
        "krakend.router.connected": 2,
        "cmdline": ["krakenpy"],
    }
    lines = points(snapshot, "gw,1", 17)
    assert "responses,endpoint=/a\\ b/:id,host=gw\\,1,status=200 count=3i 17" in lines
    assert "requests,complete=true,error=false,host=gw\\,1,layer=backend,name=/u/{{.Id}} total=3i 17" in lines
    assert "router.response-time,endpoint=/a\\ b/:id,host=gw\\,1 count=3i,max=1500.0 17" in lines
    assert "router,host=gw\\,1 connected=2i 17" in lines
    assert len(lines) == 4


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
    assert f"responses,endpoint=/users/:id,host={host},status=200 count=1i" in text
    assert "router.response-time,endpoint=/users/:id" in text


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
