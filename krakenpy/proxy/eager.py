"""Tasks whose first step runs at once, in the caller's turn (Python 3.12's eager tasks, on 3.11 too).

A merge runs every backend but one as a task. Created the usual way, a task's first step waits for
the next loop step, so the backends' requests went out one loop step apart and their answers came
back in different steps. Started eagerly, every backend's request is written before the caller
awaits anything. On 3.11 the first step runs here, under the task's identity (``current_task()`` is
the task, so deadlines and ``asyncio.timeout`` inside it cancel the task, not the caller) and in the
task's context; the task's own first step then replays what that step produced.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["start_task"]

T = TypeVar("T")

if sys.version_info >= (3, 12):

    def start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task for ``coro`` whose first step has run."""
        return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]

else:
    from asyncio.tasks import _enter_task, _leave_task

    _YIELDED, _RETURNED, _RAISED, _REPLAYED = range(4)

    class _Replay(Coroutine[Any, Any, T]):
        """``coro`` whose first step already ran: the task's first ``send`` gives back its outcome."""

        __slots__ = ("_coro", "_outcome", "_state")

        def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
            self._coro = coro
            self._state = _REPLAYED
            self._outcome: Any = None

        def first_step(self) -> None:
            try:
                self._outcome = self._coro.send(None)
                self._state = _YIELDED
            except StopIteration as stop:
                self._outcome, self._state = stop.value, _RETURNED
            except BaseException as exc:  # the task's step re-raises it, and handles it as a task does
                self._outcome, self._state = exc, _RAISED

        def send(self, value: Any) -> Any:
            state = self._state
            if state == _REPLAYED:
                return self._coro.send(value)
            outcome, self._state, self._outcome = self._outcome, _REPLAYED, None
            if state == _YIELDED:
                return outcome
            if state == _RETURNED:
                raise StopIteration(outcome)
            raise outcome

        def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
            # cancelled before its own first step: the coroutine is suspended where the eager step left it
            self._state, self._outcome = _REPLAYED, None
            return self._coro.throw(typ, val, tb)

        def close(self) -> None:
            self._coro.close()

        def __await__(self) -> Generator[Any, None, T]:
            raise TypeError("only a task drives this coroutine")

    def start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task for ``coro`` whose first step has run."""
        context = contextvars.copy_context()
        replay = _Replay(coro)
        task = loop.create_task(replay, context=context)
        caller = asyncio.current_task(loop)
        if caller is not None:
            _leave_task(loop, caller)
        _enter_task(loop, task)
        try:
            context.run(replay.first_step)
        finally:
            _leave_task(loop, task)
            if caller is not None:
                _enter_task(loop, caller)
        return task
