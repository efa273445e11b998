"""qos/ratelimit/proxy: over the limit the backend is not called and the error is KrakenD's."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.components.qos.ratelimit.proxy import COMPONENT, proxy_limit_middleware
from krakenpy.errors import BackendError
from krakenpy.proxy.types import Request
from krakenpy.ratelimit.options import parse_proxy_limit
from tests.components.helpers import json_app
from tests.components.qos.helpers import build
from tests.conftest import make_config
from tests.doubles import static_proxy
from tests.ratelimit.clock import FakeClock


def _request() -> Request:
    return Request(method="GET", path="/", params={}, headers={}, query={})


async def test_proxy_zero_config_builds_nothing() -> None:
    assert (await build(COMPONENT, "backend", {}, level="backend"))[0] is None
    assert (await build(COMPONENT, "backend", {"max_rate": 0, "capacity": 5}, level="backend"))[0] is None


async def test_proxy_over_limit_fails_without_calling_backend() -> None:
    clock = FakeClock()
    mw = proxy_limit_middleware(parse_proxy_limit({"max_rate": 1, "capacity": 2}), clock=clock)
    assert mw is not None
    backend = static_proxy({"a": 1})
    proxy = mw(backend)
    await proxy(_request())
    await proxy(_request())
    with pytest.raises(BackendError, match="^rate limit exceded$"):
        await proxy(_request())
    assert len(backend.calls) == 2
    clock.advance(1)
    assert (await proxy(_request())).data == {"a": 1}


async def test_proxy_component_builds_a_limiter() -> None:
    mw, _ = await build(COMPONENT, "backend", {"max_rate": 1, "capacity": 1}, level="backend")
    proxy = mw(static_proxy({}))
    await proxy(_request())
    with pytest.raises(BackendError):
        await proxy(_request())


async def test_proxy_through_gateway_backend_error_and_partial(backend: Any, gateway: Any) -> None:
    host = await backend(json_app({"a": 1}))
    other = await backend(json_app({"b": 2}))
    limited = {
        "host": [host],
        "url_pattern": "/",
        "extra_config": {COMPONENT.namespace: {"max_rate": 1, "capacity": 1, "every": "1h"}},
    }
    doc = make_config(
        [
            {"endpoint": "/one", "backend": [limited]},
            {"endpoint": "/two", "backend": [dict(limited), {"host": [other], "url_pattern": "/"}]},
        ],
        extra_config={"router": {"return_error_msg": True}},
    )
    client = await gateway(doc)
    assert (await client.get("/one")).status == 200
    response = await client.get("/one")
    assert response.status == 500 and await response.text() == "rate limit exceded"
    assert await (await client.get("/two")).json() == {"a": 1, "b": 2}  # its own bucket
    response = await client.get("/two")
    assert response.status == 200 and response.headers["X-Krakend-Completed"] == "false"
    assert await response.json() == {"b": 2}
