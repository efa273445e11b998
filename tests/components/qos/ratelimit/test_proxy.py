"""qos/ratelimit/proxy: over the limit the backend is not called and the error is KrakenD's."""

from __future__ import annotations

import pytest

from krakenpy.components.qos.ratelimit.proxy import COMPONENT, proxy_limit_middleware
from krakenpy.errors import BackendError
from krakenpy.proxy.types import Request
from krakenpy.ratelimit.options import parse_proxy_limit
from tests.components.qos.helpers import build
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
