"""HTTP/2 cleartext with prior knowledge on the gateway's own listener, for the gRPC server.

:class:`~krakenpy.server.connection.GatewayProtocol` hands a connection over when its first bytes are
the HTTP/2 client preface (aiohttp's parser refuses them, so HTTP/1.1 requests never pay for the
check). Each stream becomes an :class:`~krakenpy.edge.HttpRequest` for the server's current edge
handler (a hot reload applies to the next stream), answered by :mod:`krakenpy.grpc.server_h2_stream`.

The old protocol stays in the server's connection set as this connection's stand-in: it is busy
while a stream is being answered, so a drain or a reload waits for the calls in flight, and a drain
ends the connection with a GOAWAY once they are answered; between calls its idle clock runs (the
server's ``idle_timeout``), so the sweep closes a connection left open.

What one client may hold is bounded: reading stops while the client does not read its answers (so
PING and SETTINGS acknowledgements cannot pile up), buffered request bodies and queued answer bytes
have a cap per connection, and a stream the client resets counts against the stream limit until its
task ended; too many such resets (CVE-2023-44487) end the connection with ENHANCE_YOUR_CALM.
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

from krakenpy.grpc.server_h2_stream import MAX_BODY, Stream, answer, refuse_large
from krakenpy.server.lifecycle import IDLE, NONE, WRITE
from krakenpy.server.takeover import PREFACE
from krakenpy.tasks import spawn

if TYPE_CHECKING:
    from krakenpy.server.connection import GatewayProtocol

__all__ = ["MAX_BUFFERED", "MAX_OUTBOUND", "MAX_STREAMS", "H2Server", "serve_h2"]

log = logging.getLogger("krakenpy.grpc")

#: streams answered at once on one connection (grpc-go's default is 100 too); a reset stream counts
#: until its task ended
MAX_STREAMS: Final = 100
#: request body bytes one connection may hold (each stream's own bound is ``MAX_BODY``)
MAX_BUFFERED: Final = 8 << 20
#: answer bytes queued for a client past which it is cut off (answers wait for the transport to drain,
#: so only a client that does not read gets there)
MAX_OUTBOUND: Final = 4 << 20
#: streams the client may reset while they are answered, refilled by this many per second
RESET_BUDGET: Final = MAX_STREAMS
RESET_REFILL: Final = 10.0
_ERR = h2.errors.ErrorCodes


class H2Server(asyncio.Protocol):
    """One HTTP/2 connection: its streams, each answered in a task of its own."""

    def __init__(self, old: GatewayProtocol, transport: asyncio.Transport) -> None:
        self.old = old
        self.transport: asyncio.Transport | None = transport
        # header bytes decoded as aiohttp's HTTP/1.1 parser does (UTF-8, other bytes kept as surrogates)
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        self.conn.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS}
        )
        self.conn.initiate_connection()
        self.streams: dict[int, Stream] = {}  # received, until answered or reset
        self.running: dict[asyncio.Task[None], int] = {}  # tasks in flight -> their stream's sequence number
        self.started = 0  # streams started on this connection
        self.buffered = 0  # body bytes held by streams
        self.orphans = 0  # tasks still running for streams the client reset
        self.closing = False
        self._resets = float(RESET_BUDGET)
        self._reset_at = time.monotonic()

    # -- connection events ---------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        try:
            events = self.conn.receive_data(data)
            for event in events:
                if self.transport.is_closing():  # abandoned meanwhile (connection_lost comes later)
                    break
                self._event(event)
        except h2.exceptions.ProtocolError:  # h2 queued its GOAWAY: send it and end
            self.abandon(None)
        except (h2.exceptions.H2Error, ValueError) as exc:  # a state the client's frames led to: never a traceback
            log.debug("HTTP/2 connection from %s ended: %r", self.old._remote or "?", exc)
            self.abandon(_ERR.PROTOCOL_ERROR)
        self.flush()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        for stream in self.streams.values():
            stream.window.set()
        for task in list(self.running):
            task.cancel()
        self.streams.clear()
        self.old.connection_lost(exc)

    def pause_writing(self) -> None:
        # the client does not read: nothing more is read either (its PINGs would queue answers without end)
        self.old.pause_writing()
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.old.resume_writing()
        if self.transport is not None:
            self.transport.resume_reading()

    def flush(self) -> None:
        """Write what h2 queued; a client holding more than ``MAX_OUTBOUND`` unread is cut off."""
        out = self.conn.data_to_send()
        transport = self.transport
        if out and transport is not None:
            transport.write(out)
            if transport.get_write_buffer_size() > MAX_OUTBOUND and not self.closing:
                self.old._server.timeouts.record(f"HTTP/2 client not reading, {self.old._remote or '?'}")
                self.abandon(_ERR.ENHANCE_YOUR_CALM)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abandon(self, code: h2.errors.ErrorCodes | None) -> None:
        """End the connection now: a GOAWAY with ``code`` (None: h2 queued its own), the streams cut."""
        self.closing = True
        if code is not None:
            try:
                self.conn.close_connection(code)
            except h2.exceptions.H2Error:
                pass
        transport = self.transport
        if transport is None:
            return
        out = self.conn.data_to_send()
        if out:
            transport.write(out)
        if transport.get_write_buffer_size() > MAX_OUTBOUND:
            transport.abort()  # it does not read: the GOAWAY would wait behind the rest for ever
        else:
            transport.close()

    # -- streams -------------------------------------------------------------------------------

    def _event(self, event: Any) -> None:
        if isinstance(event, h2.events.RequestReceived):
            sid = event.stream_id
            if self.closing or len(self.streams) + self.orphans >= MAX_STREAMS:
                # after a drain's GOAWAY, or reset streams whose tasks still run: not started
                self.conn.reset_stream(sid, _ERR.REFUSED_STREAM)
                return
            headers = [
                (n.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape")) for n, v in event.headers
            ]
            self.streams[sid] = Stream(headers)
            if event.stream_ended is not None:
                self._start(sid)
        elif isinstance(event, h2.events.DataReceived):
            self._data(event)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None and stream.task is None:  # HEADERS with END_STREAM started it already
                self._start(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                self.buffered -= len(stream.body)
                stream.window.set()
                if stream.task is not None and not stream.task.done():
                    stream.task.cancel()
                    stream.orphan = True  # counted against the stream limit until its task ended
                    self.orphans += 1
                    self._reset_counted()
        elif isinstance(event, h2.events.WindowUpdated):
            targets = self.streams.values() if event.stream_id == 0 else [self.streams.get(event.stream_id)]
            for stream in targets:
                if stream is not None:
                    stream.window.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.close()

    def _data(self, event: h2.events.DataReceived) -> None:
        sid = event.stream_id
        stream = self.streams.get(sid)
        if stream is None or stream.task is not None:  # refused or reset meanwhile: its window only
            self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
            return
        size = len(event.data)
        if len(stream.body) + size > MAX_BODY or self.buffered + size > MAX_BUFFERED:
            del self.streams[sid]
            self.buffered -= len(stream.body)
            if event.flow_controlled_length:  # the connection's window back; the stream gets no more
                self.conn.increment_flow_control_window(event.flow_controlled_length)
            refuse_large(self.conn, sid, stream, open_=event.stream_ended is None)
            return
        stream.body += event.data
        self.buffered += size
        # acknowledged as buffered: within the caps above, which count the bytes until the answer
        self.conn.acknowledge_received_data(event.flow_controlled_length, sid)

    def _reset_counted(self) -> None:
        """A stream reset while answered: past the budget (a rapid-reset attack), ENHANCE_YOUR_CALM."""
        if self.closing:
            return
        now = time.monotonic()
        self._resets = min(RESET_BUDGET, self._resets + (now - self._reset_at) * RESET_REFILL) - 1
        self._reset_at = now
        if self._resets < 0:
            log.warning("HTTP/2 client %s resets streams too fast: connection ended", self.old._remote or "?")
            self.abandon(_ERR.ENHANCE_YOUR_CALM)

    def _start(self, sid: int) -> None:
        stream = self.streams[sid]
        task = stream.task = spawn(self._answer(sid, stream))
        self.running[task] = self.started
        self.started += 1
        self.old._started = self.started
        old = self.old
        old._task = task  # busy: a drain or a reload waits for it
        old._clock, old._deadline = NONE, 0.0  # each stream keeps its own write clock

    async def _answer(self, sid: int, stream: Stream) -> None:
        try:
            await answer(self, sid, stream)
        finally:
            self._done(sid, stream)

    def idle(self) -> None:
        """No stream in flight: the server's idle clock runs (the sweep closes the connection)."""
        span = self.old._server.idle_span
        self.old._clock = IDLE
        self.old._deadline = time.monotonic() + span if span > 0 else 0.0

    def _done(self, sid: int, stream: Stream) -> None:
        if self.streams.get(sid) is stream:
            del self.streams[sid]
            self.buffered -= len(stream.body)
        elif stream.orphan:
            self.orphans -= 1
        task = stream.task
        if task is not None:
            self.running.pop(task, None)
        # every stream up to the oldest still running is answered (a reload's ``drained`` reads it)
        self.old._finished = min(self.running.values(), default=self.started)
        if self.transport is None or self.running:
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
        if not self.running:
            self.close()
            span = self.old._server.write_span  # a client that does not read the GOAWAY is cut by the sweep
            self.old._clock, self.old._deadline = WRITE, time.monotonic() + span if span > 0 else 0.0


def serve_h2(old: GatewayProtocol, transport: asyncio.Transport, data: bytes) -> H2Server:
    """Take the connection over from ``old`` (the preface already read); ``data`` came after it."""
    server = H2Server(old, transport)
    old._started = 0  # the stand-in counts streams from now on (a reload's ``drained``)
    server.idle()  # the idle clock between calls (Go's http2 server keeps IdleTimeout too), no other
    transport.set_protocol(server)
    server.conn.receive_data(PREFACE)  # h2 reads the preface itself
    server.flush()
    if data:
        server.data_received(data)
    return server
