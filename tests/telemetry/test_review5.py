"""Review fixes of the fourth 2026-12-01 round: a log batch waiting on a timer when its loop ends, the
histogram queues without a reader, and an OAuth2 token fetch inside a timed backend call."""

from __future__ import annotations

import asyncio
import os

import pytest

from krakenpy.backends.conntiming import TIMING, CallTiming, current_timing, untimed
from krakenpy.server.loops import run_on
from krakenpy.telemetry import setup, writer
from krakenpy.telemetry.exchange import CURRENT, Exchange
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


@pytest.mark.parametrize("carrier", ["variable", "exchange"])
async def test_untimed_call_sees_no_timing_and_restores_it(carrier: str) -> None:
    """An untimed fetch fills a throwaway timing, never the call's: neither the one in ``TIMING``
    nor the one a solo call hands down on the exchange (which ``current_timing`` reads after it)."""
    seen: list[CallTiming | None] = []

    async def fetch(value: int) -> int:
        seen.append(current_timing())
        return value + 1

    timing = CallTiming()
    exchange = Exchange()
    current = CURRENT.set(exchange)
    token = TIMING.set(timing) if carrier == "variable" else None
    if carrier == "exchange":
        exchange.call_timing = timing
    try:
        assert current_timing() is timing
        assert await untimed(fetch)(1) == 2
        assert len(seen) == 1 and seen[0] is not None and seen[0] is not timing
        assert current_timing() is timing
        assert TIMING.get() is (timing if carrier == "variable" else None)
    finally:
        if token is not None:
            TIMING.reset(token)
        CURRENT.reset(current)
