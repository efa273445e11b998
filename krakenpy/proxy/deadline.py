"""Request deadlines without a loop timer per request.

``asyncio.timeout`` costs a ``TimerHandle``, a heap push and two running-loop lookups per use (about
5 µs here, and every request used two). Deadlines of one endpoint are ``start + timeout``, so they
arrive in order: :class:`Timers` keeps them in one FIFO per timeout length, with a single loop timer
for the oldest pending deadline. Arming and disarming are an append and a flag; the loop timer
fires about once per timeout length, not once per request. A deadline that arrives out of order
(a later backend of a sequential pipeline) falls back to its own loop timer.

A request carries one two-stage timer (:func:`arm_request`, armed by the endpoint handler): at the
request deadline it cancels its task only while a backend call of that task is inside
:func:`enter`/:func:`leave` (the backend turns that into its own error with :func:`soft_expired`), and
``grace`` later it cancels the task whatever it is doing (the handler's safety net, :func:`expired`).
Backend calls running in the handler's task (a single backend, the inline backend of a merge, a
sequence) so share the handler's timer instead of arming one each: one arm per request, not two.

When a deadline passes, the task that armed it is cancelled, as ``asyncio.timeout`` does; the
caller turns the ``CancelledError`` into its own error with :func:`expired`::

    timer = arm(deadline, span)
    try:
        return await work()
    except asyncio.CancelledError:
        if expired(timer):
            raise BackendError("context deadline exceeded") from None
        raise
    finally:
        disarm(timer)
"""

from __future__ import annotations

import asyncio
import asyncio.tasks
import sys
from collections import deque
from collections.abc import Callable
from threading import get_ident
from typing import TYPE_CHECKING, Any, Final

from krakenpy.errors import BackendError

if TYPE_CHECKING:
    from krakenpy.proxy.types import Proxy, Request, Response

__all__ = [
    "DEADLINE",
    "Timer",
    "arm",
    "arm_in",
    "arm_request",
    "bounded_proxy",
    "current_task",
    "disarm",
    "enter",
    "expired",
    "leave",
    "soft_expired",
]

#: the message of the ``CancelledError`` a deadline throws into the work it ends (``Task.cancel(msg)``):
#: what a layer below the one that turns it into an error (the CLIENT span, the client metrics) tells a
#: deadline from a client that went away by, as Go's ``context.DeadlineExceeded`` from ``Canceled``
DEADLINE: Final = "context deadline exceeded"
_PENDING: Final = 0
_DONE: Final = 1
_EXPIRED: Final = 2
#: a request timer's deadline passed inside a backend call: its task is being cancelled for it
_SOFT: Final = 3
#: a request timer's deadline passed (taken back by the backend, or outside any backend call): the grace runs
_PASSED: Final = 4
#: a FIFO is compacted (done entries dropped) when it grows past this length
_COMPACT_AT: Final = 4096


class Timer:
    """One armed deadline: queued in a FIFO, or (out of order) behind its own loop timer."""

    def __init__(self, when: float, task: asyncio.Task[object], grace: float = 0.0) -> None:
        self.when = when
        self.task = task
        self.state = _PENDING
        self.fifo: _Fifo | None = None
        self.handle: asyncio.TimerHandle | None = None
        #: a request timer's second stage, seconds after ``when`` (0: a plain timer)
        self.grace = grace
        #: backend calls of ``task`` inside enter/leave
        self.guards = 0


def _expire(timer: Timer) -> None:
    if timer.state != _PENDING:
        return
    if timer.grace:
        # a request timer's first stage: the backend call in progress (if any) ends with its error,
        # and the safety net follows after the grace (a loop timer only on this rare path)
        timer.fifo = None
        timer.handle = timer.task.get_loop().call_at(timer.when + timer.grace, _expire_late, timer)
        if timer.guards:
            timer.state = _SOFT
            timer.task.cancel(DEADLINE)
        else:
            timer.state = _PASSED
        return
    timer.state = _EXPIRED
    timer.task.cancel(DEADLINE)


def _expire_late(timer: Timer) -> None:
    if timer.state == _SOFT or timer.state == _PASSED:
        timer.state = _EXPIRED
        timer.task.cancel(DEADLINE)


