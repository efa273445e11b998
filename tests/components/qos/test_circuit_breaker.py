"""qos/circuit-breaker through the gateway, over a real HTTP backend that fails, flaps and recovers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web

from krakenpy.components.qos.circuit_breaker import COMPONENT, BreakerOptions
from tests.components.qos.helpers import build, site_for
from tests.conftest import make_config


async def test_circuit_breaker_zero_config_builds_nothing() -> None:
    mw, _ = await build(COMPONENT, "backend", {}, level="backend")
    assert mw is None
    mw, _ = await build(COMPONENT, "backend", {"name": "x", "log_status_change": True}, level="backend")
    assert mw is None


def test_circuit_breaker_parse_other_shapes_are_zero() -> None:
    site = site_for(COMPONENT.namespace, {}, level="backend")
    raw = {"interval": "30", "timeout": 10.9, "max_errors": True, "name": 3}
    assert COMPONENT.parse(raw, site) == BreakerOptions(timeout=10)


async def test_circuit_breaker_real_backend_flaps_trips_and_recovers(
    backend: Any, gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    script: list[int] = []
    hits: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        status = script.pop(0) if script else 200
        hits.append(status)
        return web.json_response({"status": status}, status=status)

    app = web.Application()
    app.router.add_get("/", handler)
    host = await backend(app)
    raw = {"interval": 60, "timeout": 1, "max_errors": 1, "name": "flaky", "log_status_change": True}
    doc = make_config(
        [
            {
                "endpoint": "/x",
                "backend": [{"host": [host], "url_pattern": "/", "extra_config": {COMPONENT.namespace: raw}}],
            }
        ],
        extra_config={"router": {"return_error_msg": True}},
    )
    client = await gateway(doc)

    async def status() -> tuple[int, str]:
        response = await client.get("/x")
        return response.status, await response.text()

    # flapping: failure, success, failure, success... never two failures in a row
    script.extend([500, 200, 503, 200, 204, 200])
    outcomes = [(await status())[0] for _ in range(6)]
    assert outcomes == [500, 200, 500, 200, 500, 200]  # 204 is a failure too
    # two failures in a row trip it; the next call never reaches the backend
    script.extend([500, 500])
    with caplog.at_level(logging.WARNING, logger="krakenpy.circuitbreaker"):
        assert (await status())[0] == 500
        assert (await status())[0] == 500
        before = len(hits)
        assert await status() == (500, "circuit breaker is open")
        assert len(hits) == before
        await asyncio.sleep(1.05)  # timeout: one probe goes through, succeeds, closes it
        assert (await status())[0] == 200
        assert (await status())[0] == 200
    changes = [r.getMessage() for r in caplog.records if r.name == "krakenpy.circuitbreaker"]
    assert changes == [
        "[CB] Circuit breaker named 'flaky' went from 'closed' to 'open'",
        "[CB] Circuit breaker named 'flaky' went from 'open' to 'half-open'",
        "[CB] Circuit breaker named 'flaky' went from 'half-open' to 'closed'",
    ]
