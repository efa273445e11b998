"""The per-backend stack's deadline: the handler's request timer shared in its own task, a timer of
its own elsewhere."""

from __future__ import annotations

import asyncio

import pytest

from krakenpy import backends
from krakenpy.backends import build_backend
from krakenpy.errors import BackendError
from krakenpy.proxy import deadline
from krakenpy.proxy.types import Proxy, Request, Response
from tests.doubles import make_request
from tests.proxy.helpers import endpoint_config


def _stack(delay: float) -> tuple[list[Request], Proxy]:
    calls: list[Request] = []

    async def executor(request: Request) -> Response:
        calls.append(request)
        await asyncio.sleep(delay)
        return Response(data={"ok": True})

    backend = endpoint_config({"endpoint": "/x", "backend": [{"url_pattern": "/b"}]}).backends[0]
    return calls, build_backend(backend, executor)


def _timed_request(span: float, grace: float) -> tuple[Request, deadline.Timer]:
    timer = deadline.arm_request(span, grace)
    request = make_request()
    request.deadline, request.timer = timer.when, timer
    return request, timer


def _count_arms(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    armed: list[float] = []
    arm = deadline.arm

    def counting(when: float, span: float) -> deadline.Timer:
        armed.append(when)
        return arm(when, span)

    monkeypatch.setattr(backends, "arm", counting)
    return armed


async def test_backend_stack_shares_the_request_timer_in_the_handler_task(monkeypatch: pytest.MonkeyPatch) -> None:
    armed = _count_arms(monkeypatch)
    calls, proxy = _stack(10)
    request, timer = _timed_request(0.05, 1.0)
    try:
        with pytest.raises(BackendError, match="context deadline exceeded"):
            await proxy(request)
        assert len(calls) == 1 and calls[0].url.endswith("/b")
        assert armed == []  # no timer of its own
        with pytest.raises(BackendError, match="context deadline exceeded"):
            await proxy(request)  # a later call (a sequence) ends at once
        assert len(calls) == 1
        await asyncio.sleep(0.02)  # within the grace the handler is not cancelled
    finally:
        deadline.disarm(timer)
    assert not deadline.expired(timer)


async def test_backend_stack_in_another_task_arms_its_own_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    armed = _count_arms(monkeypatch)
    _, proxy = _stack(10)
    request, timer = _timed_request(0.05, 1.0)
    try:
        task = asyncio.ensure_future(proxy(request.clone()))
        with pytest.raises(BackendError, match="context deadline exceeded"):
            await task
        assert armed == [timer.when]
        current = asyncio.current_task()
        assert current is not None and current.cancelling() == 0  # outside a backend call: not cancelled
    finally:
        deadline.disarm(timer)


async def test_backend_stack_quick_call_under_the_request_timer() -> None:
    _, proxy = _stack(0)
    request, timer = _timed_request(5.0, 0.05)
    try:
        assert (await proxy(request)).data == {"ok": True}
        assert timer.guards == 0
    finally:
        deadline.disarm(timer)
