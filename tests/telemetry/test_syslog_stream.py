"""Syslog to a daemon whose socket is a stream one (``/dev/log`` on some systems; Go's log/syslog,
KrakenD's, dials ``unix`` when ``unixgram`` is refused): krakenpy sent datagrams only, each refused
(EPROTOTYPE) and dropped, so such a host got no line. Now a stream connection carries each line ended
by a newline, is made again when the daemon restarts, and never blocks: lines the daemon does not
take wait (bounded), then are dropped, counted and said once."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import threading
from pathlib import Path

import pytest

from krakenpy.telemetry.syslog import PENDING_LIMIT, SyslogHandler

_LINE = re.compile(rb"<155>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \[KRAKEND\]\[\d+\]: ERROR > line (\d+) x+")


def _record(msg: str) -> logging.LogRecord:
    return logging.LogRecord("krakenpy.test", logging.ERROR, __file__, 12, msg, None, None, "fn")


def _daemon(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)
    listener.settimeout(5)
    return listener


def _read_lines(conn: socket.socket, count: int) -> list[bytes]:
    conn.settimeout(5)
    data = b""
    while data.count(b"\n") < count:
        chunk = conn.recv(65536)
        assert chunk, "the connection ended"
        data += chunk
    return data.split(b"\n")[:-1]


def test_a_stream_daemon_gets_newline_framed_lines_and_survives_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    listener = _daemon(path)
    handler = SyslogHandler(facility="local3", tag="[KRAKEND]", address=path)
    try:
        for i in range(3):
            handler.emit(_record(f"line {i} xx"))
        conn, _ = listener.accept()
        lines = _read_lines(conn, 3)
        assert [int(m[1]) for m in map(_LINE.fullmatch, lines) if m] == [0, 1, 2]
        # the daemon restarts: its connection and socket go, a new socket is made at the path
        conn.close()
        listener.close()
        os.unlink(path)
        listener = _daemon(path)
        handler.emit(_record("line 3 xx"))  # the dead connection is found and made again, the line sent
        conn, _ = listener.accept()
        assert [_LINE.fullmatch(line) is not None for line in _read_lines(conn, 1)] == [True]
        conn.close()
    finally:
        handler.close()
        listener.close()
    assert handler.dropped == 0


def test_a_stream_daemon_back_on_a_datagram_socket_gets_datagrams_again(tmp_path: Path) -> None:
    # the stream connection was dialled for ever (refused with EPROTOTYPE): every line was dropped
    path = str(tmp_path / "log.sock")
    listener = _daemon(path)
    handler = SyslogHandler(facility="local3", tag="[KRAKEND]", address=path)
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        handler.emit(_record("line 0 xx"))
        conn, _ = listener.accept()
        assert len(_read_lines(conn, 1)) == 1
        conn.close()
        listener.close()
        os.unlink(path)
        receiver.bind(path)
        receiver.settimeout(5)
        handler.emit(_record("line 1 xx"))
        handler.emit(_record("line 2 xx"))
        got = [_LINE.fullmatch(receiver.recv(65536)) for _ in range(2)]
        assert [int(m[1]) for m in got if m] == [1, 2]
    finally:
        handler.close()
        receiver.close()
    assert handler.dropped == 0


async def test_a_daemon_that_stops_reading_never_blocks_and_loses_no_line_unsaid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "krakenpy.telemetry")
    path = str(tmp_path / "log.sock")
    listener = _daemon(path)
    handler = SyslogHandler(facility="local3", tag="[KRAKEND]", address=path)
    loop = asyncio.get_running_loop()
    total = 0
    try:
        handler.emit(_record("line 0 " + "x" * 200))
        conn, _ = listener.accept()  # and reads nothing for now
        total = 1
        while handler.dropped == 0:  # the kernel's buffers, then PENDING_LIMIT, fill up
            handler.emit(_record(f"line {total} " + "x" * 200))
            total += 1
            assert total < 100_000
        for _ in range(20):  # more dropped: said once
            handler.emit(_record(f"line {total} " + "x" * 200))
            total += 1
        conn.setblocking(False)
        data = b""
        expected = total - handler.dropped
        while data.count(b"\n") < expected:  # the loop sends what waited as the daemon reads
            data += await asyncio.wait_for(loop.sock_recv(conn, 65536), 5)
        conn.close()
    finally:
        handler.close()
        listener.close()
    lines = data.split(b"\n")
    assert lines.pop() == b""
    numbers = [int(m[1]) for m in map(_LINE.fullmatch, lines) if m]
    assert len(numbers) == len(lines) == expected  # every line whole
    assert numbers == sorted(numbers) and numbers[0] == 0
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("syslog: cannot send")]
    assert len(said) == 1 and "does not read fast enough" in said[0]
    assert handler.dropped >= 21 and len(data) <= 8 * 1024 * 1024 + PENDING_LIMIT


async def test_a_line_from_another_thread_while_the_loop_watches_a_restarted_daemon(tmp_path: Path) -> None:
    """A hot reload logs from a thread: while the loop watches a full connection, such a line waits
    for the loop, which alone touches the socket it watches; the daemon restarts meanwhile, and the
    loop finds the dead connection, makes a new one and sends what waited, the thread's line last."""
    path = str(tmp_path / "log.sock")
    listener = _daemon(path)
    handler = SyslogHandler(facility="local3", tag="[KRAKEND]", address=path)
    loop = asyncio.get_running_loop()
    total = 0
    try:
        handler.emit(_record("line 0 xx"))
        conn, _ = listener.accept()
        while handler._watching is None:  # the socket is full: the loop watches it
            total += 1
            handler.emit(_record(f"line {total} " + "x" * 200))
        conn.close()  # the daemon restarts: what the socket held is lost with it
        listener.close()
        os.unlink(path)
        listener = _daemon(path)
        listener.setblocking(False)
        thread = threading.Thread(target=handler.emit, args=(_record(f"line {total + 1} from a thread xx"),))
        thread.start()
        thread.join(5)
        assert not thread.is_alive()
        conn, _ = await asyncio.wait_for(loop.sock_accept(listener), 5)
        data = b""
        while not data.endswith(b"from a thread xx\n"):
            data += await asyncio.wait_for(loop.sock_recv(conn, 65536), 5)
        conn.close()
    finally:
        handler.close()
        listener.close()
    lines = data.split(b"\n")[:-1]
    assert all(_LINE.fullmatch(line) or line.endswith(b"from a thread xx") for line in lines)
    assert lines[-1].endswith(b"line %d from a thread xx" % (total + 1))
