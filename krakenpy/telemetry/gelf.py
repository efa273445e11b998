"""GELF 1.1 to Graylog (``telemetry/gelf``) over asyncio transports, never blocking a request.

UDP: each message is gzip-compressed; above 1420 bytes it is split into chunks (magic ``0x1e 0x0f``,
8-byte message id, sequence number, count; at most 128 chunks). TCP: plain JSON ended by a NUL byte.
The connection is opened lazily on the running loop (and reopened after failures with back-off);
while it is not up, up to :data:`QUEUE_LIMIT` messages wait (a chunked UDP message counts once), then
new ones are dropped and counted; so are messages while the transport holds more than
:data:`BUFFER_LIMIT` bytes the collector has not taken (a slow TCP collector, a full UDP socket
buffer). The first drop of an outage is said once (the count goes on in :attr:`GelfSender.dropped`).
``sent`` counts messages handed to the transport, whatever their frames.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import socket
import time
from collections import deque
from typing import Any, Final

from krakenpy.gojson import text_json
from krakenpy.server import saidonce
from krakenpy.tasks import spawn
from krakenpy.telemetry.exchange import CURRENT
from krakenpy.telemetry.logfmt import masked
from krakenpy.telemetry.loopowner import LoopOwner
from krakenpy.telemetry.redact import Redactor

__all__ = ["BUFFER_LIMIT", "CHUNK_SIZE", "FACILITY", "GelfHandler", "GelfSender", "encode_udp", "gelf_message"]

CHUNK_SIZE: Final = 1420
_HEADER: Final = 12
_MAX_CHUNKS: Final = 128
#: seconds :meth:`GelfSender.close` waits for a TCP collector to take what is still buffered
CLOSE_WAIT: Final = 2.0
QUEUE_LIMIT: Final = 4096
#: bytes a transport may hold unsent before new messages are dropped (asyncio's buffer has no bound)
BUFFER_LIMIT: Final = 4 * 1024 * 1024
#: UDP messages' ``facility``: go-gelf sends its process's name (``krakend``); the program's name
#: here, whatever started it (``python -m krakenpy`` would give ``__main__.py``, a script its path)
FACILITY: Final = "krakenpy"
_HOST = socket.gethostname()
log = logging.getLogger("krakenpy.telemetry")
#: formats a record's traceback (``formatException``)
_TRACEBACK: Final = logging.Formatter()
_SYSLOG_LEVEL: Final = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    25: 5,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def gelf_message(
    text: str,
    *,
    level: int = 6,
    timestamp: float | None = None,
    facility: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A GELF 1.1 object: ``short_message`` is the first line, ``full_message`` the whole text."""
    text = text.rstrip("\n")
    short, _, rest = text.partition("\n")
    message: dict[str, Any] = {
        "version": "1.1",
        "host": _HOST,
        "short_message": short or "-",
        "timestamp": round(timestamp if timestamp is not None else time.time(), 6),
        "level": level,
    }
    if rest:
        message["full_message"] = text
    if facility:
        message["facility"] = facility
    if extra:
        message.update(extra)
    return message


def encode_udp(payload: bytes, message_id: bytes | None = None) -> list[bytes]:
    """Gzip ``payload`` and chunk it as GELF does; ``[]`` when it needs more than 128 chunks."""
    data = gzip.compress(payload, compresslevel=1, mtime=0)
    if len(data) <= CHUNK_SIZE:
        return [data]
    size = CHUNK_SIZE - _HEADER
    count = (len(data) + size - 1) // size
    if count > _MAX_CHUNKS:
        return []
    ident = message_id or os.urandom(8)
    return [b"\x1e\x0f" + ident + bytes((i, count)) + data[i * size : (i + 1) * size] for i in range(count)]


class _Udp(asyncio.DatagramProtocol):
    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable: Graylog is down
        pass


