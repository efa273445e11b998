"""HTTP/2 cleartext with prior knowledge on the gateway's own listener, for the gRPC server.

:class:`~krakenpy.server.connection.GatewayProtocol` hands a connection over when its first bytes are
the HTTP/2 client preface (aiohttp's parser refuses them, so HTTP/1.1 requests never pay for the
check). Each stream becomes an :class:`~krakenpy.edge.HttpRequest` for the server's current edge
handler (a hot reload applies to the next stream); a gRPC call is marked so the ``grpc`` edge
middleware answers it, and its ``grpc-status``/``grpc-message`` travel as trailers. Other streams
are plain HTTP requests answered over HTTP/2.

The old protocol stays in the server's connection set as this connection's stand-in: it is busy
while a stream is being answered, so a drain or a reload waits for the calls in flight, and a drain
ends the connection with a GOAWAY once they are answered; between calls its idle clock runs (the
server's ``idle_timeout``), so the sweep closes a connection left open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from multidict import CIMultiDict

from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.grpc.options import DEFAULT_MAX_RECV
from krakenpy.grpc.server import GRPC_CALL, INTERNAL, status_response
from krakenpy.server.lifecycle import IDLE, NONE
from krakenpy.server.takeover import PREFACE
from krakenpy.tasks import spawn

if TYPE_CHECKING:
    from krakenpy.server.connection import GatewayProtocol

__all__ = ["H2Server", "serve_h2"]

log = logging.getLogger("krakenpy.grpc")

#: streams answered at once on one connection (grpc-go's default is 100 too)
MAX_STREAMS: Final = 100
#: a stream's body beyond this is refused: a gRPC message (4 MiB by default) and its prefix, with room
_MAX_BODY: Final = DEFAULT_MAX_RECV + 1024
#: headers HTTP/2 forbids (connection-specific)
_HOP: Final = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})
#: what a gRPC answer carries in its trailers
_TRAILERS: Final = ("grpc-status", "grpc-message")


class _Stream:
    __slots__ = ("body", "ended", "headers", "task", "window")

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers
        self.body = bytearray()
        self.ended = False
        self.task: asyncio.Task[None] | None = None
        self.window = asyncio.Event()


class H2Server(asyncio.Protocol):
    """One HTTP/2 connection: its streams, each answered in a task of its own."""

    def __init__(self, old: GatewayProtocol, transport: asyncio.Transport) -> None:
        self.old = old
        self.transport: asyncio.Transport | None = transport
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config)
        self.conn.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS}
        )
        self.conn.initiate_connection()
        self.streams: dict[int, _Stream] = {}
        self.closing = False

    # -- connection events ---------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:  # h2 queued the GOAWAY: send it and end
            self.flush()
            self.close()
            return
        for event in events:
            self._event(event)
        self.flush()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        for stream in self.streams.values():
            if stream.task is not None:
                stream.task.cancel()
            stream.window.set()
        self.streams.clear()
        self.old.connection_lost(exc)

    def pause_writing(self) -> None:
        self.old.pause_writing()

    def resume_writing(self) -> None:
        self.old.resume_writing()

    def flush(self) -> None:
        out = self.conn.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- streams -------------------------------------------------------------------------------

    def _event(self, event: Any) -> None:
        if isinstance(event, h2.events.RequestReceived):
            if self.closing:  # after a drain's GOAWAY: no new stream
                self.conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                return
            self.streams[event.stream_id] = _Stream([(str(n), str(v)) for n, v in event.headers])
            if event.stream_ended is not None:
                self._start(event.stream_id)
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream is None or stream.ended:
                return
            if len(stream.body) + len(event.data) > _MAX_BODY:
                self._too_large(event.stream_id, stream)
                return
            stream.body += event.data
        elif isinstance(event, h2.events.StreamEnded):
            if event.stream_id in self.streams:
                self._start(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None and stream.task is not None:
                stream.task.cancel()
        elif isinstance(event, h2.events.WindowUpdated):
            targets = self.streams.values() if event.stream_id == 0 else [self.streams.get(event.stream_id)]
            for stream in targets:
                if stream is not None:
                    stream.window.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.close()

    def _too_large(self, stream_id: int, stream: _Stream) -> None:
        """A body past the bound: answered at once (RESOURCE_EXHAUSTED, or 413), the rest not read."""
        grpc = any(n == "content-type" and v.startswith("application/grpc") for n, v in stream.headers)
        if grpc:
            head = [(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "8")]
            head.append(("grpc-message", "the message is too large"))
        else:
            head = [(":status", "413")]
        del self.streams[stream_id]
        self.conn.send_headers(stream_id, head, end_stream=True)
        self.conn.reset_stream(stream_id, h2.errors.ErrorCodes.NO_ERROR)  # stop the client sending the rest

    def _start(self, stream_id: int) -> None:
        stream = self.streams[stream_id]
        stream.ended = True
        stream.task = spawn(self._answer(stream_id, stream))
        old = self.old
        old._task = stream.task  # busy: a drain or a reload waits for it
        old._clock, old._deadline = NONE, 0.0

    def idle(self) -> None:
        """No stream in flight: the server's idle clock runs (the sweep closes the connection)."""
        span = self.old._server.idle_span
        self.old._clock = IDLE
        self.old._deadline = time.monotonic() + span if span > 0 else 0.0

    def _request(self, stream: _Stream) -> HttpRequest:
        pseudo = {name: value for name, value in stream.headers if name.startswith(":")}
        headers = CIMultiDict((n, v) for n, v in stream.headers if not n.startswith(":"))
        target = pseudo.get(":path", "/")
        path, _, query = target.partition("?")
        body = bytes(stream.body)
        sent = False

        async def read(n: int) -> bytes:
            nonlocal sent
            if sent:
                return b""
            sent = True
            return body

        authority = pseudo.get(":authority") or headers.get("host") or ""
        request = HttpRequest(
            pseudo.get(":method", "GET"),
            path,
            query,
            headers,
            remote=self.old._remote,
            host=authority,
            scheme=self.old._scheme,
            has_body=bool(body),
            content_length=len(body),
            read=read,
            raw_path=target,
        )
        if headers.get("content-type", "").startswith("application/grpc"):
            request.context[GRPC_CALL] = True
        return request

    async def _answer(self, stream_id: int, stream: _Stream) -> None:
        try:  # a reset stream or a lost connection cancels the task: it is done all the same
            request = self._request(stream)
            grpc = GRPC_CALL in request.context
            try:
                response = await self.old._server.handler(request)
            except Exception:  # the handlers answer their errors: this is a bug, never a traceback to the client
                log.exception("unhandled error serving %s %s over HTTP/2", request.method, request.path)
                response = status_response(INTERNAL, "internal error") if grpc else HttpResponse(500)
            await self._write(stream_id, stream, response, grpc, request.method == "HEAD")
        except (h2.exceptions.ProtocolError, KeyError):  # the client reset the stream or left meanwhile
            pass
        finally:
            self._done(stream_id)

    async def _write(
        self, stream_id: int, stream: _Stream, response: HttpResponse, grpc: bool, head_only: bool
    ) -> None:
        head = [(":status", str(response.status))]
        trailers: list[tuple[str, str]] = []
        for name, value in response.headers.items():
            lower = name.lower()
            if lower in _HOP or lower == "content-length":
                continue
            if grpc and lower in _TRAILERS and response.body:
                trailers.append((lower, value))
            else:
                head.append((lower, value))
        body = b"" if head_only or response.status in (204, 304) else response.body
        self.conn.send_headers(stream_id, head, end_stream=not body)
        self.flush()
        if not body:
            return
        await self._send(stream_id, stream, body, end=not trailers)
        if trailers:
            self.conn.send_headers(stream_id, trailers, end_stream=True)
            self.flush()

    async def _send(self, stream_id: int, stream: _Stream, body: bytes, end: bool) -> None:
        """The body within HTTP/2 flow control: waits for the client's window updates."""
        view = memoryview(body)
        while view:
            if self.transport is None:
                raise KeyError(stream_id)
            size = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size, len(view))
            if size <= 0:
                stream.window.clear()
                await stream.window.wait()
                continue
            last = size == len(view)
            self.conn.send_data(stream_id, bytes(view[:size]), end_stream=end and last)
            self.flush()
            view = view[size:]

    def _done(self, stream_id: int) -> None:
        self.streams.pop(stream_id, None)
        self.old._finished += 1
        if self.transport is None or any(s.task is not None for s in self.streams.values()):
            return
        self.old._task = None
        if self.old._closing:
            self.goaway()
        else:
            self.idle()

    def goaway(self) -> None:
        """No new stream (a drain): GOAWAY, then close once the streams in flight are answered."""
        if not self.closing:
            self.closing = True
            self.conn.close_connection()
            self.flush()
        if not self.streams:
            self.close()


def serve_h2(old: GatewayProtocol, transport: asyncio.Transport, data: bytes) -> H2Server:
    """Take the connection over from ``old`` (the preface already read); ``data`` came after it."""
    server = H2Server(old, transport)
    server.idle()  # the idle clock between calls (Go's http2 server keeps IdleTimeout too), no other
    transport.set_protocol(server)
    server.conn.receive_data(PREFACE)  # h2 reads the preface itself
    server.flush()
    if data:
        server.data_received(data)
    return server
