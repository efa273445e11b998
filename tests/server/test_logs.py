"""Bounded logging: one line, then counts per interval; asyncio's accept-resource reports folded in."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest

from krakenpy.server.logs import Tally, install_loop_handler

log = logging.getLogger("krakenpy.test")


def test_logs_tally_writes_the_first_event_then_one_summary_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="krakenpy.test")
    tally = Tally(log, "bad things", interval=0.2)
    for i in range(1000):
        tally.record(f"thing {i}")
    tally.flush()  # the interval is not over: nothing yet
    assert [r.getMessage() for r in caplog.records] == ["bad things: thing 0 (more within 0 s are counted)"]
    tally._next = 0.0
    tally.flush()
    tally.flush()  # nothing new: no line
    assert caplog.records[-1].getMessage() == "bad things: 999 more in the last 0 s (latest: thing 999)"
    assert len(caplog.records) == 2


def test_logs_tally_final_flush_writes_the_counts_of_an_unfinished_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="krakenpy.test")
    tally = Tally(log, "bad things", interval=60.0)
    for i in range(3):
        tally.record(f"thing {i}")
    tally.flush()  # mid-interval: nothing
    assert len(caplog.records) == 1
    tally.flush(final=True)  # the server stops: the two counted are written now
    assert caplog.records[-1].getMessage() == "bad things: 2 more in the last 60 s (latest: thing 2)"
    tally.flush(final=True)
    assert len(caplog.records) == 2


async def test_logs_loop_handler_counts_accept_exhaustion_and_passes_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context["message"]))
    tally = Tally(log, "cannot accept connections", level=logging.WARNING)
    install_loop_handler(loop, tally)
    try:
        exc = OSError(errno.EMFILE, "Too many open files")
        for _ in range(4000):
            loop.call_exception_handler({"message": "socket.accept() out of system resource", "exception": exc})
        loop.call_exception_handler({"message": "something else"})
    finally:
        loop.set_exception_handler(None)
    assert seen == ["something else"]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert caplog.records[0].getMessage().startswith("cannot accept connections: Too many open files")
    assert tally.count == 3999
