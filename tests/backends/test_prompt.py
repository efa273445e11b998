"""PromptFuture: a result set outside any task resumes the awaiting task at once; everything else as
asyncio.Future."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from krakenpy.backends.prompt import PromptFuture

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


async def test_prompt_result_from_a_callback_resumes_the_task_in_the_same_step() -> None:
    loop = asyncio.get_running_loop()
    future = PromptFuture(loop=loop)
    steps: list[str] = []

    async def waiter() -> None:
        VAR.set("task")
        await future
        steps.append(f"resumed in {VAR.get()}")

    task = loop.create_task(waiter())
    await asyncio.sleep(0)  # the task now waits on the future

    def callback() -> None:  # as a transport's data_received: no task runs here
        future.set_result(None)
        steps.append("after set_result")

    loop.call_soon(callback)
    await task
    # resumed inside set_result (before it returned), in the task's own context
    assert steps == ["resumed in task", "after set_result"]


async def test_prompt_result_set_inside_a_task_is_scheduled() -> None:
    loop = asyncio.get_running_loop()
    future = PromptFuture(loop=loop)
    steps: list[str] = []

    async def waiter() -> None:
        await future
        steps.append("resumed")

    task = loop.create_task(waiter())
    await asyncio.sleep(0)
    future.set_result(None)  # from this (the test's) task: a task cannot run inside another
    steps.append("after set_result")
    await task
    assert steps == ["after set_result", "resumed"]


async def test_prompt_exception_reaches_the_awaiting_task() -> None:
    loop = asyncio.get_running_loop()
    future = PromptFuture(loop=loop)
    task = loop.create_task(asyncio.wait_for(future, None))
    await asyncio.sleep(0)
    loop.call_soon(future.set_exception, ConnectionResetError("gone"))
    with pytest.raises(ConnectionResetError, match="gone"):
        await task


async def test_prompt_cancelling_the_awaiting_task_cancels_it() -> None:
    loop = asyncio.get_running_loop()
    future = PromptFuture(loop=loop)

    async def waiter() -> None:
        await future

    task = loop.create_task(waiter())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert future.cancelled()


async def test_prompt_other_callbacks_run_as_the_futures_do() -> None:
    loop = asyncio.get_running_loop()
    future = PromptFuture(loop=loop)
    seen: list[str] = []
    future.add_done_callback(lambda f: seen.append("first"))
    future.add_done_callback(lambda f: seen.append("second"))
    removed = future.remove_done_callback(future._wake)  # type: ignore[arg-type]
    assert removed == 1
    future.set_result(None)
    assert seen == []
    await asyncio.sleep(0)
    assert seen == ["second"]