class GelfSender:
    """One GELF destination; :meth:`send` queues and returns at once."""

    def __init__(self, host: str, port: int, *, tcp: bool = False) -> None:
        self.host = host
        self.port = port
        self.tcp = tcp
        self.facility = None if tcp else FACILITY
        #: each waiting message's frames (a UDP message above 1420 bytes has several)
        self._queue: deque[list[bytes]] = deque()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.StreamWriter | None = None
        #: the TCP connection's reading side: a collector never writes, so its end means it closed
        self._tcp_in: asyncio.StreamReader | None = None
        self._connecting = False
        self._retry_at = 0.0
        self._backoff = 0.5
        self.dropped = 0
        self.sent = 0
        self._closed = False
        #: the collector could not be reached, and the log said so (once an outage)
        self._outage = False
        #: messages are being dropped, and the log said so (until the sender takes messages again)
        self._dropping = False

    def send(self, message: dict[str, Any]) -> None:
        """Queue one GELF object for sending (dropped and counted when the queue is full)."""
        if self._closed:
            return
        payload = text_json(message)
        if self.tcp:
            frames = [payload + b"\0"]
        else:
            frames = encode_udp(payload)
            if not frames:
                self._drop("a message needs more than 128 chunks")
                return
        if self._udp is not None:
            # asyncio's and uvloop's datagram transports have it; typeshed's DatagramTransport does not
            if self._udp.get_write_buffer_size() > BUFFER_LIMIT:  # type: ignore[attr-defined]
                self._drop("the UDP socket's buffer is full")
                return
            for frame in frames:
                self._udp.sendto(frame)
            self.sent += 1
            self._dropping = False  # taken again: the next drop is said again
            return
        if self._tcp is not None and self._tcp_in is not None and self._tcp_in.at_eof():
            # the collector closed the connection (a restart): a frame written now would be lost in
            # the dead socket, and the next one with its reset; both wait for a new connection
            self._tcp.close()
            self._tcp = None
        if self._tcp is not None and not self._tcp.is_closing():
            buffered = self._tcp.transport.get_write_buffer_size()
            if buffered > BUFFER_LIMIT:
                self._drop("the collector does not read fast enough")
                return
            self._tcp.write(frames[0])
            self.sent += 1
            if buffered < BUFFER_LIMIT // 2:  # drained well below the limit: the next drop is said again
                self._dropping = False
            return
        if len(self._queue) >= QUEUE_LIMIT:
            self._drop(f"{QUEUE_LIMIT} messages wait for the connection")
            return
        self._queue.append(frames)
        self._connect()

    def _drop(self, why: str) -> None:
        """Count a message dropped; the first of an outage is said (set first: the warning itself
        comes back here through the GELF handler, and is dropped and counted quietly)."""
        self.dropped += 1
        if not self._dropping:
            self._dropping = True
            log.warning(  # per worker: it names the worker's own count
                "[SERVICE: Logging][GELF] messages to %s:%d are dropped (%d so far): %s",
                self.host, self.port, self.dropped, why,
            )  # fmt: skip

    def _connect(self) -> None:
        if self._connecting:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the queue waits for the first message sent while serving
        if loop.time() < self._retry_at:
            return
        self._connecting = True
        _ = spawn(self._open(loop))

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            if self.tcp:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 5.0)
                while self._queue:
                    writer.write(self._queue.popleft()[0])
                    self.sent += 1
                if self._closed:  # closed while connecting: what waited is sent, the connection not kept
                    writer.close()
                else:
                    self._tcp, self._tcp_in = writer, reader
            else:
                transport, _ = await loop.create_datagram_endpoint(_Udp, remote_addr=(self.host, self.port))
                while self._queue:
                    for frame in self._queue.popleft():
                        transport.sendto(frame)
                    self.sent += 1
                if self._closed:
                    transport.close()
                else:
                    self._udp = transport
            self._backoff = 0.5
            self._outage = False
            self._dropping = False
        except (OSError, TimeoutError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode (a..b)
            self._retry_at = loop.time() + self._backoff
            self._backoff = min(self._backoff * 2, 30.0)
            if not self._outage:  # said once an outage (KrakenD says once it cannot make the writer)
                self._outage = True
                saidonce.say(  # once per gateway with run -w N: every worker has its own connection
                    log, logging.WARNING,
                    "[SERVICE: Logging][GELF] cannot reach %s:%d over %s: %s; messages wait (at most %d), then are "
                    "dropped", self.host, self.port, "TCP" if self.tcp else "UDP", str(exc) or type(exc).__name__,
                    QUEUE_LIMIT, topic=f"gelf {self.host}:{self.port}",
                )  # fmt: skip
        finally:
            self._connecting = False

    async def close(self) -> None:
        self._closed = True
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            try:
                # a collector that stopped reading never lets the buffered frames out: the wait would
                # never end, and with it the gateway's stop (a worker stopped by SIGTERM hung there)
                await asyncio.wait_for(self._tcp.wait_closed(), CLOSE_WAIT)
            except (OSError, TimeoutError):
                self._tcp.transport.abort()  # what is still buffered is dropped
            self._tcp = None


class GelfHandler(logging.Handler):
    """Application-log records as GELF messages (level, file and line kept), sent from the loop's
    thread (its transports are the loop's: :class:`~krakenpy.telemetry.loopowner.LoopOwner`)."""

    def __init__(self, sender: GelfSender, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.sender = sender
        self.owner = LoopOwner()
        self._redactor = redactor or Redactor()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:  # the traceback in full_message, as standard output writes it
                text += "\n" + _TRACEBACK.formatException(record.exc_info)
            text = masked(self._redactor, record, text)
            extra: dict[str, Any] = {"_file": record.pathname, "_line": record.lineno, "_logger": record.name}
            exchange = CURRENT.get()
            if exchange is not None:
                extra["_request_id"] = exchange.request_id
            level = _SYSLOG_LEVEL.get(record.levelno, 6)
            facility = self.sender.facility
            message = gelf_message(text, level=level, timestamp=record.created, facility=facility, extra=extra)
            self.owner.call(self.sender.send, message)
        except Exception:  # a log handler never raises into the code that logged
            self.handleError(record)
