"""``telemetry/audit`` ``on_failure``: what a full queue does while the collector takes nothing. ``drop``
(the default) serves on and loses records (counted, logged); ``block`` refuses requests with 503 until
the collector takes records again, so every decision made has its record (a real gateway, a real
collector on 127.0.0.1 that fails, then recovers)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.cli_gateway import audited_deny_config, gateway_process
from tests.conftest import free_port


class _Collector:
    """Answers 500 until told to take batches; keeps the records it took."""

    def __init__(self) -> None:
        self.taking = False
        self.records: list[dict[str, Any]] = []
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.taking:
            self.refused += 1
            return web.Response(status=500)
        self.records.extend(orjson.loads(line) for line in body.splitlines())
        return web.Response(status=204)


async def _status(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with http.get(url) as resp:
        return resp.status, await resp.read()


@pytest.mark.parametrize("on_failure", ["drop", "block"])
async def test_a_full_queue_drops_records_or_blocks_requests(tmp_path: Path, upstream: Any, on_failure: str) -> None:
    collector = _Collector()
    app = web.Application()
    app.router.add_post("/", collector.handle)
    base = await upstream(app)
    port = free_port()
    config = audited_deny_config(
        tmp_path,
        port,
        {
            "sink": "http",
            "url": f"{base}/",
            "queue_size": 2,
            "on_failure": on_failure,
        },
    )
    url = f"http://127.0.0.1:{port}/x"
    with gateway_process(config, port=port) as proc:
        async with aiohttp.ClientSession() as http:
            statuses = []
            for _ in range(8):  # the first record waits in the failing post, two more fill the queue
                status, answer = await _status(http, url)
                statuses.append(status)
                assert answer == b""
                while collector.refused == 0:  # the first batch is being retried: the queue fills now
                    await asyncio.sleep(0.01)
            collector.taking = True
            for _ in range(1000):  # the retried batch goes (back-off ≤ 1 s), the queue drains
                if len(collector.records) >= 3:
                    break
                await asyncio.sleep(0.01)
            after, body = await _status(http, url)
            for _ in range(500):
                if len(collector.records) >= 4:
                    break
                await asyncio.sleep(0.01)
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    logged = out + err
    decided = statuses.count(403) + 1  # the requests a decision was made on (and the one after)
    assert after == 403 and body == b""
    if on_failure == "block":
        assert statuses == [403, 403, 403] + [503] * 5, statuses
        assert len(collector.records) == decided  # every decision made has its record
        assert "1 request(s) refused so far (on_failure: block)" in logged, logged[-2000:]  # once in 10 s
    else:
        assert statuses == [403] * 8, statuses
        assert len(collector.records) == 4 < decided  # served on; the records that did not fit are lost
        assert "audit: queue full, 1 record(s) dropped so far" in logged, logged[-2000:]
