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
    """Call ``proxies`` in parallel and merge their data within ``timeout`` seconds."""
    backends = tuple(proxies)
    total = len(backends)

    async def merged(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[Response]] = [loop.create_task(p(request.clone())) for p in backends]
        data: dict[str, Any] = {}
        errors: list[BaseException] = []
        complete = True
        successes = 0
        pending: set[asyncio.Task[Response]] = set(tasks)
        deadline = loop.time() + timeout
        try:
            while pending:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                done, pending = await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    break
                for task in done:
                    if task.cancelled():
                        errors.append(BackendError("context canceled"))
                        continue
                    exc = task.exception()
                    if exc is not None:
                        errors.append(_as_error(exc))
                        continue
                    part = task.result()
                    successes += 1
                    data.update(part.data)
                    if not part.is_complete:
                        complete = False
                    errors.extend(part.errors)
        finally:
            for task in pending:
                task.cancel()
                task.add_done_callback(_forget)
        for _ in pending:
            errors.append(BackendError("context deadline exceeded"))
        if successes == 0:
            raise MergeError(errors or [BackendError("no backend answered")])
        return Response(data=data, is_complete=complete and not errors and successes == total, errors=tuple(errors))

    return merged


def _forget(task: asyncio.Task[Response]) -> None:
    """Retrieve the outcome of a task abandoned at the deadline (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()
