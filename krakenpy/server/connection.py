"""One client connection of krakenpy's HTTP/1.1 server: aiohttp's C request parser underneath, krakenpy's
:class:`~krakenpy.edge.HttpRequest` built straight from its messages, each answer written as bytes in
one ``transport.write`` (:mod:`krakenpy.server.wire`). No aiohttp request, response or writer object
exists on this path; ``tests/server/test_protocol.py`` and the wire and spec tests hold its behaviour.

Requests on a connection are answered one at a time, in order (pipelined ones wait in a bounded
queue; reading pauses while it is full). Each runs in a task of its own, like aiohttp's handlers: a
client that goes away cancels it (what must finish is spawned apart), and context variables set by
one request never reach the next. The clocks (header, read, write, idle) are deadlines the server's
sweep checks; a response is not followed by the next one before the transport drained it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from aiohttp.http_exceptions import BadStatusLine, HttpProcessingError
from aiohttp.http_parser import HttpRequestParser, HttpRequestParserPy
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.tcp_helpers import tcp_keepalive
from multidict import CIMultiDict, istr

from krakenpy.edge import BodyReader, HttpRequest, HttpResponse, SplitEdge, Upgrade
from krakenpy.server.clientip import peer_address
from krakenpy.server.lifecycle import (
    CLOSE,
    HEADER,
    IDLE,
    NONE,
    READ,
    WRITE,
    Connection,
    MalformedBody,
    RequestMessage,
)
from krakenpy.server.reparse import GoParserPy, close_end
from krakenpy.server.sweep import MAX_HEADER_LINES
from krakenpy.server.takeover import PREFACE
from krakenpy.server.wire import CONTENT_LENGTH, CONTINUE, INTERNAL_ERROR, TRANSFER_ENCODING, encode_response

if TYPE_CHECKING:
    from krakenpy.server.protocol import GatewayServer

__all__ = ["MAX_HEADER_LINES", "GatewayProtocol", "MalformedBody"]

log = logging.getLogger("krakenpy.server")

#: parsed requests waiting behind the one being answered; reading pauses at this many
MAX_PIPELINED = 16
#: bytes asked of the socket per read: asyncio's default 256 KiB bytes object per read is past glibc's
#: mmap threshold (an mmap, an mremap, a munmap and a page fault per read); 64 KiB come from the heap
READ_SIZE = 1 << 16
#: a body's read buffer (aiohttp's default): the parser pauses the socket beyond twice this
_BODY_BUFFER = 1 << 16
#: the most bytes held since a request boundary kept to parse again (``_since``): a read's rest, a
#: head arriving in parts (past that, a version the C parser refuses in a later read of the same head
#: is 400; kept as one bytes object, a head sent a byte per read is copied quadratically to this bound)
_KEEP = READ_SIZE
_now = time.monotonic  # as asyncio's loop.time


async def _no_body(n: int) -> bytes:
    return b""


#: aiohttp's parser is its C one (llhttp), which refuses the versions Go reads but llhttp does not
_C_PARSER = HttpRequestParser is not HttpRequestParserPy
#: the parser a connection starts with (the Python one, with Go's checks, when aiohttp has no C one)
_PARSER: type[HttpRequestParser] = HttpRequestParser if _C_PARSER else GoParserPy


def _new_parser(
    kind: type[HttpRequestParser], protocol: Any, loop: asyncio.AbstractEventLoop, budget: int
) -> HttpRequestParser:
    return kind(
        protocol,
        loop,
        _BODY_BUFFER,
        max_line_size=budget,
        max_field_size=budget,
        max_headers=MAX_HEADER_LINES,
        auto_decompress=False,  # request bodies travel as received (KrakenD does not inflate them)
        max_msg_queue_size=MAX_PIPELINED,
    )


def _rest(since: bytes | None, data: bytes, messages: Sequence[Any], keep: int = _KEEP) -> bytes | None:
    """What of the read (after ``since``, the bytes held since a boundary) follows its last message,
    complete: the start of a next head, or what the parser left unparsed on a full queue. None when
    not known: ``since`` not known, a chunked body, more than ``keep`` bytes (what is held for a
    later read; a rest parsed at once is bounded by the read itself). Each head ends at its
    first empty line (llhttp requires CRLF; CR and LF before a request line are skipped), each
    Content-Length body is as long as what it received."""
    if since is None:
        return None
    buf = since + data if since else data
    n = len(buf)
    pos = 0
    for msg, payload in messages:
        while pos < n and (buf[pos] == 13 or buf[pos] == 10):  # CR, LF
            pos += 1
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            return None
        pos = end + 4
        if payload is not EMPTY_PAYLOAD:
            if msg.chunked:
                return None
            pos += payload.total_bytes
    if pos > n or n - pos > keep:
        return None
    return buf[pos:]


#: request header names asked per request, as ``istr`` (and ``wire``'s two framing names): a
#: ``CIMultiDict(Proxy)`` lookup takes an ``istr``'s folded form as made once, where a ``str`` key is
#: folded at every lookup (round 21)
_HOST: Final = istr("Host")
_EXPECT: Final = istr("Expect")


def _declares_body(msg: Any) -> bool:
    """A request's head declares a body: ``Content-Length`` past 0, or ``Transfer-Encoding``."""
    headers = msg.headers
    if TRANSFER_ENCODING in headers:
        return True
    length = headers.get(CONTENT_LENGTH)
    return length is not None and bool(length.strip("0 \t"))


