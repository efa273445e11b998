"""Background tasks that stay referenced until they finish (``asyncio.create_task`` is banned)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["background_tasks", "cancel_and_wait", "loop_ended", "on_loop_end", "spawn"]

_tasks: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Start ``coro`` in the background and keep a reference until it is done."""
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


def background_tasks() -> frozenset[asyncio.Task[Any]]:
    """The fire-and-forget tasks still running (shadow calls), for graceful shutdown."""
    return frozenset(_tasks)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background loop and wait until it has stopped (its cancellation is not an error)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


#: run when a loop krakenpy ran has ended: its pending timers never fire, so what waits on one (a
#: log batch) is finished here
_LOOP_END: list[Callable[[], None]] = []


def on_loop_end(hook: Callable[[], None]) -> None:
    """Call ``hook`` after each loop :func:`loop_ended` reports (once registered, for the process)."""
    _LOOP_END.append(hook)


def loop_ended() -> None:
    """A loop has ended (``asyncio.run`` returned): run the hooks."""
    for hook in tuple(_LOOP_END):
        hook()
