"""A future whose result wakes the task awaiting it at once, in the same loop step.

An ``asyncio.Future`` schedules its done callbacks with ``call_soon``: the task that awaits an
upstream answer resumes one loop step after the answer was read (a ``Handle``, a pass through the
ready queue and, when nothing else is pending, one more ``epoll_wait``). The fast client's
connection sets its exchange's result from ``data_received``, a transport callback where no task
runs: resuming the awaiting task right there is what the loop would do next anyway. P1 through the
server, one connection: −4.8 k instructions per request (−1.0 %, one loop step less); with 8
connections and on P2 no change beyond the noise (``bench.instructions --mode server``, 2026-12-01).

Only the awaiting task's wake-up (the one callback a task adds) runs at once, and only from outside
any task (a task cannot run inside another); an exception, a cancellation, or a result set from
inside a task schedule it as usual. Everything else is ``asyncio.Future``'s.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

__all__ = ["PromptFuture"]

_current_task = asyncio.current_task


class PromptFuture(asyncio.Future[None]):
    """``asyncio.Future[None]`` whose ``set_result`` runs the awaiting task's wake-up at once."""

    __slots__ = ("_wake", "_wake_context")

    def __init__(self, *, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self._wake: Callable[[Any], object] | None = None
        self._wake_context: contextvars.Context | None = None

    def add_done_callback(self, fn: Callable[[Any], object], *, context: contextvars.Context | None = None) -> None:
        # the first callback is kept here (the awaiting task's wake-up); any other is the Future's
        if self._wake is None and not self.done():
            self._wake, self._wake_context = fn, context or contextvars.copy_context()
            return
        super().add_done_callback(fn, context=context)

    def remove_done_callback(self, fn: Callable[[Any], object]) -> int:
        if self._wake is not None and self._wake == fn:
            self._wake = self._wake_context = None
            return 1 + super().remove_done_callback(fn)
        return super().remove_done_callback(fn)

    def set_result(self, result: None) -> None:
        super().set_result(result)
        wake, context = self._wake, self._wake_context
        if wake is None or context is None:
            return
        self._wake = self._wake_context = None
        loop = self.get_loop()
        if _current_task(loop) is None:
            context.run(wake, self)
        else:
            loop.call_soon(wake, self, context=context)

    def set_exception(self, exception: type | BaseException) -> None:
        super().set_exception(exception)
        self._schedule()

    def cancel(self, msg: Any | None = None) -> bool:
        if not super().cancel(msg=msg):
            return False
        self._schedule()
        return True

    def _schedule(self) -> None:
        wake, context = self._wake, self._wake_context
        if wake is not None:
            self._wake = self._wake_context = None
            self.get_loop().call_soon(wake, self, context=context)
