from __future__ import annotations

import asyncio

import pytest

from krakenpy.errors import BackendError
from krakenpy.proxy.concurrent import concurrent_middleware
from krakenpy.proxy.types import Response
from tests.doubles import make_request, sequence_proxy, static_proxy


def test_concurrent_single_call_is_no_middleware() -> None:
    assert concurrent_middleware(1, 1.0) is None


async def test_concurrent_sends_n_copies_and_first_complete_wins() -> None:
    inner = sequence_proxy([Response(data={"n": 1}, is_complete=False), Response(data={"n": 2}), BackendError("x")])
    middleware = concurrent_middleware(3, 1.0)
    assert middleware is not None
    response = await middleware(inner)(make_request(params={"Id": "1"}))
    assert len(inner.calls) == 3
    assert len({id(c) for c in inner.calls}) == 3  # each call has its own copy
    assert response.data == {"n": 2}
    assert response.is_complete


async def test_concurrent_no_complete_returns_last_response() -> None:
    inner = sequence_proxy([Response(data={"n": 1}, is_complete=False), BackendError("x")])
    middleware = concurrent_middleware(2, 1.0)
    assert middleware is not None
    response = await middleware(inner)(make_request())
    assert response.data == {"n": 1}
    assert not response.is_complete


async def test_concurrent_all_errors_raise() -> None:
    inner = sequence_proxy([BackendError("x")])
    middleware = concurrent_middleware(2, 1.0)
    assert middleware is not None
    with pytest.raises(BackendError, match="x"):
        await middleware(inner)(make_request())


async def test_concurrent_budget_is_75_percent_and_cancels_losers() -> None:
    slow = static_proxy({"a": 1}, delay=0.3)
    middleware = concurrent_middleware(2, 0.35)  # 75 % of 0.35 s < 0.3 s
    assert middleware is not None
    with pytest.raises(BackendError, match="deadline"):
        await middleware(slow)(make_request())
    await asyncio.sleep(0)
    assert slow.cancelled == 2
    middleware = concurrent_middleware(2, 0.5)  # 75 % of 0.5 s > 0.3 s
    assert middleware is not None
    assert (await middleware(static_proxy({"a": 1}, delay=0.3))(make_request())).data == {"a": 1}
