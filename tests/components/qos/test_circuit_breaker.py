"""qos/circuit-breaker over a real HTTP backend that fails, flaps and recovers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web

from krakenpy.backends import build_backend
from krakenpy.components.qos.circuit_breaker import COMPONENT
from krakenpy.config.model import build_service
from krakenpy.errors import BackendError
from krakenpy.proxy.types import Request
from tests.components.helpers import build, resources_for, site_for
from tests.conftest import make_config


def _request() -> Request:
    return Request(method="GET", path="/", params={}, headers={}, query={})


async def test_circuit_breaker_zero_config_builds_nothing() -> None:
    mw, _ = await build(COMPONENT, "backend", {}, level="backend")
    assert mw is None
    mw, _ = await build(COMPONENT, "backend", {"name": "x", "log_status_change": True}, level="backend")
    assert mw is None


async def test_circuit_breaker_real_backend_flaps_trips_and_recovers(
    backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    script: list[int] = []
    hits: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        status = script.pop(0) if script else 200
        hits.append(status)
        return web.json_response({"status": status}, status=status)

    app = web.Application()
    app.router.add_get("/", handler)
    base = await backend(app)
    raw = {"interval": 60, "timeout": 1, "max_errors": 1, "name": "flaky", "log_status_change": True}
    doc = make_config(
        [
            {
                "endpoint": "/x",
                "backend": [{"host": [base], "url_pattern": "/", "extra_config": {COMPONENT.namespace: raw}}],
            }
        ]
    )
    service = build_service(doc)
    backend_cfg = service.endpoints[0].backends[0]
    site = site_for(COMPONENT.namespace, raw, level="backend")
    resources = resources_for(site)
    options = COMPONENT.parse(raw, site)
    assert COMPONENT.backend is not None
    mw = await COMPONENT.backend(options, site, resources)
    assert mw is not None
    proxy = mw(await build_backend(backend_cfg, resources))
    try:
        # flapping: failure, success, failure, success... never two failures in a row
        script.extend([500, 200, 503, 200, 204, 200])
        outcomes = []
        for _ in range(6):
            try:
                await proxy(_request())
                outcomes.append("ok")
            except BackendError:
                outcomes.append("err")
        assert outcomes == ["err", "ok", "err", "ok", "err", "ok"]  # 204 is a failure too
        # two failures in a row trip it; the third call never reaches the backend
        script.extend([500, 500])
        with caplog.at_level(logging.WARNING, logger="krakenpy.circuitbreaker"):
            for _ in range(2):
                with pytest.raises(BackendError, match="invalid status code"):
                    await proxy(_request())
            before = len(hits)
            with pytest.raises(BackendError, match="^circuit breaker is open$"):
                await proxy(_request())
            assert len(hits) == before
            await asyncio.sleep(1.05)  # timeout: one probe goes through, succeeds, closes it
            assert (await proxy(_request())).data == {"status": 200}
            assert (await proxy(_request())).data == {"status": 200}
        assert caplog.messages == [
            "[CB] Circuit breaker named 'flaky' went from 'closed' to 'open'",
            "[CB] Circuit breaker named 'flaky' went from 'open' to 'half-open'",
            "[CB] Circuit breaker named 'flaky' went from 'half-open' to 'closed'",
        ]
    finally:
        await resources.http.close()
