"""The audit trail's review: restart continuity, chain verification, sink failures."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from krakenpy.telemetry.audit import AuditTrail
from krakenpy.telemetry.auditsink import FileSink, HttpSink


def _deny(trail: AuditTrail, n: int = 1) -> None:
    for _ in range(n):
        trail.record(
            decision="deny", reason="jwt_expired", policy="auth/validator", route_id="GET /x", status=401,
            request={"id": None, "method": "GET", "route": "/x", "path": "/x"},
            client={"address": "203.0.113.7", "user_agent": "curl/8"}, subject=None,
        )  # fmt: skip


async def _chain(path: str, n: int, prev: str | None = None) -> list[bytes]:
    trail = AuditTrail(FileSink(path), service="gw", config_hash="c", prev_hash=prev)
    _deny(trail, n)
    await trail.drain()
    await trail.sink.close()
    return Path(path).read_bytes().splitlines()


async def test_a_collector_redirect_is_no_delivery(caplog: pytest.LogCaptureFixture) -> None:
    got: list[bytes] = []

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_post("/", moved)
    app.router.add_route("*", "/elsewhere", elsewhere)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    sink = HttpSink(f"http://127.0.0.1:{server.port}/", timeout=2)
    caplog.set_level(logging.WARNING, logger="krakenpy.audit")
    import asyncio

    try:
        with pytest.raises(TimeoutError):  # retried: never taken as written
            await asyncio.wait_for(sink.write([b'{"seq":1}\n']), 0.3)
    finally:
        await sink.close()
        await server.close()
    assert not any(got)  # the batch never reached anyone, and a GET without it was no success
    assert any("302" in r.getMessage() for r in caplog.records)
