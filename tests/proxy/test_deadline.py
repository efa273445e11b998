"""Shared-timer deadlines: expiry cancels only the expired work, in and out of arrival order."""

from __future__ import annotations

import asyncio

import pytest

from krakenpy.proxy import deadline
from krakenpy.proxy.deadline import arm, arm_in, disarm, expired


async def guarded(delay: float, when: float, span: float) -> str:
    timer = arm(when, span)
    try:
        await asyncio.sleep(delay)
        return "done"
    except asyncio.CancelledError:
        if expired(timer):
            return "expired"
        raise
    finally:
        disarm(timer)


async def guarded_in(delay: float, after: float, span: float) -> str:
    """:func:`guarded` with the deadline ``after`` seconds from when this task starts running."""
    return await guarded(delay, asyncio.get_running_loop().time() + after, span)


async def test_deadlines_in_order_expire_only_the_late_ones() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    # same span, arrival order (tasks start in order, deadlines 0.2 s apart): one FIFO, one loop timer;
    # the slow ones sleep far past their deadline, the quick ones end far before theirs
    results = await asyncio.gather(
        guarded_in(0, 1.0, 1.0),
        guarded_in(10, 1.2, 1.0),
        guarded_in(0, 1.4, 1.0),
        guarded_in(10, 1.6, 1.0),
    )
    assert results == ["done", "expired", "done", "expired"]
    assert loop.time() - started < 5  # the expired ones ended at their deadline, not after their sleep


async def test_out_of_order_deadline_uses_its_own_timer() -> None:
    loop = asyncio.get_running_loop()
    late = asyncio.ensure_future(guarded_in(10, 6.0, 3.0))
    await asyncio.sleep(0)  # armed first, with the later deadline
    started = loop.time()
    early = asyncio.ensure_future(guarded_in(10, 0.2, 3.0))
    assert await early == "expired"
    # not held back behind the later deadline: that one is still pending, well before its 6 s
    assert not late.done()
    assert loop.time() - started < 4
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late  # an outside cancellation is not a deadline


async def test_outside_cancellation_is_not_expiry() -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(guarded(1.0, loop.time() + 5, 5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_disarmed_timer_never_fires_and_task_keeps_running() -> None:
    timer = arm_in(0.02)
    disarm(timer)
    await asyncio.sleep(0.05)  # would raise CancelledError if the deadline still fired
    assert not expired(timer)


async def test_expiry_leaves_task_uncancelled() -> None:
    assert await guarded(1.0, asyncio.get_running_loop().time() + 0.01, 0.01) == "expired"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # the task goes on normally


async def test_fifo_stays_short_when_an_old_request_is_stuck() -> None:
    stuck = asyncio.ensure_future(guarded(1.0, asyncio.get_running_loop().time() + 5, 7.0))
    await asyncio.sleep(0)
    state = deadline._current
    assert state is not None
    fifo = state.fifos[7.0]
    fifo.floor = fifo.compact_at = 8  # the instance's, not the module constant: it may be compiled
    for _ in range(100):
        timer = arm_in(7.0)
        disarm(timer)
    assert len(fifo.entries) <= 20
    assert fifo.entries[0].state == 0  # the stuck one is still pending
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck


async def request_guarded(timer: deadline.Timer, delay: float) -> str:
    """A backend call sharing the request timer, as ``krakenpy.backends`` runs one in the handler's task."""
    if not deadline.enter(timer):
        return "late"
    try:
        await asyncio.sleep(delay)
        return "done"
    except asyncio.CancelledError:
        if deadline.soft_expired(timer):
            return "expired"
        raise
    finally:
        deadline.leave(timer)


async def test_request_timer_ends_the_backend_call_then_lets_the_handler_go_on() -> None:
    timer = deadline.arm_request(0.05, 0.2)
    try:
        assert await request_guarded(timer, 10) == "expired"
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        assert await request_guarded(timer, 0) == "late"  # the deadline has passed: no new call
        await asyncio.sleep(0.05)  # a fallback answering within the grace is not cut
        assert not expired(timer)
    finally:
        disarm(timer)
    await asyncio.sleep(0.25)  # disarmed: the grace timer never fires


async def test_request_timer_cuts_the_handler_after_the_grace() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    timer = deadline.arm_request(0.05, 0.1)
    try:
        await asyncio.sleep(10)  # not a backend call: the deadline alone does not cancel it
    except asyncio.CancelledError:
        assert expired(timer)
    finally:
        disarm(timer)
    assert 0.14 <= loop.time() - started < 5


async def test_request_timer_after_a_call_that_ended_cuts_the_handler_after_the_grace() -> None:
    timer = deadline.arm_request(0.05, 0.1)
    try:
        assert await request_guarded(timer, 10) == "expired"
        with pytest.raises(asyncio.CancelledError):
            await asyncio.sleep(10)  # a fallback that hangs: the safety net ends it
        assert expired(timer)
    finally:
        disarm(timer)


async def test_request_timer_quick_call_leaves_it_pending() -> None:
    timer = deadline.arm_request(5.0, 0.1)
    try:
        assert await request_guarded(timer, 0) == "done"
        assert await request_guarded(timer, 0) == "done"
        assert timer.guards == 0
    finally:
        disarm(timer)
    assert not expired(timer)
