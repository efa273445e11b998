"""``run -w N``: the workers (and the supervisor) share one standard output. A pipe takes a write of
at most ``PIPE_BUF`` bytes whole, a longer one in parts while it is full, and another process's write
goes between the parts: the writer writes a pipe in pieces of whole lines, so a log shipper that
reads behind never sees a line cut in two and mixed with another worker's."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from krakenpy.telemetry.writer import LineWriter

_ROOT = str(Path(__file__).resolve().parents[2])

#: a worker: batches of 256 lines (~26 KB each) through the writer on its standard output, on a loop
_WORKER = """
import asyncio, sys
from krakenpy.telemetry.writer import LineWriter
tag = sys.argv[1].encode()

async def main():
    writer = LineWriter(1)  # on a loop: a batch is written every 256 lines
    for i in range(60 * 256):
        writer.write(tag * 97 + b"%05d\\n" % i)
        if i % 256 == 255:
            await asyncio.sleep(0)
    writer.close()

asyncio.run(main())
"""


def test_workers_sharing_a_pipe_never_cut_each_others_lines() -> None:
    read_fd, write_fd = os.pipe()
    env = {**os.environ, "PYTHONPATH": _ROOT}
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, tag], stdout=write_fd, env=env, cwd=_ROOT)
        for tag in ("A", "B")
    ]
    os.close(write_fd)
    received = bytearray()
    try:
        while True:
            time.sleep(0.0005)  # a reader behind the writers: the pipe is full most of the time
            chunk = os.read(read_fd, 8192)
            if not chunk:
                break
            received.extend(chunk)
    finally:
        os.close(read_fd)
        for worker in workers:
            worker.wait(30)
    assert [worker.returncode for worker in workers] == [0, 0]
    lines = bytes(received).split(b"\n")
    assert lines.pop() == b""
    assert len(lines) == 2 * 60 * 256
    torn = [
        line[:20] + b"..." + line[-20:] for line in lines if len(line) != 102 or line[:97] not in (b"A" * 97, b"B" * 97)
    ]
    assert torn == []


def _batch_through(writer: LineWriter, lines: list[bytes]) -> list[int]:
    """The sizes of the writes that take ``lines`` queued as one batch (written at the flush)."""
    real_write = os.write
    sizes: list[int] = []

    def spy(fd: int, data: bytes | memoryview) -> int:
        sizes.append(len(data))
        return real_write(fd, data)

    os.write = spy  # type: ignore[assignment]
    try:
        for line in lines:
            writer.write(line)
        writer.flush()
    finally:
        os.write = real_write
    return sizes


def _drained(read_fd: int, delay: float, into: bytearray) -> threading.Thread:
    """A reader of the pipe that starts after ``delay`` seconds and reads to its end."""

    def read() -> None:
        time.sleep(delay)
        while chunk := os.read(read_fd, 65536):
            into.extend(chunk)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


async def test_a_full_pipe_gets_the_batch_in_whole_lines_of_at_most_pipe_buf() -> None:
    """A pipe without room for the batch (its reader lags: 50,000 bytes unread of 65,536): writes of
    whole lines of at most ``PIPE_BUF`` bytes; one line longer than that goes alone; the order is kept."""
    read_fd, write_fd = os.pipe()
    unread = b"u" * 49_999 + b"\n"
    os.write(write_fd, unread)
    received = bytearray()
    reader = _drained(read_fd, 0.3, received)  # after the writer decided how to write
    writer = LineWriter(write_fd)
    lines = [b"%04d %s\n" % (i, b"y" * 90) for i in range(100)]
    lines.insert(50, b"L" * 9000 + b"\n")
    sizes = _batch_through(writer, lines)
    os.close(write_fd)
    reader.join(10)
    os.close(read_fd)
    assert bytes(received) == unread + b"".join(lines)
    assert 9001 in sizes and all(size <= 4096 for size in sizes if size != 9001)
    assert len(sizes) > 3 and writer.dropped == 0


async def test_a_pipe_with_room_gets_whole_line_pieces_too() -> None:
    """A reader that keeps up changes nothing: the batch still goes in whole lines of at most
    ``PIPE_BUF`` bytes (a one-write path for a pipe that looks roomy was cut by a second worker)."""
    read_fd, write_fd = os.pipe()
    received = bytearray()
    reader = _drained(read_fd, 0.0, received)
    writer = LineWriter(write_fd)
    lines = [b"%04d %s\n" % (i, b"y" * 90) for i in range(200)]  # one batch (MAX_LINES 256)
    sizes = _batch_through(writer, lines)
    os.close(write_fd)
    reader.join(10)
    os.close(read_fd)
    assert bytes(received) == b"".join(lines)
    assert len(sizes) == 5 and all(size <= 4096 and size % 96 == 0 for size in sizes)


#: a worker writing batches of 45 lines of 103 bytes (4,635 bytes: more than a page, less than two)
_ODD_BATCHES = """
import asyncio, sys
from krakenpy.telemetry.writer import LineWriter
tag = sys.argv[1].encode()

async def main():
    writer = LineWriter(1, max_lines=45)
    for i in range(300 * 45):
        writer.write(tag * 97 + b"%05d\\n" % i)
        if i % 45 == 44:
            await asyncio.sleep(0)
    writer.close()

asyncio.run(main())
"""


def test_two_workers_with_odd_batches_into_a_slow_pipe_never_cut_a_line() -> None:
    """Batches of a page and a bit, two workers, a reader that frees a page at a time: Linux counts a
    pipe's room in pages, which such writes leave part empty, so the unread bytes promised room the
    pipe did not have; a batch written in one go stopped halfway and the other worker's went between."""
    read_fd, write_fd = os.pipe()
    env = {**os.environ, "PYTHONPATH": _ROOT}
    workers = [
        subprocess.Popen([sys.executable, "-c", _ODD_BATCHES, tag], stdout=write_fd, env=env, cwd=_ROOT)
        for tag in ("A", "B")
    ]
    os.close(write_fd)
    received = bytearray()
    try:
        while chunk := os.read(read_fd, 4096):
            received.extend(chunk)
            time.sleep(0.0002)  # behind the writers: the pipe stays nearly full
    finally:
        os.close(read_fd)
        for worker in workers:
            worker.wait(30)
    assert [worker.returncode for worker in workers] == [0, 0]
    lines = bytes(received).split(b"\n")
    assert lines.pop() == b""
    assert len(lines) == 2 * 300 * 45
    torn = [line for line in lines if len(line) != 102 or line[:97] not in (b"A" * 97, b"B" * 97)]
    assert torn == []
    # each worker's lines arrive in its order
    for tag in (b"A", b"B"):
        assert [int(line[97:]) for line in lines if line[:1] == tag] == list(range(300 * 45))
