"""Parallel merge of several backends (lura ``proxy/merging.go``).

- Every backend gets its own copy of the request and runs concurrently.
- The merge has 85 % of the endpoint timeout; backends still pending then count as failed.
- Parts are merged shallowly in *arrival* order: a later part overwrites colliding keys.
- Complete only if every backend answered without error with a complete part.
- No part at all: raise (the router renders 500, or the error's own status).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from krakenpy.errors import BackendError, PipelineError
from krakenpy.proxy.deadline import DEADLINE, arm, disarm, expired
from krakenpy.proxy.driven import Driven
from krakenpy.proxy.eager import start_task
from krakenpy.proxy.types import Proxy, Request, Response, is_task_free, keeps_request_maps

__all__ = ["MergeError", "merge_proxy"]


class MergeError(PipelineError):
    """Every backend failed; ``errors`` holds each backend's error."""

    def __init__(self, errors: Sequence[BaseException]) -> None:
        super().__init__("\n".join(str(e) or type(e).__name__ for e in errors))
        self.errors = tuple(errors)


def _as_error(exc: BaseException) -> BaseException:
    if isinstance(exc, TimeoutError | asyncio.CancelledError):
        return BackendError("context deadline exceeded")
    return exc


def merge_proxy(proxies: Sequence[Proxy], *, timeout: float) -> Proxy:
    """Call ``proxies`` in parallel and merge their data within ``timeout`` seconds.

    The last backend runs inline in the caller's task. The others, when their stacks need no task
    (:func:`~krakenpy.proxy.types.task_free`, the plain HTTP stack), are stepped without one
    (:class:`~krakenpy.proxy.driven.Driven`: no task object, no scheduled first step, no wake-up of a
    task); else they run as tasks started eagerly that the caller awaits directly. Either way every
    request is written before anything is awaited. The merge order, arrival order, is the order the
    backends ended in (a task's ``arrived.append`` callback; a single task is placed when the inline
    backend returned: before it if it had ended, else after). The merge's deadline (85 % of the
    endpoint's) ends the others, so they arm no deadline of their own, unless the endpoint layer took
    so long that the request's deadline comes first (then they run as tasks, each with its timer).
    """
    backends = tuple(proxies)
    total = len(backends)
    others, last = backends[:-1], backends[-1]
    # each backend's request: sharing the caller's maps when its stack never changes them in place
    copies = tuple(Request.share if keeps_request_maps(p) else Request.clone for p in backends)
    others_copied = tuple(zip(others, copies[:-1], strict=True))
    copy_last = copies[-1]
    drive = all(is_task_free(p) for p in others)

    async def merged(request: Request) -> Response:
        shared = request.timer
        # the handler's timer knows the loop: get_running_loop() is a getpid syscall on 3.11
        loop = shared.task.get_loop() if shared is not None else asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not drive or (request.deadline and deadline > request.deadline):
            return await _tasked(loop, request, deadline)
        # the driven path written out here: a coroutine layer costs ~1.3 k instructions per call
        arrived: list[Driven[Response] | None] = []  # in the order they ended; None: the inline backend
        driven = []
        for proxy, copy in others_copied:
            sub = copy(request)
            sub.deadline, sub.timer = 0.0, None  # the merge's deadline ends it: no timer of its own
            backend = Driven(loop, proxy(sub), arrived.append)
            driven.append(backend)
            backend.start()
        inline: Response | BaseException | None = None
        timer = arm(deadline, timeout)
        try:
            try:
                inline = await last(copy_last(request))
            except Exception as exc:
                inline = exc
            arrived.append(None)
            if len(arrived) < total:
                await _all_done(loop, driven, arrived, total)
        except asyncio.CancelledError:
            if not expired(timer):
                _cancel(driven)
                raise
        finally:
            disarm(timer)
        if len(arrived) < total:  # the deadline: those that ended count, the others are ended
            _cancel(driven)
        return _merge(arrived, inline, total)

    async def _tasked(loop: asyncio.AbstractEventLoop, request: Request, deadline: float) -> Response:
        arrived: list[asyncio.Task[Response] | None] = []  # None: the inline backend
        tasks = [start_task(loop, p(_task_request(copy(request), deadline))) for p, copy in others_copied]
        if len(tasks) > 1:
            for task in tasks:
                task.add_done_callback(arrived.append)
        inline: Response | BaseException | None = None
        waiting: asyncio.Task[Response] | None = None
        timer = arm(deadline, timeout)
        try:
            try:
                inline = await last(copy_last(request))
            except Exception as exc:
                inline = exc
            if len(tasks) == 1 and tasks[0].done():
                arrived.append(tasks[0])  # one task needs no callback: it ended before the inline one, or after
            arrived.append(None)
            for waiting in tasks:
                if not waiting.done():
                    try:
                        await waiting  # its outcome is read from the task below
                    except asyncio.CancelledError:
                        if _cancelling():
                            raise  # the caller is being cancelled (awaiting passed it on to the task)
                    except Exception:
                        pass
            waiting = None
        except asyncio.CancelledError:
            if not expired(timer):
                _abandon(tasks)
                raise
        finally:
            disarm(timer)
        if waiting is None and len(arrived) == total:
            return _merge(arrived, inline, total)  # every backend recorded, none cut off: the usual case
        # a snapshot: a late backend must not join after the deadline. A task that ended before it
        # whose callback has not run yet counts (after the recorded ones); the task being awaited at
        # the deadline was cancelled through the await: it counts as pending, as every task then.
        done = [t for t in arrived if t is None or t is not waiting]
        done.extend(t for t in tasks if t.done() and t is not waiting and t not in arrived)
        if len(done) < total:
            _abandon(tasks, DEADLINE)
        return _merge(done, inline, total)

    return merged


