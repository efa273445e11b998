"""A ``krakenpy.*`` record logged off the loop's thread (a hot reload's config load runs in
``asyncio.to_thread``) is written from the loop's thread: the stdout writer it shares with the access
log and GELF's transports are the loop's objects (:mod:`krakenpy.telemetry.loopowner`)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import threading
from pathlib import Path
from typing import Any, cast

import orjson

from krakenpy.telemetry.applog import AppLogOptions, LineHandler, make_formatter
from krakenpy.telemetry.exchange import CURRENT, Exchange
from krakenpy.telemetry.gelf import GelfHandler, GelfSender
from krakenpy.telemetry.loopowner import LoopOwner
from krakenpy.telemetry.writer import LineWriter

LINES = 200
GELF_LINES = 50


class _ThreadNoting:
    """A file writer that notes the thread of every ``write`` (a wrapper: compiled, LineWriter takes
    no interpreted subclass)."""

    def __init__(self, path: Path) -> None:
        self.lines = LineWriter.open(str(path))
        self.threads: set[int] = set()

    def write(self, line: bytes) -> None:
        self.threads.add(threading.get_ident())
        self.lines.write(line)

    def flush(self) -> None:
        self.lines.flush()

    def handler(self) -> LineHandler:
        return LineHandler(cast(LineWriter, self), make_formatter(AppLogOptions(format="basic")))


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"krakenpy.test.threads.{name}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_a_record_from_a_worker_thread_is_written_on_the_loops_thread(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    writer = _ThreadNoting(path)

    async def main() -> int:
        logger = _logger("lines", writer.handler())

        def off_loop() -> None:
            for n in range(LINES):
                logger.warning("from a thread %d", n)

        await asyncio.to_thread(off_loop)
        # and a plain thread, started while the loop runs
        thread = threading.Thread(target=lambda: logger.warning("from a plain thread"))
        thread.start()
        await asyncio.to_thread(thread.join)
        for _ in range(5):  # the handed-over writes, then their batch
            await asyncio.sleep(0.03)
        writer.lines.flush()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert writer.threads == {loop_thread}
    lines = path.read_text().splitlines()
    assert sum("from a plain thread" in line for line in lines) == 1
    assert [int(line.rsplit(" ", 1)[1]) for line in lines if "from a thread" in line] == list(range(LINES))


def test_no_running_loop_writes_where_it_was_logged(tmp_path: Path) -> None:
    """Start-up, shutdown and ``check``: no loop to hand the write to, so it is written at once."""
    path = tmp_path / "out.log"
    writer = _ThreadNoting(path)
    _logger("noloop", writer.handler()).warning("before any loop")
    assert writer.threads == {threading.get_ident()}
    assert "before any loop" in path.read_text()


def test_an_owner_loop_that_stopped_lets_another_write() -> None:
    written: list[tuple[int, str]] = []
    owner = LoopOwner()

    async def once(text: str) -> None:
        owner.call(lambda item: written.append((threading.get_ident(), item)), text)

    asyncio.run(once("first loop"))
    first = owner.loop
    asyncio.run(once("second loop"))  # the first loop is closed: the second one owns it now
    assert owner.loop is not first and [text for _, text in written] == ["first loop", "second loop"]


class _NotingSender(GelfSender):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.threads: set[int] = set()

    def send(self, message: dict[str, Any]) -> None:
        self.threads.add(threading.get_ident())
        super().send(message)


def test_gelf_sends_from_the_loops_thread_with_the_records_request_id() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # every datagram kept until read
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5.0)
    port = receiver.getsockname()[1]
    sender = _NotingSender("127.0.0.1", port)

    async def main() -> int:
        logger = _logger("gelf", GelfHandler(sender))
        logger.warning("on the loop")  # opens the transport
        for _ in range(20):
            if sender._udp is not None:
                break
            await asyncio.sleep(0.01)
        exchange = Exchange()
        exchange.request_id = "rid-from-the-thread"
        token = CURRENT.set(exchange)
        try:
            # to_thread copies the context: the record's request is the one that logged it
            def off_loop() -> None:
                for n in range(GELF_LINES):
                    logger.warning("off the loop %d", n)

            await asyncio.to_thread(off_loop)
        finally:
            CURRENT.reset(token)
        for _ in range(5):
            await asyncio.sleep(0.02)
        await sender.close()
        return threading.get_ident()

    try:
        loop_thread = asyncio.run(main())
        got: list[dict[str, Any]] = []
        while len(got) < GELF_LINES + 1:
            got.append(orjson.loads(gzip.decompress(receiver.recv(65536))))
    finally:
        receiver.close()
    assert sender.threads == {loop_thread}
    off = [m for m in got if m["short_message"].startswith("off the loop")]
    assert len(off) == GELF_LINES and {m["_request_id"] for m in off} == {"rid-from-the-thread"}
