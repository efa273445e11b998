"""A coroutine run without a task: each step runs in the done callback of the future it waits on.

A merge's backends but the last ran as tasks started eagerly (:mod:`krakenpy.proxy.eager`). On 3.11
a task costs its creation, a place in asyncio's ``WeakSet`` of tasks, a scheduled first step (which
replays the eager one) and a wrapper on every step. A backend stack that never asks for its task
(:func:`~krakenpy.proxy.types.task_free`: no ``asyncio.timeout``, no deadline timer of its own) can
instead be stepped by :class:`Driven` the way a task steps it: its first step at once, each next one
when the future it yielded is done, in a context of its own; :meth:`Driven.cancel` cancels that
future, as ``Task.cancel`` does. No task is current while it runs (``current_task()`` is ``None``):
code that would bind a timer to "the current task" fails loudly instead of cancelling the caller.
The fast client runs what needs a task (the aiohttp fallback) in one of its own there.
"""

from __future__ import annotations

import asyncio
import contextvars
from asyncio.tasks import _enter_task, _leave_task
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from krakenpy.proxy.deadline import current_task

__all__ = ["Driven"]

T = TypeVar("T")


class Driven(Generic[T]):
    """``coro`` stepped by its futures' callbacks; ``on_done(self)`` runs when it ends."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, T],
        on_done: Callable[[Driven[T]], object],
    ) -> None:
        self._loop = loop
        self._coro = coro
        self.on_done = on_done
        self._waiting: asyncio.Future[Any] | None = None
        self._must_cancel = False
        self.context = contextvars.copy_context()  # as a task's: the caller's variables, its own changes
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        """Run the first step now (the request is written before the caller goes on)."""
        loop = self._loop
        caller = current_task(loop)  # no interpreted asyncio.current_task frame
        if caller is not None:
            _leave_task(loop, caller)
        try:
            self.context.run(self._step, None)
        finally:
            if caller is not None:
                _enter_task(loop, caller)

    def cancel(self) -> None:
        """Throw ``CancelledError`` into the coroutine at its next step (``Task.cancel``)."""
        if self.done:
            return
        waiting = self._waiting
        if waiting is not None and waiting.cancel():
            return  # its callback resumes the coroutine, and awaiting the future raises
        self._must_cancel = True

    def _wake(self, _: object = None) -> None:
        self._waiting = None
        if self._must_cancel:
            self._must_cancel = False
            self._step(asyncio.CancelledError())
        else:
            self._step(None)

    def _step(self, exc: BaseException | None) -> None:
        try:
            yielded = self._coro.send(None) if exc is None else self._coro.throw(exc)
        except StopIteration as stop:
            self.result = stop.value
            self._end()
            return
        except BaseException as error:  # as a task: recorded, read by the caller
            self.error = error
            self._end()
            if not isinstance(error, Exception | asyncio.CancelledError):
                raise  # KeyboardInterrupt, SystemExit: as a task re-raises them
            return
        if getattr(yielded, "_asyncio_future_blocking", None):
            yielded._asyncio_future_blocking = False
            self._waiting = yielded
            yielded.add_done_callback(self._wake, context=self.context)
        elif yielded is None:  # a bare yield (``asyncio.sleep(0)``): the next step in the next loop turn
            self._loop.call_soon(self._wake, context=self.context)
        else:  # what a task refuses too
            self._loop.call_soon(self._throw, RuntimeError(f"a driven coroutine yielded {yielded!r}"))

    def _throw(self, exc: BaseException) -> None:
        self.context.run(self._step, exc)

    def _end(self) -> None:
        self.done = True
        self._coro = None  # type: ignore[assignment]  # its frames go now, not with the merge
        # the callback is dropped as it runs: it holds the merge's list, which holds this object
        # (a reference cycle per backend, freed only by the cycle collector)
        on_done, self.on_done = self.on_done, _ended
        on_done(self)


def _ended(backend: Driven[Any]) -> None:
    """The ``on_done`` of a backend that has ended."""
