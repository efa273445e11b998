"""The side listeners' server (``/__stats``, Prometheus ``/metrics``, the revoker admin API; see
:mod:`krakenpy.server.side`): aiohttp's low-level server with the gateway's client-facing limits —
header, read, write and idle clocks, a total header size, Go's answers to malformed requests —
for routes written as aiohttp handlers. The gateway's own port is served by
:mod:`krakenpy.server.protocol` (no aiohttp web layer); this stays until the side routes are edge
handlers too.

This subclasses aiohttp's ``RequestHandler`` and reads a few of its private fields
(``_request_count``, ``_messages``, ``_request_in_progress``); aiohttp is pinned to 3.14.
"""

from __future__ import annotations

import asyncio
import logging
import time
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestHandler

from krakenpy.server.adapter import AiohttpHandler
from krakenpy.server.limits import ServerLimits
from krakenpy.server.sweep import MAX_HEADER_LINES, SweptServer

__all__ = ["SideProtocol", "SideServer"]

log = logging.getLogger("krakenpy.server")

#: aiohttp's keep-alive timer, pushed out of the way (the sweep owns the idle clock)
_NEVER = 10.0 * 365 * 24 * 3600


def _go_refusal(status: int) -> bytes:
    """What Go's server writes, then closes, for a request it cannot parse (net/http ``errorHeaders``)."""
    text = f"{status} {HTTPStatus(status).phrase}"
    return f"HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}".encode()


_GO_431 = _go_refusal(431)
# which clock runs on a connection
_NONE, _HEADER, _READ, _WRITE, _IDLE = 0, 1, 2, 3, 4
_CLOCKS = {_HEADER: "read_header_timeout", _READ: "read_timeout", _WRITE: "write_timeout"}


# the clocks use time.monotonic, as asyncio's loop.time does; bound once, and aiohttp's methods called
# directly: this runs for every request
_now = time.monotonic
_base_data_received = RequestHandler.data_received
_base_log_access = RequestHandler.log_access


