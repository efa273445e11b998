"""A merge's task-free backends stepped without a task (krakenpy.proxy.driven)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from krakenpy.backends.fastclient import FastClient
from krakenpy.errors import BackendError
from krakenpy.proxy.driven import Driven
from krakenpy.proxy.merging import merge_proxy
from krakenpy.proxy.types import Proxy, Request, Response, task_free
from tests.doubles import make_request, slow_proxy, static_proxy

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="caller")


def _free(proxy: Any) -> Any:
    return task_free(proxy)


async def test_driven_merge_runs_the_backend_without_a_task_in_its_own_context() -> None:
    seen: list[tuple[asyncio.Task[Any] | None, str]] = []

    async def backend(request: Request) -> Response:
        seen.append((asyncio.current_task(), marker.get()))
        marker.set("backend")  # stays in the backend's context
        await asyncio.sleep(0)  # a bare yield: stepped again in the next loop turn
        seen.append((asyncio.current_task(), marker.get()))
        await asyncio.sleep(0.01)  # a future
        seen.append((asyncio.current_task(), marker.get()))
        return Response(data={"a": 1})

    caller = asyncio.current_task()
    response = await merge_proxy([_free(backend), static_proxy({"b": 1})], timeout=1.0)(make_request())
    assert response.data == {"a": 1, "b": 1} and response.is_complete
    assert seen == [(None, "caller"), (None, "backend"), (None, "backend")]
    assert marker.get() == "caller"
    assert asyncio.current_task() is caller


async def test_driven_merge_gives_the_backend_no_deadline_or_timer() -> None:
    first, last = _free(static_proxy({"a": 1})), static_proxy({"b": 1})
    request = make_request()
    request.deadline = asyncio.get_running_loop().time() + 10  # later than the merge's (1 s)
    await merge_proxy([first, last], timeout=1.0)(request)
    sub = first.calls[0]
    assert (sub.deadline, sub.timer) == (0.0, None)
    assert last.calls[0].deadline == request.deadline


async def test_driven_merge_falls_back_to_a_task_when_the_request_deadline_comes_first() -> None:
    seen: list[asyncio.Task[Any] | None] = []

    async def backend(request: Request) -> Response:
        seen.append(asyncio.current_task())
        return Response(data={"a": 1})

    request = make_request()
    request.deadline = asyncio.get_running_loop().time() + 0.5  # earlier than the merge's (1 s)
    response = await merge_proxy([_free(backend), static_proxy({"b": 1})], timeout=1.0)(request)
    assert response.data == {"a": 1, "b": 1}
    assert seen[0] is not None and seen[0] is not asyncio.current_task()  # a task of its own, with its deadline


@pytest.mark.parametrize("slow_first", [True, False])
async def test_driven_merge_last_arrival_wins_collisions(slow_first: bool) -> None:
    slow, fast = _free(slow_proxy({"k": "slow"}, 0.05)), _free(static_proxy({"k": "fast"}))
    backends = [slow, fast, static_proxy({"x": 1})] if slow_first else [fast, slow, static_proxy({"x": 1})]
    assert (await merge_proxy(backends, timeout=1.0)(make_request())).data == {"k": "slow", "x": 1}
    # the inline (last) backend ending before a driven one is overwritten by it
    backends = [slow, static_proxy({"k": "inline"})]
    assert (await merge_proxy(backends, timeout=1.0)(make_request())).data == {"k": "slow"}
    backends = [fast, slow_proxy({"k": "inline"}, 0.05)]
    assert (await merge_proxy(backends, timeout=1.0)(make_request())).data == {"k": "inline"}


async def test_driven_merge_backends_run_concurrently() -> None:
    started = (asyncio.Event(), asyncio.Event(), asyncio.Event())

    def waiting(mine: int, data: dict[str, Any]) -> Proxy:
        async def backend(request: Request) -> Response:
            started[mine].set()
            for event in started:
                await event.wait()
            return Response(data=data)

        return backend

    backends = [_free(waiting(0, {"a": 1})), _free(waiting(1, {"b": 1})), waiting(2, {"c": 1})]
    response = await merge_proxy(backends, timeout=10.0)(make_request())
    assert response.data == {"a": 1, "b": 1, "c": 1} and response.is_complete


async def test_driven_merge_deadline_keeps_the_answers_and_cancels_the_rest() -> None:
    slow = _free(slow_proxy({"late": 1}, 5.0))
    proxy = merge_proxy([_free(static_proxy({"a": 1})), slow, static_proxy({"b": 1})], timeout=0.1)
    response = await proxy(make_request())
    assert response.data == {"a": 1, "b": 1}
    assert not response.is_complete
    assert [str(e) for e in response.errors] == ["context deadline exceeded"]
    await asyncio.sleep(0)
    assert slow.cancelled == 1
    # the inline backend cut off too: only what ended counts
    proxy = merge_proxy([_free(static_proxy({"a": 1})), slow, slow_proxy({"b": 1}, 5.0)], timeout=0.1)
    response = await proxy(make_request())
    assert response.data == {"a": 1}
    assert [str(e) for e in response.errors] == ["context deadline exceeded"] * 2


async def test_driven_merge_failures_and_a_backend_cancelled_by_itself() -> None:
    async def fails(request: Request) -> Response:
        raise BackendError("at once")

    async def cancelled(request: Request) -> Response:
        await asyncio.sleep(0)
        raise asyncio.CancelledError

    backends = [_free(fails), _free(cancelled), static_proxy({"b": 1})]
    response = await merge_proxy(backends, timeout=1.0)(make_request())
    assert response.data == {"b": 1}
    assert sorted(str(e) for e in response.errors) == ["at once", "context canceled"]


async def test_driven_cancel_reaches_the_coroutine_whatever_it_waits_on() -> None:
    loop = asyncio.get_running_loop()
    ended: list[Driven[str]] = []
    cleaned: list[str] = []

    async def work(future: asyncio.Future[None]) -> str:
        try:
            await future
            return "answered"
        finally:
            cleaned.append("yes")

    future: asyncio.Future[None] = loop.create_future()
    driven = Driven(loop, work(future), ended.append)
    driven.start()
    driven.cancel()  # the future it waits on is cancelled
    await asyncio.sleep(0)
    assert ended == [driven] and isinstance(driven.error, asyncio.CancelledError) and cleaned == ["yes"]
    # the future done, its callback not yet run: the cancellation is thrown in at the next step
    future = loop.create_future()
    ended.clear()
    driven = Driven(loop, work(future), ended.append)
    driven.start()
    future.set_result(None)
    driven.cancel()
    await asyncio.sleep(0)
    assert ended == [driven] and isinstance(driven.error, asyncio.CancelledError)
    driven.cancel()  # ended: nothing happens


async def test_driven_fast_client_fallback_runs_in_a_task_of_its_own(
    backend: Callable[[web.Application], Awaitable[str]],
) -> None:
    # a URL with user info goes to aiohttp's client, whose timers need a current task
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/x", answer)
    host = await backend(app)
    url = host.replace("http://", "http://user:secret@") + "/x"
    client = FastClient()
    assert client.task_free
    loop = asyncio.get_running_loop()
    ended: list[Driven[Any]] = []
    done = loop.create_future()

    def end(driven: Driven[Any]) -> None:
        ended.append(driven)
        done.set_result(None)

    driven = Driven(loop, client.request("GET", url, [], None), end)
    driven.start()
    await done
    await client.close()
    assert driven.error is None and driven.result is not None
    assert driven.result.status == 200 and driven.result.body == b'{"ok": true}'


@pytest.mark.parametrize("pause", [False, True])
async def test_driven_merge_leaves_no_reference_cycle(pause: bool) -> None:
    import gc

    async def paused(request: Request) -> Response:
        await asyncio.sleep(0)  # still running when the inline backend ends: the merge waits for it
        return Response(data={"p": 1})

    first = _free(paused) if pause else _free(static_proxy({"a": 1}))
    backends = [first, _free(static_proxy({"b": 1})), static_proxy({"c": 1})]
    merge = merge_proxy(backends, timeout=1.0)
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            assert (await merge(make_request())).is_complete
        alive = [o for o in gc.get_objects() if isinstance(o, Driven)]
    finally:
        gc.enable()
    assert alive == []  # each merge's backends freed by reference counting, without the collector
