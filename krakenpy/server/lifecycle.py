"""The state and the ends of one client connection of krakenpy's HTTP/1.1 server: its clocks, Go's
refusals, closing (now, after the answer, on a deadline) and what the server's sweep, drain and swap
read. Reading and answering requests is :class:`~krakenpy.server.connection.GatewayProtocol`'s.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, TypeAlias

from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.http_parser import HttpRequestParser
from aiohttp.streams import StreamReader

from krakenpy.flowcontrol import FlowProtocol
from krakenpy.server.bodyerror import MalformedBody
from krakenpy.server.wire import go_refusal

if TYPE_CHECKING:
    from krakenpy.server.protocol import GatewayServer

__all__ = ["Connection", "MalformedBody"]

log = logging.getLogger("krakenpy.server")

# which clock runs on a connection (LINGER: closing, the client's last bytes read and dropped)
NONE, HEADER, READ, WRITE, IDLE, LINGER = 0, 1, 2, 3, 4, 5
#: seconds a connection closed on a client still sending keeps reading (and dropping) its bytes
#: after the answer and a FIN, so that the kernel does not answer them with a reset that can destroy
#: the answer before the client read it (Go waits 500 ms without reading: ``closeWriteAndWait``)
LINGER_SPAN = 1.0
#: ... and at most this many bytes: a client streaming a gigabyte is cut, not read for a second
LINGER_BYTES = 8 << 20
_CLOCKS = {HEADER: "read_header_timeout", READ: "read_timeout", WRITE: "write_timeout"}
#: the queue marker after the requests that closes without an answer (a body whose framing broke);
#: any other int there refuses with that status
CLOSE = 0
#: a parsed request's message: aiohttp's ``RawRequestMessage``, which its stubs declare a NamedTuple but
#: its C parser builds as an extension type (not a tuple): typed as such, mypyc's compiled code would
#: check for a tuple and refuse it
RequestMessage: TypeAlias = Any
Item = tuple[RequestMessage, StreamReader] | int


class Connection(FlowProtocol):
    """One client connection's state and ends (:class:`~krakenpy.flowcontrol.FlowProtocol` brings the
    parser's read flow control and the write flow control)."""

    def __init__(self, server: GatewayServer, loop: asyncio.AbstractEventLoop, parser: HttpRequestParser) -> None:
        super().__init__(loop, parser)
        self._server = server
        self._queue: deque[Item] = deque()
        self._task: asyncio.Task[None] | None = None
        self._base = contextvars.Context()
        self._body: StreamReader | None = None  # the latest request's body while it is still arriving
        self._clock = NONE
        self._deadline = 0.0  # monotonic; 0 = none
        self._t0 = 0.0  # when the current request's first byte arrived
        self._write_by = 0.0  # the write deadline, once the headers are in
        self._hbytes = 0  # header bytes of the request being received
        # what the parser holds since the last request boundary it provably stands at: b"" there, the
        # first bytes of a request head arriving in parts, None when not known (a body, a paused
        # parser, a read ending past a message's end); what a refused read is parsed again from
        self._since: bytes | None = b""
        # the body being read is an unswitched Upgrade request's: the parser drops what follows it
        # (``GatewayProtocol._unswitched``)
        self._unswitched_body = False
        # while a rest after one is parsed: b"", or the rest after the next one (None: not parsing one)
        self._again: bytes | None = None
        self._held: bytes | None = None  # what came behind an Upgrade request, until it is answered
        self._finished = 0  # responses written on this connection
        self._started = -1  # requests started, when it is not ``_finished`` and the one in flight (HTTP/2)
        self._closing = False  # close once the current answer is written (drain, broken body)
        self._done = False  # closed or closing now: nothing more is read or answered
        self._remote = ""
        self._scheme = "http"

    def connection_lost(self, exc: BaseException | None) -> None:
        self._server.lost(self)
        super().connection_lost(exc)
        self._done = True
        self._clock, self._deadline = NONE, 0.0
        self._queue.clear()
        if self._task is not None:  # the client went away (or a clock cut it): as aiohttp's handler_cancellation
            self._task.cancel()
        if self._body is not None and not self._body.is_eof():
            self._body.set_exception(ConnectionResetError("connection lost"))

    def eof_received(self) -> None:
        # the client closed its side: Go cancels the request, asyncio closes the transport (None)
        return None

    # -- refusals and closing ------------------------------------------------------------------

    def _malformed(self, exc: HttpProcessingError) -> None:
        body = self._body
        if body is not None and not body.is_eof():
            # the framing of a body being read broke: its reader fails, the connection ends after that answer
            body.set_exception(MalformedBody("malformed request body"))
            self._body = None
            self._server.client_errors.record(f"400 malformed body from {self._remote or '?'}")
            self._refuse(CLOSE, "")
            return
        # the client's mistake, one counted line and Go's short answer (never aiohttp's message: it
        # quotes the offending bytes, which may be a credential)
        too_long = isinstance(exc, LineTooLong) or "Too many headers" in str(exc.message)
        self._refuse(431 if too_long else 400, type(exc).__name__)

    def _refuse(self, status: int, detail: str) -> None:
        """Refuse what is being received: now, or after the answers to the requests before it."""
        if status:
            self._server.client_errors.record(f"{status} {detail} from {self._remote or '?'}")
        if self._task is None and not self._queue:
            self._end(status, linger=True)
            return
        self._queue.append(status)
        self._done = True  # nothing more is parsed
        self._pause_reading_for_buffer()

    def _end(self, status: int, linger: bool = False) -> None:
        """Close the connection after what was written, with Go's refusal first when ``status``;
        ``linger`` when the client may still be sending (a refusal, an unread body)."""
        self._done = True
        self._clock, self._deadline = NONE, 0.0
        transport = self.transport
        if transport is None:
            return
        if status:
            transport.write(go_refusal(status))
        if not linger or not transport.can_write_eof():  # TLS cannot half-close: closed at once
            transport.close()
            return
        # the answer, then FIN; reading goes on (data_received drops it all) until the client closes
        # or the sweep ends the linger: closing with unread bytes would send a reset instead
        transport.write_eof()
        self._clock, self._deadline = LINGER, time.monotonic() + LINGER_SPAN
        self._hbytes = 0  # now the bytes dropped
        self._reading_paused = self._buffer_paused = False
        self._resume_transport_reading()

    def _drop(self, data: bytes) -> None:
        """Bytes arriving on a connection that is closing: dropped, within the linger's bounds."""
        if self._clock == LINGER:
            self._hbytes += len(data)
            if self._hbytes > LINGER_BYTES:
                self.close_now()

    def close_now(self) -> None:
        """Close the connection at once, cutting the request it may be answering."""
        self._done = True
        self._clock, self._deadline = NONE, 0.0
        transport = self.transport
        if transport is not None:
            if transport.get_write_buffer_size():
                transport.abort()  # a client that does not read would hold a graceful close forever
            else:
                transport.close()

    def force_close(self) -> None:
        """The name aiohttp's server gives :meth:`close_now`."""
        self.close_now()

    def close_after_response(self) -> None:
        """Close once the request being answered is (``Connection: close`` on that answer)."""
        if self._task is None:
            self.close_now()
        else:
            self._closing = True

    def expire(self, now: float) -> None:
        """Called by the sweep once the deadline has passed: close, unless the body finished meanwhile
        (then only the write clock is left)."""
        clock = self._clock
        if clock == READ and (self._body is None or self._body.is_eof()):
            self._clock, self._deadline = WRITE, self._write_by
            if not self._write_by or now < self._write_by:
                return
            clock = WRITE
        if clock in _CLOCKS:
            self._server.timeouts.record(f"{_CLOCKS[clock]} for {self._remote or '?'}")
        self.close_now()

    @property
    def busy(self) -> bool:
        """Answering a request now."""
        return self._task is not None

    @property
    def finished(self) -> int:
        """Answers written on this connection (HTTP/2: the streams before the oldest still answered)."""
        return self._finished

    @property
    def started(self) -> int:
        """Requests started on this connection: once ``finished`` reaches it, they are all answered."""
        return self._started if self._started >= 0 else self._finished + (self._task is not None)
