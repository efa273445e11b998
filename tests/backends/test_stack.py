"""The per-backend stack's deadline: the handler's request timer shared in its own task, a timer of
its own elsewhere."""

from __future__ import annotations

import asyncio

import pytest

from krakenpy.backends import build_backend
from krakenpy.errors import BackendError
from krakenpy.proxy import deadline
from krakenpy.proxy.types import Proxy, Request, Response
from tests.doubles import make_request
from tests.proxy.helpers import endpoint_config


def _pending_deadlines() -> list[float]:
    """The deadlines armed and pending on this thread's loop (the request timer's among them). Read
    from the timers' FIFOs rather than by patching ``arm``: the deadline layer is compiled with it, and
    a compiled module calls its own functions natively."""
    state = deadline._current
    assert state is not None
    pending = 0  # deadline._PENDING (a Final constant, not an attribute of the compiled module)
    return [t.when for fifo in state.fifos.values() for t in fifo.entries if t.state == pending]


def _stack(delay: float) -> tuple[list[Request], list[list[float]], Proxy]:
    calls: list[Request] = []
    armed: list[list[float]] = []  # the pending deadlines as each call began

    async def executor(request: Request) -> Response:
        calls.append(request)
        armed.append(_pending_deadlines())
        await asyncio.sleep(delay)
        return Response(data={"ok": True})

    backend = endpoint_config({"endpoint": "/x", "backend": [{"url_pattern": "/b"}]}).backends[0]
    return calls, armed, build_backend(backend, executor)


def _timed_request(span: float, grace: float) -> tuple[Request, deadline.Timer]:
    timer = deadline.arm_request(span, grace)
    request = make_request()
    request.deadline, request.timer = timer.when, timer
    return request, timer


async def test_backend_stack_shares_the_request_timer_in_the_handler_task() -> None:
    calls, armed, proxy = _stack(10)
    request, timer = _timed_request(0.05, 1.0)
    try:
        with pytest.raises(BackendError, match="context deadline exceeded"):
            await proxy(request)
        assert len(calls) == 1 and calls[0].url.endswith("/b")
        assert armed == [[timer.when]]  # the request's timer only: none of its own
        with pytest.raises(BackendError, match="context deadline exceeded"):
            await proxy(request)  # a later call (a sequence) ends at once
        assert len(calls) == 1
        await asyncio.sleep(0.02)  # within the grace the handler is not cancelled
    finally:
        deadline.disarm(timer)
    assert not deadline.expired(timer)


async def test_backend_stack_in_another_task_arms_its_own_timer() -> None:
    _, armed, proxy = _stack(10)
    request, timer = _timed_request(0.05, 1.0)
    try:
        task = asyncio.ensure_future(proxy(request.clone()))
        with pytest.raises(BackendError, match="context deadline exceeded"):
            await task
        assert armed == [[timer.when, timer.when]]  # the request's timer and one of its own
        current = asyncio.current_task()
        assert current is not None and current.cancelling() == 0  # outside a backend call: not cancelled
    finally:
        deadline.disarm(timer)


async def test_backend_stack_quick_call_under_the_request_timer() -> None:
    _, _, proxy = _stack(0)
    request, timer = _timed_request(5.0, 0.05)
    try:
        assert (await proxy(request)).data == {"ok": True}
        assert timer.guards == 0
    finally:
        deadline.disarm(timer)