class SideProtocol(RequestHandler):
    """One client connection."""

    __slots__ = (
        "_kp_clock",
        "_kp_deadline",
        "_kp_finished",
        "_kp_hbytes",
        "_kp_payload",
        "_kp_server",
        "_kp_t0",
        "_kp_write",
    )

    def __init__(self, manager: SideServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._kp_server = manager  # aiohttp drops its own reference when the connection is lost
        self._kp_clock = _NONE
        self._kp_deadline = 0.0  # loop time; 0 = none
        self._kp_t0 = 0.0  # when the current request's first byte arrived
        self._kp_write = 0.0  # the write deadline, once the headers are in
        self._kp_hbytes = 0
        self._kp_payload: StreamReader | None = None
        self._kp_finished = 0  # responses written on this connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._kp_request_starts(_now())  # Go: the first request's clock starts with the connection

    def _kp_request_starts(self, now: float) -> None:
        span = self._kp_server.header_span
        self._kp_clock = _HEADER
        self._kp_t0 = now
        self._kp_hbytes = 0
        self._kp_deadline = now + span if span else 0.0

    def _kp_headers_done(self, now: float, payload: StreamReader | None) -> None:
        server = self._kp_server
        write = server.write_span
        write_by = self._kp_write = now + write if write else 0.0
        self._kp_payload = payload
        if payload is not None and not payload.is_eof():  # a body is still coming: the read clock first
            read = server.read_span
            read_by = self._kp_t0 + read if read else 0.0
            if read_by and (not write_by or read_by < write_by):
                self._kp_clock, self._kp_deadline = _READ, read_by
                return
        self._kp_clock, self._kp_deadline = _WRITE, write_by

    def data_received(self, data: bytes) -> None:
        # written out in full, without helper calls: this runs for every request
        clock = self._kp_clock
        if (clock != _HEADER and clock != _IDLE) or not data:
            _base_data_received(self, data)
            return
        server = self._kp_server
        if clock == _IDLE:  # the first bytes of the next request on a kept-alive connection
            now = self._kp_t0 = _now()
            span = server.header_span
            self._kp_clock = _HEADER
            self._kp_deadline = now + span if span else 0.0
            hbytes = len(data)
        else:
            now = 0.0
            hbytes = self._kp_hbytes + len(data)
        self._kp_hbytes = hbytes
        count = self._request_count
        _base_data_received(self, data)
        if self._request_count != count:  # a request's headers are complete
            messages = self._messages
            payload = messages[-1][1] if messages else EMPTY_PAYLOAD
            if payload is EMPTY_PAYLOAD:  # no body (most requests): only the write clock runs
                write = server.write_span
                self._kp_payload = None
                self._kp_clock = _WRITE
                self._kp_deadline = self._kp_write = (now or _now()) + write if write else 0.0
            else:
                self._kp_headers_done(now or _now(), payload)
        elif hbytes > server.header_budget and self.transport is not None and not self._force_close:
            self._kp_refuse_headers()

    def _kp_refuse_headers(self) -> None:
        assert self.transport is not None
        self.transport.write(_GO_431)
        self._kp_clock, self._kp_deadline = _NONE, 0.0
        limit = self._kp_server.limits.max_header_bytes
        self._kp_server.client_errors.record(f"431 headers over {limit} bytes from {self._peer()}")
        self.force_close()

    def _peer(self) -> str:
        peer = self.peername
        return str(peer[0]) if isinstance(peer, tuple) else "?"

    def log_access(self, request: web.BaseRequest, response: web.StreamResponse, time: float | None) -> None:
        # aiohttp calls this once per response, after it is written (a synchronous hook: no extra await)
        if self._logging_enabled:
            _base_log_access(self, request, response, time)
        self._kp_finished += 1
        # a request that had no body when its headers arrived (most) cannot have an unread one
        if self._kp_payload is not None and not request.content.is_eof() and self.transport is not None:
            # the handler left part of the body unread (404, 405, 413...): close rather than read the rest
            self.force_close()
            return
        now = _now()
        messages = self._messages
        if messages:  # a pipelined request is already parsed
            self._kp_t0 = now
            self._kp_headers_done(now, messages[0][1])
            return
        idle = self._kp_server.idle_span
        self._kp_clock = _IDLE
        self._kp_deadline = now + idle if idle > 0 else 0.0

    def kp_expire(self, now: float) -> None:
        """Called by the sweep once the deadline has passed: close, unless the body finished meanwhile
        (then only the write clock is left)."""
        clock = self._kp_clock
        if clock == _READ and (self._kp_payload is None or self._kp_payload.is_eof()):
            self._kp_clock, self._kp_deadline = _WRITE, self._kp_write
            if not self._kp_write or now < self._kp_write:
                return
            clock = _WRITE
        self._kp_clock, self._kp_deadline = _NONE, 0.0
        if clock in _CLOCKS:
            self._kp_server.timeouts.record(f"{_CLOCKS[clock]} for {self._peer()}")
        self.force_close()

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError) or status >= 500:
            return super().handle_error(request, status, exc, message)
        # the parser refused the request: the client's mistake, one counted line and Go's short answer
        # (never aiohttp's message: it quotes the offending bytes, which may be a credential)
        if isinstance(exc, LineTooLong) or "Too many headers" in str(exc.message):
            status = 431
        self._kp_server.client_errors.record(f"{status} {type(exc).__name__} from {request.remote or '?'}")
        if self.transport is not None:
            self.transport.write(_go_refusal(status))
        self.force_close()
        # aiohttp then finds the connection closed and writes nothing of this one
        return web.Response(status=status)


class SideServer(SweptServer, web.Server):
    """aiohttp's low-level server producing :class:`SideProtocol` connections; ``limits`` apply to
    connections made after they are set (the parser's line sizes) and to every clock armed after."""

    def __init__(self, handler: AiohttpHandler, *, limits: ServerLimits, **kwargs: Any) -> None:
        kwargs.setdefault("handler_cancellation", True)  # as server_options() sets it
        super().__init__(handler, keepalive_timeout=_NEVER, **kwargs)
        self._start_clocks(limits)

    def __call__(self) -> SideProtocol:
        if self._sweeper is None:  # paused while no connection was open
            self.connecting()
        budget = self.limits.header_budget
        return SideProtocol(
            self,
            loop=self._loop,
            max_line_size=budget,
            max_field_size=budget,
            max_headers=MAX_HEADER_LINES,
            **self._kwargs,
        )

    def protocols(self) -> list[SideProtocol]:
        """The open connections."""
        return [c for c in self._connections if isinstance(c, SideProtocol)]

    def _open(self) -> bool:
        return bool(self._connections)

    def _expire_due(self, now: float) -> None:
        for connection in self.protocols():
            deadline = connection._kp_deadline
            if deadline and now >= deadline:
                connection.kp_expire(now)
