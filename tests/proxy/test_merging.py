from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from krakenpy.errors import BackendError
from krakenpy.proxy.merging import MergeError, merge_proxy
from krakenpy.proxy.types import Proxy, Request, Response, task_free
from tests.doubles import failing_proxy, make_request, slow_proxy, static_proxy


async def test_merging_all_complete_is_complete() -> None:
    proxy = merge_proxy([static_proxy({"a": 1}), static_proxy({"b": 2})], timeout=1.0)
    response = await proxy(make_request())
    assert response.data == {"a": 1, "b": 2}
    assert response.is_complete
    assert response.errors == ()


async def test_merging_last_arrival_wins_collisions() -> None:
    # the slow backend arrives last, so it overwrites the colliding key whatever its position
    proxy = merge_proxy([slow_proxy({"k": "slow", "s": 1}, 0.05), static_proxy({"k": "fast", "f": 1})], timeout=1.0)
    response = await proxy(make_request())
    assert response.data == {"k": "slow", "s": 1, "f": 1}
    proxy = merge_proxy([static_proxy({"k": "fast"}), slow_proxy({"k": "slow"}, 0.05)], timeout=1.0)
    assert (await proxy(make_request())).data == {"k": "slow"}


async def test_merging_merge_is_shallow() -> None:
    proxy = merge_proxy([static_proxy({"o": {"a": 1}}), slow_proxy({"o": {"b": 2}}, 0.02)], timeout=1.0)
    assert (await proxy(make_request())).data == {"o": {"b": 2}}


async def test_merging_one_failure_is_partial() -> None:
    proxy = merge_proxy([static_proxy({"a": 1}), failing_proxy()], timeout=1.0)
    response = await proxy(make_request())
    assert response.data == {"a": 1}
    assert not response.is_complete
    assert len(response.errors) == 1
    assert "backend failed" in str(response.errors[0])


async def test_merging_incomplete_part_makes_incomplete() -> None:
    proxy = merge_proxy([static_proxy({"a": 1}), static_proxy({"b": 1}, complete=False)], timeout=1.0)
    response = await proxy(make_request())
    assert response.data == {"a": 1, "b": 1}
    assert not response.is_complete


async def test_merging_all_failed_raises_merge_error() -> None:
    proxy = merge_proxy([failing_proxy(BackendError("one")), failing_proxy(BackendError("two"))], timeout=1.0)
    with pytest.raises(MergeError) as info:
        await proxy(make_request())
    assert sorted(str(info.value).split("\n")) == ["one", "two"]
    assert info.value.status == 500


async def test_merging_timeout_counts_pending_as_failed_and_cancels_them() -> None:
    slow = slow_proxy({"late": 1}, 5.0)
    proxy = merge_proxy([static_proxy({"a": 1}), slow], timeout=0.1)
    response = await proxy(make_request())
    assert response.data == {"a": 1}
    assert not response.is_complete
    assert any("deadline" in str(e) for e in response.errors)
    await asyncio.sleep(0)
    assert slow.cancelled == 1


async def test_merging_everything_timed_out_raises() -> None:
    proxy = merge_proxy([slow_proxy({"a": 1}, 5.0), slow_proxy({"b": 1}, 5.0)], timeout=0.05)
    with pytest.raises(MergeError, match="deadline"):
        await proxy(make_request())


async def test_merging_each_backend_gets_its_own_request_copy() -> None:
    first, second = static_proxy({}), static_proxy({})
    request = make_request(params={"Id": "1"})
    await merge_proxy([first, second], timeout=1.0)(request)
    assert first.calls[0] is not second.calls[0]
    assert first.calls[0].params is not second.calls[0].params
    assert first.calls[0].params == {"Id": "1"}


