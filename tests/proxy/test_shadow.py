from __future__ import annotations

import asyncio

from krakenpy.config.options import BackendProxyOptions, parse_backend_proxy
from krakenpy.errors import BackendError
from krakenpy.proxy.shadow import shadow_middleware
from tests.doubles import failing_proxy, make_request, static_proxy


async def _drain(double, calls: int = 1) -> None:
    for _ in range(100):
        if len(double.calls) >= calls:
            return
        await asyncio.sleep(0.01)


async def test_shadow_called_with_copy_and_ignored() -> None:
    shadow = static_proxy({"shadow": True})
    middleware = shadow_middleware([(shadow, 1.0)])
    assert middleware is not None
    request = make_request(params={"Id": "1"})
    response = await middleware(static_proxy({"main": 1}))(request)
    assert response.data == {"main": 1}
    await _drain(shadow)
    assert len(shadow.calls) == 1
    assert shadow.calls[0] is not request
    assert shadow.calls[0].params == {"Id": "1"}


async def test_shadow_failure_never_reaches_client() -> None:
    shadow = failing_proxy(BackendError("shadow down"))
    middleware = shadow_middleware([(shadow, 1.0)])
    assert middleware is not None
    response = await middleware(static_proxy({"main": 1}))(make_request())
    assert response.data == {"main": 1}
    await _drain(shadow)
    assert response.errors == ()


async def test_shadow_slow_backend_does_not_delay_response() -> None:
    shadow = static_proxy({}, delay=5.0)
    middleware = shadow_middleware([(shadow, 0.05)])
    assert middleware is not None
    response = await asyncio.wait_for(middleware(static_proxy({"main": 1}))(make_request()), 1.0)
    assert response.data == {"main": 1}
    await _drain(shadow)
    for _ in range(100):
        if shadow.cancelled:
            break
        await asyncio.sleep(0.01)
    assert shadow.cancelled == 1  # stopped by its own shadow_timeout


def test_shadow_options_parse() -> None:
    assert shadow_middleware([]) is None
    assert parse_backend_proxy({"shadow": True}, "p").shadow
    assert not parse_backend_proxy({}, "p").shadow
    assert parse_backend_proxy({"shadow_timeout": "300ms"}, "p").shadow_timeout == 0.3
    assert parse_backend_proxy(None, "p") == BackendProxyOptions()
