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
from krakenpy.proxy.deadline import arm, disarm, expired
from krakenpy.proxy.types import Proxy, Request, Response

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

    The last backend runs inline in the caller's task (one task and one loop step less); the
    others run as tasks. Outcomes are recorded as they complete, which is the merge order.
    """
    backends = tuple(proxies)
    total = len(backends)
    others, last = backends[:-1], backends[-1]

    async def merged(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        outcomes: list[Response | BaseException] = []
        all_in = loop.create_future()

        def on_done(task: asyncio.Task[Response]) -> None:
            if task.cancelled():
                outcomes.append(BackendError("context canceled"))
            else:
                exc = task.exception()
                outcomes.append(_as_error(exc) if exc is not None else task.result())
            if len(outcomes) == total and not all_in.done():
                all_in.set_result(None)

        tasks = [loop.create_task(p(request.clone())) for p in others]
        for task in tasks:
            task.add_done_callback(on_done)
        timer = arm(loop.time() + timeout, timeout)
        try:
            try:
                outcomes.append(await last(request.clone()))
            except Exception as exc:
                outcomes.append(_as_error(exc))
            if len(outcomes) < total:
                await all_in
        except asyncio.CancelledError:
            if not expired(timer):
                _abandon(tasks)
                raise
        finally:
            disarm(timer)
        done = list(outcomes)  # a snapshot: a late backend must not join after the deadline
        if len(done) < total:
            _abandon(tasks)
        data: dict[str, Any] = {}
        errors: list[BaseException] = []
        complete = True
        successes = 0
        for outcome in done:
            if isinstance(outcome, BaseException):
                errors.append(outcome)
                continue
            successes += 1
            data.update(outcome.data)
            if not outcome.is_complete:
                complete = False
            errors.extend(outcome.errors)
        errors.extend(BackendError("context deadline exceeded") for _ in range(total - len(done)))
        if successes == 0:
            raise MergeError(errors or [BackendError("no backend answered")])
        return Response(data=data, is_complete=complete and not errors and successes == total, errors=tuple(errors))

    return merged


def _abandon(tasks: Sequence[asyncio.Task[Response]]) -> None:
    for task in tasks:
        if not task.done():
            task.cancel()
            task.add_done_callback(_forget)


def _forget(task: asyncio.Task[Response]) -> None:
    """Retrieve the outcome of a task abandoned at the deadline (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()