async def test_merging_backends_run_concurrently() -> None:
    # each backend answers only once the other one has started: only possible if they overlap
    started = (asyncio.Event(), asyncio.Event())

    def waiting(mine: int, data: dict[str, Any]) -> Proxy:
        answer = static_proxy(data)

        async def backend(request: Request) -> Response:
            started[mine].set()
            await started[1 - mine].wait()
            return await answer(request)

        return backend

    proxy = merge_proxy([waiting(0, {"a": 1}), waiting(1, {"b": 1})], timeout=10.0)
    response = await proxy(make_request())
    assert response.data == {"a": 1, "b": 1}
    assert response.is_complete


async def test_merging_timeout_with_the_slow_backend_first() -> None:
    slow = slow_proxy({"late": 1}, 5.0)
    proxy = merge_proxy([slow, static_proxy({"a": 1})], timeout=0.1)
    response = await proxy(make_request())
    assert response.data == {"a": 1}
    assert not response.is_complete
    await asyncio.sleep(0)
    assert slow.cancelled == 1


@pytest.mark.parametrize("driven", [False, True])
async def test_merging_outside_cancellation_cancels_every_backend(driven: bool) -> None:
    # driven: the first backend is task-free, so the merge steps it without a task (proxy/driven.py)
    first, last = slow_proxy({"a": 1}, 5.0), slow_proxy({"b": 1}, 5.0)
    if driven:
        first = task_free(first)
    task = asyncio.ensure_future(merge_proxy([first, last], timeout=1.0)(make_request()))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert (first.cancelled, last.cancelled) == (1, 1)


async def test_merging_every_backend_starts_before_anything_is_awaited() -> None:
    # the task backends' first steps run eagerly: their requests go out in the caller's loop step
    started: list[str] = []

    def starting(name: str, data: dict[str, Any]) -> Proxy:
        answer = static_proxy(data)

        async def backend(request: Request) -> Response:
            started.append(name)
            if name == "last":
                assert started == ["first", "second", "last"]  # before the inline one awaited anything
            await asyncio.sleep(0)
            return await answer(request)

        return backend

    proxy = merge_proxy(
        [starting("first", {"a": 1}), starting("second", {"b": 1}), starting("last", {"c": 1})], timeout=1.0
    )
    response = await proxy(make_request())
    assert response.data == {"a": 1, "b": 1, "c": 1}
    assert response.is_complete


async def test_merging_eager_backend_runs_as_its_own_task_in_its_own_context() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="caller")
    seen: list[tuple[asyncio.Task[Any] | None, str]] = []

    async def backend(request: Request) -> Response:
        seen.append((asyncio.current_task(), marker.get()))
        marker.set("backend")  # stays in the backend's context
        await asyncio.sleep(0)
        seen.append((asyncio.current_task(), marker.get()))
        return Response(data={"a": 1})

    caller = asyncio.current_task()
    response = await merge_proxy([backend, static_proxy({"b": 1})], timeout=1.0)(make_request())
    assert response.data == {"a": 1, "b": 1}
    (first_task, first_mark), (later_task, later_mark) = seen
    assert first_task is not None and first_task is later_task and first_task is not caller
    assert (first_mark, later_mark) == ("caller", "backend")
    assert marker.get() == "caller"
    assert asyncio.current_task() is caller


async def test_merging_eager_backend_that_fails_or_answers_at_once() -> None:
    async def fails(request: Request) -> Response:
        raise BackendError("at once")

    async def answers(request: Request) -> Response:
        return Response(data={"a": 1})

    response = await merge_proxy([fails, answers, static_proxy({"b": 1})], timeout=1.0)(make_request())
    assert response.data == {"a": 1, "b": 1}
    assert not response.is_complete
    assert [str(e) for e in response.errors] == ["at once"]


async def test_merging_task_backend_cancelled_from_outside_is_context_canceled() -> None:
    holder: list[asyncio.Task[Any]] = []

    async def cancelled_soon(request: Request) -> Response:
        task = asyncio.current_task()
        assert task is not None
        holder.append(task)
        await asyncio.sleep(10)
        return Response(data={"late": 1})

    async def inline(request: Request) -> Response:
        await asyncio.sleep(0.01)
        holder[0].cancel()  # neither the merge's deadline nor the caller's cancellation
        return Response(data={"b": 1})

    response = await merge_proxy([cancelled_soon, inline], timeout=1.0)(make_request())
    assert response.data == {"b": 1}
    assert [str(e) for e in response.errors] == ["context canceled"]