class _Fifo:
    """Deadlines of one length, in arrival order, behind one loop timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.entries: deque[Timer] = deque()
        self.handle: asyncio.TimerHandle | None = None
        #: the least length that compacts (an attribute: a test lowers it on a compiled module)
        self.floor = _COMPACT_AT
        self.compact_at = _COMPACT_AT

    def add(self, timer: Timer) -> None:
        entries = self.entries
        if entries and timer.when < entries[-1].when:
            timer.handle = self.loop.call_at(timer.when, _expire, timer)
            return
        timer.fifo = self
        entries.append(timer)
        if self.handle is None:
            self.handle = self.loop.call_at(timer.when, self.fire)
        elif len(entries) > self.compact_at:  # a stuck old request keeps finished ones queued
            self.entries = deque(t for t in entries if t.state == _PENDING)
            self.compact_at = max(self.floor, 2 * len(self.entries))

    def trim(self) -> None:
        entries = self.entries
        while entries and entries[0].state != _PENDING:
            entries.popleft()

    def fire(self) -> None:
        self.handle = None
        entries = self.entries
        now = self.loop.time()
        while entries:
            timer = entries[0]
            if timer.state == _PENDING and timer.when > now:
                self.handle = self.loop.call_at(timer.when, self.fire)
                return
            entries.popleft()
            _expire(timer)


class _LoopTimers:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread = get_ident()
        self.fifos: dict[float, _Fifo] = {}


_current: _LoopTimers | None = None

if sys.version_info >= (3, 12):
    #: C since 3.12 (a Python function over asyncio's task map on 3.11, whose map later versions drop)
    current_task = asyncio.current_task
else:
    #: asyncio's own map of each loop's current task (the C one, which tasks enter and leave). On 3.11
    #: ``asyncio.current_task`` is a Python function over it: an interpreted call from compiled code on
    #: every backend call and armed timer (4 per P2 request; round 8); a dict look-up is C
    _CURRENT: Final[dict[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = asyncio.tasks._current_tasks  # type: ignore[attr-defined]

    def current_task(loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any] | None:
        """``asyncio.current_task(loop)`` without its Python frame (a loop given: no getpid either)."""
        return _CURRENT.get(loop)


def arm(when: float, span: float) -> Timer:
    """Cancel the current task at loop time ``when``; ``span`` is the timeout length it came from."""
    task, fifo = _fifo(span)
    timer = Timer(when, task)
    fifo.add(timer)
    return timer


def arm_in(delay: float) -> Timer:
    """Cancel the current task ``delay`` seconds from now (``timer.when`` is that loop time)."""
    task, fifo = _fifo(delay)
    timer = Timer(fifo.loop.time() + delay, task)
    fifo.add(timer)
    return timer


def arm_request(span: float, grace: float) -> Timer:
    """The current request's two-stage timer: its deadline ``span`` seconds from now (``timer.when``),
    its safety net ``grace`` seconds later (``grace`` > 0)."""
    task, fifo = _fifo(span)
    timer = Timer(fifo.loop.time() + span, task, grace)
    fifo.add(timer)
    return timer


def enter(timer: Timer) -> bool:
    """A backend call of ``timer``'s task starts under it; ``False`` when the deadline has passed."""
    if timer.state != _PENDING:
        return False
    timer.guards += 1
    return True


def leave(timer: Timer) -> None:
    """The backend call started by :func:`enter` ended (in any way)."""
    timer.guards -= 1


def soft_expired(timer: Timer) -> bool:
    """``True`` when the request deadline cancelled the task inside a backend call (the
    cancellation is taken back; the grace timer keeps running)."""
    if timer.state != _SOFT:
        return False
    timer.state = _PASSED
    timer.task.uncancel()
    return True


def _fifo(span: float) -> tuple[asyncio.Task[object], _Fifo]:
    global _current
    state = _current
    # the last loop's current task first: current_task() without a loop asks get_running_loop(),
    # which on 3.11 makes a getpid syscall (one per armed timer: 2 of a P2 request's 4, strace -c)
    task = current_task(state.loop) if state is not None and state.thread == get_ident() else None
    if task is None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("deadlines need a running task")
        loop = task.get_loop()
        if state is None or state.loop is not loop or state.thread != get_ident():
            state = _current = _LoopTimers(loop)
    assert state is not None
    fifo = state.fifos.get(span)
    if fifo is None:
        fifo = state.fifos[span] = _Fifo(state.loop)
    return task, fifo


def disarm(timer: Timer) -> None:
    """The guarded work ended (in any way): a pending deadline will not fire."""
    if timer.state != _EXPIRED:
        timer.state = _DONE
    if timer.fifo is not None:
        timer.fifo.trim()
    elif timer.handle is not None:
        timer.handle.cancel()


def expired(timer: Timer) -> bool:
    """``True`` when this deadline cancelled the task (the cancellation is taken back)."""
    if timer.state != _EXPIRED:
        return False
    timer.task.uncancel()
    return True


def bounded_proxy(executor: Proxy, prepare: Callable[[Request], None] | None = None, span: float = 0.0) -> Proxy:
    """The backend layer that ends ``executor``'s call at the request's deadline with an error the
    outer layers can handle (static fallbacks, Lua post scripts, partial merges), as a Go context
    deadline does in lura. ``prepare`` (the request builder, when nothing sits in between) runs first,
    in the same call; ``span`` is the backend's timeout length (the FIFO its own timer joins). Here,
    in a compiled module, rather than beside the stack it ends (``krakenpy.backends``): it runs on
    every backend call, twice per P2 request (round 8)."""

    async def bounded(request: Request) -> Response:
        if prepare is not None:
            prepare(request)
        shared = request.timer
        # current_task() of a given loop skips get_running_loop()'s getpid syscall
        if shared is not None and shared.task is current_task(shared.task.get_loop()):
            # in the handler's task: its request timer serves (no timer of our own to arm and disarm)
            if not enter(shared):
                raise BackendError("context deadline exceeded")
            try:
                return await executor(request)
            except asyncio.CancelledError:
                if soft_expired(shared):
                    raise BackendError("context deadline exceeded") from None
                raise
            finally:
                leave(shared)
        if not request.deadline:
            return await executor(request)
        timer = arm(request.deadline, span)
        try:
            return await executor(request)
        except asyncio.CancelledError:
            if expired(timer):
                raise BackendError("context deadline exceeded") from None
            raise
        finally:
            disarm(timer)

    return bounded
