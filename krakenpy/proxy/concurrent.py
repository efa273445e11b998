"""``concurrent_calls``: N identical calls per backend, the first complete success wins
(lura ``proxy/concurrent.go``). The calls share 75 % of the endpoint timeout."""

from __future__ import annotations

import asyncio

from krakenpy.errors import BackendError
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

__all__ = ["concurrent_middleware"]


def concurrent_middleware(calls: int, timeout: float) -> Middleware | None:
    """``None`` for a single call."""
    if calls <= 1:
        return None
    budget = timeout * 0.75

    def middleware(next_proxy: Proxy) -> Proxy:
        async def concurrent(request: Request) -> Response:
            loop = asyncio.get_running_loop()
            tasks: list[asyncio.Task[Response]] = [loop.create_task(next_proxy(request.clone())) for _ in range(calls)]
            last_response: Response | None = None
            last_error: BaseException | None = None
            pending = set(tasks)
            deadline = loop.time() + budget
            try:
                while pending:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    done, pending = await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        if task.cancelled():
                            continue
                        exc = task.exception()
                        if exc is not None:
                            last_error = exc
                            continue
                        response = task.result()
                        if response.is_complete:
                            return response
                        last_response = response
            finally:
                for task in pending:
                    task.cancel()
                    task.add_done_callback(_forget)
            if last_response is not None:
                return last_response
            if last_error is not None:
                raise last_error
            raise BackendError("context deadline exceeded")

        return concurrent

    return middleware


def _forget(task: asyncio.Task[Response]) -> None:
    """Retrieve the outcome of a task abandoned early (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()
