"""Review fixes of the fourth 2026-12-01 round: a log batch waiting on a timer when its loop ends, the
histogram queues without a reader, and an OAuth2 token fetch inside a timed backend call."""

from __future__ import annotations

import asyncio
import os

import pytest

from krakenpy.backends.conntiming import TIMING, CallTiming, untimed
from krakenpy.server.loops import run_on
from krakenpy.telemetry import setup, writer
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.writer import LineWriter


def test_writer_batch_on_a_timer_is_written_when_its_loop_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    try:
        out = LineWriter(write_end, name="stdout")
        monkeypatch.setattr(writer, "_STDOUT", {"test": out})

        async def main() -> int:
            out.write(b"first\n")
            await asyncio.sleep(0)  # the first batch: written at the end of the tick
            out.write(b"second\n")  # within 20 ms of it: waits on a timer the loop never fires
            return 0

        assert run_on("asyncio", main()) == 0
        os.set_blocking(read_end, False)
        assert os.read(read_end, 1000) == b"first\nsecond\n"
        # the writer schedules again afterwards: with no loop running, a line is written at once
        out.write(b"third\n")
        assert os.read(read_end, 1000) == b"third\n"
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_metrics_folder_buckets_queued_values_without_a_scrape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(setup, "FOLD_PERIOD", 0.05)
    registry = Registry()
    histogram = registry.family("x.duration", "histogram", ["k"]).histogram("v")
    service = setup._folder(Telemetry(registry=registry))
    await service.start()
    try:
        few = registry.family("x.size", "histogram", ["k"]).histogram("v")
        for _ in range(setup.FOLD_LEAST):
            histogram.add(0.01)
        few.add(1.0)
        for _ in range(40):
            await asyncio.sleep(0.05)
            if not histogram.pending:
                break
        assert histogram.pending == [] and histogram.count == setup.FOLD_LEAST
        # a histogram with fewer values keeps them for the next read (a scrape folds everything)
        assert few.pending == [1.0] and few.count == 0
        assert 'x_size_count{k="v"} 1' in registry.render()
    finally:
        await service.stop()


async def test_untimed_call_sees_no_timing_and_restores_it() -> None:
    seen: list[object] = []

    async def fetch(value: int) -> int:
        seen.append(TIMING.get())
        return value + 1

    timing = CallTiming()
    token = TIMING.set(timing)
    try:
        assert await untimed(fetch)(1) == 2
        assert seen == [None]
        assert TIMING.get() is timing
    finally:
        TIMING.reset(token)
