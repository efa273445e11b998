"""A standard output left non-blocking by the process's parent (the open file description is shared:
a parent that made its end non-blocking made the gateway's so) answers EAGAIN while its reader lags.
The writer waits for it, as a blocking descriptor and Go's log writer do: no line lost, none cut."""

from __future__ import annotations

import os
import threading
import time

from krakenpy.telemetry.writer import LineWriter


def test_a_non_blocking_destination_that_is_full_gets_every_line_whole() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    writer = LineWriter(write_fd, max_lines=100)
    lines = [b"%05d %s\n" % (i, b"x" * 100) for i in range(2000)]  # ~210 KB: more than a pipe's buffer
    received = bytearray()

    def read_late() -> None:
        time.sleep(0.3)  # the reader lags: the pipe fills, writes answer EAGAIN meanwhile
        while chunk := os.read(read_fd, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=read_late)
    reader.start()
    try:
        for line in lines:
            writer.write(line)  # no loop running: each batch of 100 is written at once
        writer.flush()
    finally:
        os.close(write_fd)
        reader.join(10)
        os.close(read_fd)
    assert writer.dropped == 0
    assert bytes(received) == b"".join(lines)


def test_a_non_blocking_destination_whose_reader_is_gone_drops_without_waiting() -> None:
    """EPIPE still drops the batch (counted): the wait is for a full buffer only."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    os.close(read_fd)
    writer = LineWriter(write_fd)
    writer.write(b"x\n")
    writer.flush()
    os.close(write_fd)
    assert writer.dropped == 1
