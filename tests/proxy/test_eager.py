"""Eagerly started tasks: the first step runs at once, as the task, and the task goes on as any task."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from krakenpy.proxy.eager import start_task

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="caller")


async def test_eager_first_step_runs_before_start_task_returns() -> None:
    steps: list[str] = []

    async def work() -> str:
        steps.append("first")
        await asyncio.sleep(0)
        steps.append("second")
        return "done"

    task = start_task(asyncio.get_running_loop(), work())
    assert steps == ["first"]
    assert await task == "done"
    assert steps == ["first", "second"]


async def test_eager_first_step_sees_its_task_and_its_own_context() -> None:
    caller = asyncio.current_task()
    seen: list[object] = []

    async def work() -> None:
        seen.append(asyncio.current_task())
        MARK.set("task")

    task = start_task(asyncio.get_running_loop(), work())
    assert seen == [task]
    assert asyncio.current_task() is caller  # the caller is the current task again
    assert MARK.get() == "caller"  # what the task set stays in its context
    await task


async def test_eager_task_that_returns_or_raises_in_its_first_step() -> None:
    async def answer() -> int:
        return 7

    async def fail() -> int:
        raise ValueError("at once")

    loop = asyncio.get_running_loop()
    assert await start_task(loop, answer()) == 7
    with pytest.raises(ValueError, match="at once"):
        await start_task(loop, fail())


async def test_eager_task_cancelled_before_its_own_first_step() -> None:
    steps: list[str] = []

    async def work() -> None:
        steps.append("first")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise

    task = start_task(asyncio.get_running_loop(), work())
    task.cancel()  # the loop has not run the task's own first step yet
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["first", "cancelled"]
    assert task.cancelled()


async def test_eager_task_cancelled_from_inside_its_first_step_by_a_timeout() -> None:
    async def work() -> str:
        try:
            async with asyncio.timeout(0.01):  # armed in the first step: it cancels the task, not the caller
                await asyncio.sleep(10)
        except TimeoutError:
            return "timed out"
        return "slept"

    assert await start_task(asyncio.get_running_loop(), work()) == "timed out"
    caller = asyncio.current_task()
    assert caller is not None and caller.cancelling() == 0