class GatewayProtocol(Connection):
    """One client connection: reads requests with aiohttp's parser and answers them in order."""

    def __init__(self, server: GatewayServer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(server, loop, _new_parser(_PARSER, self, loop, server.header_budget))

    # -- connection events ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # TCP_NODELAY
        tcp_keepalive(transport)  # type: ignore[arg-type]
        # asyncio's socket transport; uvloop reads into one 250 kB array per loop and copies out what came
        if hasattr(transport, "max_size"):
            transport.max_size = READ_SIZE
        peer = transport.get_extra_info("peername")
        # Go's RemoteAddr form (an IPv4 peer of a "::" listener is a.b.c.d), once per connection
        self._remote = peer_address(str(peer[0])) if isinstance(peer, list | tuple) else str(peer or "")
        self._scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        # requests run in copies of the context the connection started in, never in the previous one's
        self._base = contextvars.copy_context()
        self._server.join(self)
        now = _now()
        span = self._server.header_span
        self._clock, self._t0 = HEADER, now  # Go: the first request's clock starts with the connection
        self._deadline = now + span if span else 0.0

    def eof_received(self) -> None:
        # the client closed its side: Go cancels the request, asyncio closes the transport (None)
        return None

    def data_received(self, data: bytes) -> None:
        # written out in full, without helper calls on the common path: this runs for every request
        if self._done:
            self._drop(data)
            return
        if self._held is not None:  # behind an Upgrade request: frames or HTTP, as its answer decides
            self._hold(data)
            return
        body = self._body
        if body is not None and body.is_eof():
            body = self._body = None
        if body is None:  # header bytes (a body's bytes have the read clock and the body limit)
            if self._clock == IDLE and data:  # the first bytes of the next request on a kept-alive connection
                now = self._t0 = _now()
                span = self._server.header_span
                self._clock = HEADER
                self._deadline = now + span if span else 0.0
            self._hbytes += len(data)
        try:
            messages, upgraded, tail = self._parser.feed_data(data)
        except HttpProcessingError as exc:
            if self._server.h2 is not None and not self._finished and self._h2(data):
                return
            if self._go_version(data, exc) or self._close_first(data, exc):
                return
            self._malformed(exc)
            return
        if upgraded and self._connect_body(messages):
            return
        if messages:
            self._hbytes = 0
            queue = self._queue
            queue.extend(messages)
            head, last = messages[-1]
            full = len(queue) >= MAX_PIPELINED
            if (
                head.upgrade
                and not upgraded
                and type(self._parser) is HttpRequestParser
                and _C_PARSER
                and self._unswitched(data, messages, head, last)
            ):
                return
            if last is not EMPTY_PAYLOAD and not last.is_eof():
                self._body = last
                self._since = None
            elif not full and data.endswith(b"\r\n\r\n"):
                # at a request boundary: a head or a chunked body ends so, and what follows a message's
                # end is a next head, which would be a message too had it ended so (or empty lines)
                self._since = b""
            else:  # a next head's start, or what a parser paused on a full queue left: counted
                self._since = _rest(self._since, data, messages)
            if full:
                self._pause_reading_for_buffer()
                if head.method == "CONNECT" and not upgraded:
                    self._connect_paused(head)
            if self._task is None:
                self._dispatch()
        elif body is None:  # a head arriving in parts (not a request until it ends)
            since = self._since
            if since is not None:
                since += data
                self._since = since if len(since) <= _KEEP else None
            if self._hbytes > self._server.header_budget:
                self._refuse(431, f"headers over {self._server.limits.max_header_bytes} bytes")
        elif self._unswitched_body and body.is_eof():
            # the body of a request with an Upgrade the parser does not switch to ended in this read: the
            # parser dropped what followed it (see _unswitched); its answer, then the connection's end
            self._unswitched_body = False
            self._since = None
            self._refuse(CLOSE, "")
        elif body.is_eof() and data.endswith(b"\r\n\r\n"):  # a chunked body ended with the read
            self._since = b""
        if upgraded:  # an Upgrade or CONNECT request: what follows is WebSocket frames after a 101, else HTTP
            self._since = None  # held until answered (parsed again from its end then, as a boundary)
            self._held = b""
            self._hold(tail)

    def _h2(self, data: bytes) -> bool:
        """The parser refused the HTTP/2 preface as the connection's first bytes (``PRI *``): the
        gateway's HTTP/2 takes the connection over (the check runs only on that refusal)."""
        takeover = self._server.h2
        cut = len(PREFACE) - (self._hbytes - len(data))  # the preface's end in this read
        if self._queue or self._task is not None or not 0 <= cut <= len(data) or not PREFACE.endswith(data[:cut]):
            return False
        if self.transport is None or takeover is None:
            return self.transport is None
        takeover(self, self.transport, data[cut:])
        return True

    def _unswitched(self, data: bytes, messages: Sequence[Any], head: Any, last: StreamReader) -> bool:
        """The read's last request asks for an Upgrade aiohttp's C parser does not switch to (not a
        WebSocket: ``h2c``, any other name): llhttp pauses at that request's end, and the parser resumes
        without parsing the rest of the read (dropped: a request behind it never answered, a body
        behind a dropped head read as requests). What follows the request is parsed again from its
        end when it is known (``_rest``), by a fresh parser; else, and when its body ends in a later read
        (what follows it there is dropped as well), the connection ends after its answer. Only for such a
        request (False for a WebSocket one whose body is still coming: the parser switches once it is
        in, as it does at once without a body)."""
        upgrade = head.headers.get("Upgrade", "")
        if (upgrade.isascii() and upgrade.lower() == "websocket") or head.method == "CONNECT":
            return False
        rest = None
        if last is not EMPTY_PAYLOAD and not last.is_eof():
            self._body = last
            self._unswitched_body = True
        else:
            # parsed again at once, not held: bounded by the read (uvloop's reads are larger than
            # _KEEP, and a rest beyond it closed the connection after one answer there)
            rest = _rest(self._since, data, messages, len(data) + len(self._since or b""))
        self._since = None if rest is None else b""
        if len(self._queue) >= MAX_PIPELINED:
            self._pause_reading_for_buffer()
        if self._task is None:
            self._dispatch()
        if rest:
            if self._again is not None:  # parsing a rest already: its loop below takes this one
                self._again = rest
                return True
            # a fresh parser: the paused one may still hold part of it (a full queue's tail) and report
            # the pause again at its start, dropping it all. In a loop, not nested (a read of a thousand
            # such requests would nest a thousand calls: RecursionError)
            while rest:
                self._parser = _new_parser(HttpRequestParser, self, self._loop, self._server.header_budget)
                self._hbytes = 0
                if self._queue:
                    # requests queued still: the rest waits as bytes behind them (as behind an Upgrade
                    # request, ``_held``: parsed once they are answered, reading paused past a bound).
                    # A fresh parser counts the requests it queues from 0, for the queue's bound: started
                    # with some queued, a read of a thousand such requests queued them all (a thousand
                    # messages held where a read of plain requests holds 16), 8 queued came to 24
                    self._held = b""
                    self._hold(rest)
                    self._pause_reading_for_buffer()
                    break
                self._again = b""
                self.data_received(rest)
                rest, self._again = self._again, None
        elif rest is None and not self._unswitched_body:
            self._refuse(CLOSE, "")
        return True

    def _connect_body(self, messages: Sequence[Any]) -> bool:
        """A CONNECT request that declares a body (``Content-Length`` past 0, ``Transfer-Encoding``), as
        the C parser ends a read with it: refused (400), with the requests before it answered first.
        llhttp stops at a CONNECT's head (a tunnel's bytes follow) and leaves its body unread, so an
        answer without a switch parsed that body as the next request (a body served as a request: Go
        reads it as the CONNECT's body; aiohttp's Python parser too). Only on an upgraded read."""
        if type(self._parser) is not HttpRequestParser or not messages:
            return False
        msg = messages[-1][0]
        if msg.method != "CONNECT" or not _declares_body(msg):
            return False
        if len(messages) > 1:  # the requests before it, as any read's (what followed the CONNECT is dropped)
            self._hbytes = 0
            self._queue.extend(messages[:-1])
            if self._task is None:
                self._dispatch()
        self._since = None
        self._refuse(400, "CONNECT with a body")
        return True

    def _connect_paused(self, head: Any) -> None:
        """A CONNECT request ended a read that filled the queue: the C parser paused for the queue
        before the switch, which it reports only when it parses on, with no message then (what
        :meth:`_connect_body` checks is gone). One that declares a body is refused as there: else its
        body, held as what follows a switch, was parsed as the next request once it was answered."""
        if type(self._parser) is HttpRequestParser and _declares_body(head):
            self._queue.pop()
            self._since = None
            self._refuse(400, "CONNECT with a body")

    def _go_version(self, data: bytes, exc: HttpProcessingError) -> bool:
        """Go's server reads any ``HTTP/d.d`` request line (``ParseHTTPVersion``): it serves HTTP/1.2 to
        1.9 as HTTP/1.1 and answers 505 to another major once the headers are read, where aiohttp's C
        parser refuses the version (400). A read refused so is parsed again, with what the parser held
        of it since the last request boundary (a head's first part), and this connection from then on,
        by aiohttp's Python parser, which reads the version as it is (:meth:`_dispatch` serves or
        refuses it). Only after a refusal: never on the request path.

        Decided: only from a boundary the parser provably stood at (``_since``). Where that is not
        known (a body that began in an earlier read, until a read ends with an empty line at a message's
        end; a chunked body followed by more in its read; over ``_KEEP`` bytes held; what follows an
        Upgrade request until it is answered), where the refused request began is not known either:
        parsing the read again from its start could read a body's bytes as requests, so the read stays
        400 where Go serves it, and the requests parsed before it in that read are lost with it
        (aiohttp's C parser drops them on any refusal)."""
        if not _C_PARSER or type(self._parser) is not HttpRequestParser or self._body is not None:
            return False
        since = self._since
        if since is None or not isinstance(exc, BadStatusLine) or "HTTP version" not in str(exc):
            return False
        self._parser = _new_parser(GoParserPy, self, self._loop, self._server.header_budget)
        self._hbytes = 0
        self._since = b""
        self.data_received(since + data)
        return True

    def _close_first(self, data: bytes, exc: HttpProcessingError) -> bool:
        """Go's server answers a request that asks to close the connection (``Connection: close``,
        HTTP/1.0 without keep-alive) and reads nothing after it; aiohttp's parsers refuse the whole read
        when more follows the request in it (400, the request lost). From a boundary the parser
        provably stood at (``_since``), the read is parsed again by a fresh parser up to that request's
        end, the rest dropped (otherwise still 400). Only after a refusal."""
        since = self._since
        if since is None or self._body is not None or "Data after `Connection: close`" not in str(exc.message):
            return False
        kind = type(self._parser)
        buf = since + data
        budget = self._server.header_budget
        end = close_end(kind, buf, budget, self._loop)
        if end < 0:
            return False
        self._parser = _new_parser(kind, self, self._loop, budget)
        self._hbytes = 0
        self._since = b""
        self.data_received(buf[:end])
        self._since = None  # the fresh parser refuses what follows, never parsed again from here
        return True

    def _hold(self, data: bytes) -> None:
        """Keep what arrived behind an Upgrade request (reading paused past a bound) until it is answered."""
        held = self._held = (self._held or b"") + data
        if len(held) > READ_SIZE and not self._buffer_paused:
            self._pause_reading_for_buffer()

    def _release(self) -> bool:
        """The Upgrade request was answered without a switch: what came behind it is the next request
        (True when one is being answered now)."""
        held, self._held = self._held or b"", None
        self._parser.set_upgraded(False)
        # the parser stopped at the Upgrade request's end (its body read): what was held starts after it
        self._since = b""
        if self._buffer_paused and len(self._queue) < MAX_PIPELINED:
            self._resume_reading_for_buffer()
        if held:
            self.data_received(held)
        return self._task is not None

    # -- requests ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start answering the first queued request."""
        item = self._queue.popleft()
        parser = self._parser
        assert parser is not None
        parser.message_consumed()
        if type(item) is int:  # a refusal, or the close after a broken body
            self._end(item, linger=True)
            return
        msg, payload = item  # type: ignore[misc]
        if msg.version[0] != 1:
            # Go's server: a request line without a version is malformed (400); another major than 1
            # spelt out (HTTP/0.5, 2.0, 3.0) is an unsupported version (505). aiohttp's parser reads
            # them as requests; its C parser gives a line without a version 0.9, so a spelt-out HTTP/0.9
            # gets 400 here (the Python parser, after :meth:`_go_version`, refuses a line without one)
            # Go reads nothing after it: requests parsed behind it in the same read are dropped (left
            # queued, the refusal would wait behind them with no task to answer them: a hang)
            self._queue.clear()
            self._refuse(400 if msg.version == (0, 9) else 505, "version")
            return
        now = _now()
        server = self._server
        write = server.write_span
        write_by = self._write_by = now + write if write else 0.0
        self._clock, self._deadline = WRITE, write_by
        headers = msg.headers
        read: BodyReader | None = None
        length = None
        if payload is not EMPTY_PAYLOAD:
            value = headers.get(CONTENT_LENGTH)
            length = int(value) if value is not None else None
            read = payload.read
            if not payload.is_eof():
                read_span = server.read_span
                read_by = self._t0 + read_span if read_span else 0.0
                if read_by and (not write_by or read_by < write_by):  # the body is still coming: read clock first
                    self._clock, self._deadline = READ, read_by
                if msg.version[1] and headers.get(_EXPECT, "").lower() == "100-continue":
                    read = self._continue_reader(payload)
        target = msg.path
        path, _, query = target.partition("?")
        if target[:1] == "/":
            host = headers.get(_HOST)
            if host is None:
                host = self._local_host()
            if "%" in path or "#" in path:
                path = msg.url.path  # percent-decoded (and the fragment cut) by yarl
            # else the target's path is what yarl's decoded path would be: its property not asked
        else:  # absolute-form (a proxy request): the authority is the URL's, as aiohttp reads it
            host = msg.url.host or headers.get(_HOST) or ""
            path = msg.url.path
        request = HttpRequest(
            msg.method,
            path,
            query,
            headers,
            remote=self._remote,
            host=host,
            scheme=self._scheme,
            has_body=read is not None,
            content_length=length,
            read=_no_body if read is None else read,
            raw_path=target,
        )
        minor = msg.version[1]
        if minor != 1:  # HTTP/1.0, or 1.2 to 1.9 served as 1.1 (another major was refused above)
            request.protocol = f"HTTP/1.{minor}"
        # loop.create_task with the reference kept here (krakenpy.tasks.spawn's set would cost a
        # done callback per request); a copy of the connection's first context, never the previous one's.
        # Not started eagerly: its first step in data_received saved a loop step on one connection
        # but counted +11 k instructions per request with 8 (bench.instructions --clients 8, 2026-12-01)
        self._task = self._loop.create_task(
            self._serve(request, msg, payload, server.handler, server.edge), context=self._base.copy()
        )
        if self._buffer_paused and len(self._queue) <= MAX_PIPELINED // 2:
            # room again: parse what the socket buffered meanwhile, then read on (the task is set first:
            # a request parsed now waits its turn). In a copy of the connection's first context: called
            # from a finished request's task, whose context still holds that request's telemetry
            # (the edge leaves ``CURRENT`` set there), a malformed request's log line would carry its
            # id, and the reader handle asyncio registers on resuming would keep that context
            self._base.copy().run(self._parse_on)

    def _parse_on(self) -> None:
        """Parse what the socket buffered while reading was paused for the queue, then read on."""
        self._buffer_paused = False
        self.data_received(b"")
        if not self._reading_paused and not self._buffer_paused:
            self._resume_transport_reading()

    async def _serve(
        self, request: HttpRequest, msg: RequestMessage, payload: StreamReader, handler: Any, edge: SplitEdge | None
    ) -> None:
        line = value = ""
        try:
            if edge is None:
                response: HttpResponse = await handler(request)
            else:
                # the edge layer's steps in this coroutine, around the handler it wraps (SplitEdge.__call__
                # without its coroutine: ~5 k machine instructions a request fewer, compiled)
                visit = edge.enter(request)
                try:
                    response = await edge.inner(request)
                except BaseException as exc:
                    answer = edge.fail(visit, request, exc)
                    if answer is None:
                        raise
                    response = answer
                response = edge.leave(visit, request, response, True)
                line = visit.line
                value = visit.value
        except asyncio.CancelledError:
            self.close_now()  # the client went away, a clock or the drain cut it: nothing to answer
            raise
        except Exception:
            # the router and handlers answer every error themselves: this is a bug, never a traceback
            # to the client (gin's recovery answers an empty 500)
            log.exception("unhandled error serving %s %s", request.method, request.path)
            response = HttpResponse(INTERNAL_ERROR, CIMultiDict((("Connection", "close"),)))
        transport = self.transport
        if transport is None:
            return
        # a body still arriving that the answer did not read (404, 405, 413...): close rather than read it
        unread = payload is not EMPTY_PAYLOAD and not payload.is_eof()
        close = msg.should_close or self._closing or unread
        try:
            head, body, close = encode_response(
                response.status, response.headers, response.body, msg.method, msg.version[1] != 0, close, line, value
            )
        except Exception:  # a handler's answer that cannot be written (a bug): as above
            log.exception("cannot write the answer to %s %s", request.method, request.path)
            head, body, close = encode_response(INTERNAL_ERROR, CIMultiDict(), b"", msg.method, True, True)
        transport.write(head)
        if body:
            transport.write(body)
        self._finished += 1
        if response.status == 101 and isinstance(response, Upgrade):  # a WebSocket: the connection is its
            await self._upgraded_to(transport, response)
            return
        if close:
            self._task = None
            self._end(CLOSE, linger=unread)
            return
        if self._paused:  # the client reads slower than it asks: no next answer before this one left
            try:
                await self._drain_helper()
            except ConnectionError:
                return
        self._task = None
        if self._queue:
            self._t0 = _now()  # a pipelined request's clocks start now
            self._dispatch()
            return
        # an upgrade that did not happen: what followed it parsed in the connection's context, not this
        # request's (see _dispatch)
        if self._held is not None and self._base.copy().run(self._release):
            return
        if self._closing:
            self._end(CLOSE)
            return
        idle = self._server.idle_span
        self._clock = IDLE
        self._deadline = _now() + idle if idle > 0 else 0.0

    async def _upgraded_to(self, transport: asyncio.Transport, upgrade: Upgrade) -> None:
        """Serve the WebSocket session the 101 just written started, then end the connection."""
        from krakenpy.server.upgrade import serve_upgrade

        self._clock, self._deadline = NONE, 0.0  # the session keeps its own clocks (pings, pong_wait)
        # no longer a request in flight: a drain or a reload does not wait for a session that may last
        # for days (Go's server forgets hijacked connections); a drain closes it with the others
        self._task = None
        self._done = True
        held, self._held = self._held or b"", None
        await serve_upgrade(self, transport, upgrade, held)

    def _continue_reader(self, payload: StreamReader) -> BodyReader:
        """``payload.read`` that first writes ``100 Continue`` (Go: on the first read, so a request
        answered without reading its body, a 413 on its length, never invites it)."""
        sent = False

        async def read(n: int) -> bytes:
            nonlocal sent
            if not sent:
                sent = True
                if self.transport is not None and not payload.is_eof():
                    self.transport.write(CONTINUE)
            return await payload.read(n)

        return read

    def _local_host(self) -> str:
        """aiohttp's ``Host`` for an HTTP/1.0 request without one: the address it arrived on."""
        sock = self.transport.get_extra_info("sockname") if self.transport is not None else None
        if isinstance(sock, tuple):
            return f"[{sock[0]}]" if len(sock) == 4 else str(sock[0])
        return str(sock or "")
