from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from krakenpy.telemetry.writer import LineWriter


async def test_line_writer_batches_one_write_per_tick(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    writes: list[int] = []
    writer = LineWriter(write_fd, max_lines=1000)
    real_write = os.write

    def counting(fd: int, data: bytes | memoryview) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    os.write = counting  # type: ignore[assignment]
    try:
        for i in range(50):
            writer.write(f"line {i}\n".encode())
        assert writes == []  # nothing before the loop turns
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    finally:
        os.write = real_write
    assert len(writes) == 1
    data = os.read(read_fd, 65536).decode()
    assert data.splitlines() == [f"line {i}" for i in range(50)]
    os.close(read_fd)
    os.close(write_fd)


async def test_line_writer_flushes_every_n_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    writer = LineWriter.open(str(path), max_lines=3)
    for i in range(7):
        writer.write(b"x%d\n" % i)
    assert path.read_bytes() == b"x0\nx1\nx2\nx3\nx4\nx5\n"
    writer.close()
    assert path.read_bytes().endswith(b"x6\n")
    assert oct(path.stat().st_mode & 0o777) == "0o600"


async def test_line_writer_flushes_every_n_lines_and_records_mixed(tmp_path: Path) -> None:
    # records count toward max_lines like lines, across runs and the lines between them
    path = tmp_path / "mixed-max.log"
    writer = LineWriter.open(str(path), max_lines=4)

    def render(records: list[str]) -> bytes:
        return "".join(f"{r}\n" for r in records).encode()

    writer.write(b"a\n")
    writer.entry(render, "X")
    writer.entry(render, "Y")
    assert path.read_bytes() == b""
    writer.entry(render, "Z")  # the fourth line of the batch
    assert path.read_bytes() == b"a\nX\nY\nZ\n"
    for r in "PQR":
        writer.entry(render, r)
    writer.write(b"b\n")  # the fourth again, after a run of three records
    assert path.read_bytes() == b"a\nX\nY\nZ\nP\nQ\nR\nb\n"
    writer.entry(render, "S")
    writer.write(b"c\n")
    writer.entry(render, "T")
    assert path.read_bytes().endswith(b"b\n")
    writer.entry(render, "U")
    assert path.read_bytes().endswith(b"b\nS\nc\nT\nU\n")
    writer.close()


def test_line_writer_without_loop_writes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "now.log"
    writer = LineWriter.open(str(path))
    writer.write(b"a\n")
    assert path.read_bytes() == b"a\n"
    writer.close()


def test_line_writer_counts_lines_lost_to_a_closed_destination() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    writer = LineWriter(write_fd)
    writer.write(b"a\n")  # EPIPE (SIGPIPE is ignored by Python)
    assert writer.dropped == 1
    os.close(write_fd)


async def test_line_writer_entries_rendered_in_runs_in_order(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    writer = LineWriter.open(str(path))
    calls: list[list[str]] = []

    def render(records: list[str]) -> bytes:
        calls.append(list(records))
        return "".join(f"{r}\n" for r in records).encode()

    writer.write(b"a\n")
    writer.entry(render, "X")
    writer.entry(render, "Y")
    writer.write(b"b\n")
    writer.entry(render, "Z")
    assert path.read_bytes() == b""  # rendered and written when the loop turns
    await asyncio.sleep(0)
    assert path.read_bytes() == b"a\nX\nY\nb\nZ\n"
    assert calls == [["X", "Y"], ["Z"]]  # one call per run of records, not per record
    writer.close()


def test_line_writer_renderer_that_fails_drops_its_batch() -> None:
    read_fd, write_fd = os.pipe()
    writer = LineWriter(write_fd)

    def broken(records: list[object]) -> bytes:
        raise ValueError("bad record")

    writer.entry(broken, 1)  # no loop: flushed at once, and the failure does not escape
    assert writer.dropped == 1
    writer.write(b"next\n")
    assert os.read(read_fd, 100) == b"next\n"
    os.close(read_fd)
    os.close(write_fd)


async def test_line_writer_busy_batches_wait_for_the_interval(tmp_path: Path) -> None:
    from krakenpy.telemetry.writer import INTERVAL

    path = tmp_path / "busy.log"
    writer = LineWriter.open(str(path))
    writer.write(b"a\n")
    await asyncio.sleep(0)
    assert path.read_bytes() == b"a\n"  # quiet before: written at the end of the tick
    writer.write(b"b\n")
    writer.write(b"c\n")
    await asyncio.sleep(0)
    assert path.read_bytes() == b"a\n"  # the previous write is fresh: this batch waits for the timer
    # the timer's write, waited for up to 5 s (a fixed 1.5 intervals bet the loaded host ran it in time)
    async with asyncio.timeout(5):
        while path.read_bytes() == b"a\n":
            await asyncio.sleep(INTERVAL / 10)
    assert path.read_bytes() == b"a\nb\nc\n"
    writer.write(b"d\n")
    writer.close()  # a flush before the timer writes the batch and cancels the timer
    assert path.read_bytes() == b"a\nb\nc\nd\n"
    assert writer._handle is None


async def test_line_writer_interval_can_be_changed_at_run_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # bench.instructions --writer-interval sets it: a compiled build must read the module's value, not
    # a constant written into its code
    from krakenpy.telemetry import writer as module

    monkeypatch.setattr(module, "INTERVAL", 30.0)
    path = tmp_path / "slow.log"
    writer = LineWriter.open(str(path))
    writer.write(b"a\n")
    await asyncio.sleep(0)
    writer.write(b"b\n")
    await asyncio.sleep(0)
    handle = writer._handle
    assert handle is not None
    assert handle.when() - asyncio.get_running_loop().time() > 20.0  # not 0.02
    writer.close()
    assert path.read_bytes() == b"a\nb\n"


@pytest.mark.parametrize("step", [1, 7, 4096])
async def test_line_writer_short_writes_continue_where_they_stopped(step: int) -> None:
    """A destination that takes part of a batch per call (a pipe's buffer full) gets the rest, in order:
    the first ``write`` takes the batch's bytes, a view is made only after a short one."""
    read_fd, write_fd = os.pipe()
    writer = LineWriter(write_fd)
    real_write = os.write
    calls: list[int] = []

    def short(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        return real_write(fd, bytes(data[:step]))

    def render(records: list[str]) -> bytes:
        return "".join(f"{r}\n" for r in records).encode()

    expected = b"".join(b"line %d\n" % i for i in range(20)) + b"r0\nr1\n"
    os.write = short  # type: ignore[assignment]
    try:
        for i in range(20):
            writer.write(b"line %d\n" % i)
        writer.entry(render, "r0")
        writer.entry(render, "r1")
        writer.flush()  # the batch, before the loop's turn
    finally:
        os.write = real_write
    assert os.read(read_fd, 65536) == expected
    # every call after the first starts where the one before stopped
    assert calls == [len(expected) - n * step for n in range(-(-len(expected) // step))]
    assert writer.dropped == 0
    os.close(read_fd)
    os.close(write_fd)