async def test_merging_deadline_while_awaiting_a_task_backend_is_deadline_exceeded() -> None:
    # the caller awaits the task backend when the deadline strikes: it is pending, not "canceled"
    slow = slow_proxy({"late": 1}, 5.0)
    proxy = merge_proxy([slow, slow_proxy({"x": 1}, 5.0), static_proxy({"a": 1})], timeout=0.05)
    response = await proxy(make_request())
    assert response.data == {"a": 1}
    assert [str(e) for e in response.errors] == ["context deadline exceeded"] * 2
    await asyncio.sleep(0)
    assert slow.cancelled == 1


async def test_merging_task_backends_get_no_deadline_of_their_own_when_the_merge_ends_first() -> None:
    now = asyncio.get_running_loop().time()
    first, last = static_proxy({"a": 1}), static_proxy({"b": 1})
    proxy = merge_proxy([first, last], timeout=1.0)
    request = make_request()
    request.deadline = now + 10  # later than the merge's own deadline (1 s from now)
    await proxy(request)
    assert first.calls[0].deadline == 0.0  # the merge's deadline cancels the task first
    assert last.calls[0].deadline == request.deadline  # the inline backend keeps the request's
    request.deadline = asyncio.get_running_loop().time() + 0.5  # earlier than the merge's: kept
    await proxy(request)
    assert first.calls[1].deadline == request.deadline


async def test_merging_backends_that_keep_maps_share_them_and_others_get_a_clone() -> None:
    from krakenpy.proxy.types import keeps_maps

    sharing, cloning = keeps_maps(static_proxy({"a": 1})), static_proxy({"b": 2})
    request = make_request(params={"Id": "1"}, headers={"X-A": ["1"]})
    response = await merge_proxy([sharing, cloning], timeout=1.0)(request)
    assert response.data == {"a": 1, "b": 2}
    shared, cloned = sharing.calls[0], cloning.calls[0]
    assert shared is not request and shared.headers is request.headers and shared.params is request.params
    assert cloned.headers is not request.headers and cloned.headers == request.headers
    assert cloned.params is not request.params


async def test_merging_default_backends_share_maps_and_each_gets_the_request_id(
    backend: Callable[[web.Application], Awaitable[str]],
    gateway: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    seen: list[tuple[str, CIMultiDict[str]]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.copy()))
        return web.json_response({request.path.strip("/"): 1})

    app = web.Application()
    app.router.add_get("/{name}", record)
    host = await backend(app)
    merge = {"endpoint": "/m", "backend": [{"url_pattern": "/a"}, {"url_pattern": "/b"}]}
    filtered = {
        "endpoint": "/f",
        "input_headers": ["X-Keep", "X-Other"],
        "backend": [{"url_pattern": "/a"}, {"url_pattern": "/b", "input_headers": ["X-Other"]}],
    }
    client = await gateway({"version": 3, "host": [host], "endpoints": [merge, filtered]})
    response = await client.get("/m", headers={"X-Keep": "1"})
    assert response.status == 200 and await response.json() == {"a": 1, "b": 1}
    rid = response.headers["X-Request-Id"]
    assert [h["X-Request-Id"] for _, h in seen] == [rid, rid]  # one id, written into each backend's copy
    seen.clear()
    response = await client.get("/f", headers={"X-Keep": "1"})
    assert response.status == 200
    sent = {path: (h.get("X-Keep"), h["X-Request-Id"]) for path, h in seen}
    rid = response.headers["X-Request-Id"]
    assert sent == {"/a": ("1", rid), "/b": (None, rid)}  # the backend's own header filter still applies