async def _all_done(
    loop: asyncio.AbstractEventLoop, driven: Sequence[Driven[Response]], arrived: list[Any], total: int
) -> None:
    """Wait until every driven backend ended (each one's end is appended to ``arrived``)."""
    waiter: asyncio.Future[None] = loop.create_future()

    def ended(backend: Driven[Response]) -> None:
        arrived.append(backend)
        if len(arrived) == total and not waiter.done():
            waiter.set_result(None)

    for backend in driven:
        if not backend.done:  # the end of the last one wakes the merge
            backend.on_done = ended
    await waiter


def _cancel(driven: Sequence[Driven[Response]]) -> None:
    # no deadline message: a driven stack has no client layer (gateway.py: client_task_free) to read it
    for backend in driven:
        backend.cancel()  # its end is recorded but no longer read: the merge's snapshot is taken


def _task_request(sub: Request, deadline: float) -> Request:
    if deadline <= sub.deadline:
        sub.deadline = 0.0  # the merge's deadline comes first and cancels the task: no timer of its own
    return sub


def _cancelling() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def _merge(
    done: Sequence[asyncio.Task[Response] | Driven[Response] | None],
    inline: Response | BaseException | None,
    total: int,
) -> Response:
    """Merge the outcomes in arrival order (``None`` stands for the inline backend's ``inline``)."""
    data: dict[str, Any] = {}
    errors: list[BaseException] = []
    complete = True
    successes = 0
    for task in done:
        outcome: Response | BaseException | None
        if task is None:
            outcome = inline
        elif isinstance(task, Driven):
            error = task.error
            if isinstance(error, asyncio.CancelledError):
                outcome = BackendError("context canceled")  # as a cancelled task
            else:
                outcome = error or task.result
        elif task.cancelled():
            outcome = BackendError("context canceled")
        else:
            outcome = task.exception() or task.result()
        if outcome is None:
            continue
        if isinstance(outcome, BaseException):
            errors.append(_as_error(outcome))
            continue
        successes += 1
        data.update(outcome.data)
        if not outcome.is_complete:
            complete = False
        errors.extend(outcome.errors)
    if len(done) < total:
        errors.extend(BackendError("context deadline exceeded") for _ in range(total - len(done)))
    if successes == 0:
        raise MergeError(errors or [BackendError("no backend answered")])
    return Response(data=data, is_complete=complete and not errors and successes == total, errors=tuple(errors))


def _abandon(tasks: Sequence[asyncio.Task[Response]], msg: str | None = None) -> None:
    for task in tasks:
        if not task.done():
            task.cancel(msg)
            task.add_done_callback(_forget)


def _forget(task: asyncio.Task[Response]) -> None:
    """Retrieve the outcome of a task abandoned at the deadline (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()
