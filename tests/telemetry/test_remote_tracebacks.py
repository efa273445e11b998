"""An unexpected error's traceback (``log.exception``: a handler that crashed, a failed reload) reaches
GELF (``full_message``) and syslog (one line) as it reaches standard output, redacted: the remote
log kept only the message, without the cause."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import socket
import sys
from pathlib import Path

import orjson

from krakenpy.telemetry.gelf import GelfHandler, GelfSender
from krakenpy.telemetry.syslog import SyslogHandler


def _failed_record() -> logging.LogRecord:
    try:
        raise RuntimeError("boom with Bearer s3cr3t-token-1")
    except RuntimeError:
        info = sys.exc_info()
    return logging.LogRecord("krakenpy.server", logging.ERROR, __file__, 7, "unhandled error serving %s", ("/x",), info)


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.messages.append(orjson.loads(gzip.decompress(data)))


async def test_gelf_full_message_carries_the_traceback() -> None:
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    sender = GelfSender("127.0.0.1", transport.get_extra_info("sockname")[1])
    try:
        GelfHandler(sender).emit(_failed_record())
        for _ in range(100):
            if collector.messages:
                break
            await asyncio.sleep(0.01)
    finally:
        await sender.close()
        transport.close()
    [message] = collector.messages
    assert message["short_message"] == "unhandled error serving /x"
    full = str(message["full_message"])
    assert "Traceback (most recent call last):" in full and "RuntimeError: boom with Bearer [REDACTED]" in full
    assert "s3cr3t" not in full


def test_syslog_line_carries_the_traceback_on_one_line(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(path)
    daemon.settimeout(2)
    handler = SyslogHandler(address=path)
    try:
        handler.emit(_failed_record())
        data = daemon.recv(65536).decode()
    finally:
        handler.close()
        daemon.close()
        os.unlink(path)
    assert "\n" not in data
    assert "ERROR > unhandled error serving /x\\nTraceback (most recent call last):\\n" in data
    assert data.endswith("RuntimeError: boom with Bearer [REDACTED]")
