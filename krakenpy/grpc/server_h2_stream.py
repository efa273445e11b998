"""One HTTP/2 stream of :class:`~krakenpy.grpc.server_h2.H2Server`: its request, its answer.

A gRPC call is marked so the ``grpc`` edge middleware answers it, and its ``grpc-status`` and
``grpc-message`` travel as trailers; other streams are plain HTTP requests answered over HTTP/2. The
answer is written within HTTP/2 flow control and the transport's: it waits for the client's window
updates and for the transport to drain, under the server's ``write_timeout`` (Go's http2 server
resets a stream whose write deadline passed), so a client that opens no window holds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

import h2.connection
import h2.errors
import h2.exceptions
from multidict import CIMultiDict

from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.grpc.options import DEFAULT_MAX_RECV
from krakenpy.grpc.server import GRPC_CALL, INTERNAL, is_grpc, status_response

if TYPE_CHECKING:
    from krakenpy.grpc.server_h2 import H2Server

__all__ = ["MAX_BODY", "Stream", "answer", "refuse_large"]

log = logging.getLogger("krakenpy.grpc")

#: a stream's body beyond this is refused: a gRPC message (4 MiB by default) and its prefix, with room
MAX_BODY: Final = DEFAULT_MAX_RECV + 1024
#: DATA frames written at most this large, whatever frame size the client allows
_FRAME: Final = 1 << 14
#: headers HTTP/2 forbids (connection-specific)
_HOP: Final = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})
#: what a gRPC answer carries in its trailers
_TRAILERS: Final = ("grpc-status", "grpc-message")


class Stream:
    """A stream received: its headers and body, then the task answering it."""

    __slots__ = ("body", "headers", "orphan", "task", "window")

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers
        self.body = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.window = asyncio.Event()
        self.orphan = False  # reset by the client while its task runs


def _content_type(headers: list[tuple[str, str]]) -> str:
    return next((v for n, v in headers if n == "content-type"), "")


def refuse_large(conn: h2.connection.H2Connection, sid: int, stream: Stream, open_: bool) -> None:
    """A body past the bound: answered at once (RESOURCE_EXHAUSTED, or 413), the rest not read."""
    if is_grpc(_content_type(stream.headers)):
        head = [(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "8")]
        head.append(("grpc-message", "the message is too large"))
    else:
        head = [(":status", "413")]
    conn.send_headers(sid, head, end_stream=True)
    if open_:  # the client is still sending: stop it (a stream it ended is closed now)
        conn.reset_stream(sid, h2.errors.ErrorCodes.NO_ERROR)


def _request(server: H2Server, stream: Stream) -> HttpRequest:
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
        remote=server.old._remote,
        host=authority,
        scheme=server.old._scheme,
        has_body=bool(body),
        content_length=len(body),
        read=read,
        raw_path=target,
    )
    request.protocol = "HTTP/2.0"
    if is_grpc(headers.get("content-type", "")):
        request.context[GRPC_CALL] = True
    return request


async def answer(server: H2Server, sid: int, stream: Stream) -> None:
    """Serve the stream's request and write its answer, within the server's ``write_timeout``."""
    span = server.old._server.write_span
    try:  # a reset stream or a lost connection cancels the task: it is done all the same
        async with asyncio.timeout(span if span > 0 else None):
            request = _request(server, stream)
            grpc = GRPC_CALL in request.context
            try:
                response = await server.old._server.handler(request)
            except Exception:  # the handlers answer their errors: this is a bug, never a traceback to the client
                log.exception("unhandled error serving %s %s over HTTP/2", request.method, request.path)
                response = status_response(INTERNAL, "internal error") if grpc else HttpResponse(500)
            await _write(server, sid, stream, response, grpc, request.method == "HEAD")
    except TimeoutError:  # Go: the stream is reset once its write deadline passed
        server.old._server.timeouts.record(f"write_timeout for an HTTP/2 stream of {server.old._remote or '?'}")
        _reset(server, sid)
    except (h2.exceptions.H2Error, KeyError, ConnectionError):  # the client reset the stream or left meanwhile
        pass


def _reset(server: H2Server, sid: int) -> None:
    try:
        server.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    except h2.exceptions.H2Error:  # closed meanwhile
        return
    server.flush()


async def _write(
    server: H2Server, sid: int, stream: Stream, response: HttpResponse, grpc: bool, head_only: bool
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
    if server.transport is None:
        raise KeyError(sid)
    server.conn.send_headers(sid, head, end_stream=not body)
    server.flush()
    if not body:
        return
    await _send(server, sid, stream, body, end=not trailers)
    if trailers:
        server.conn.send_headers(sid, trailers, end_stream=True)
        server.flush()


async def _send(server: H2Server, sid: int, stream: Stream, body: bytes, end: bool) -> None:
    """The body within HTTP/2 flow control (the client's window updates) and the transport's."""
    view = memoryview(body)
    conn = server.conn
    while view:
        if server.transport is None:
            raise KeyError(sid)
        if server.old._paused:  # the client reads slower than it is answered: wait for it
            await server.old._drain_helper()
            continue
        size = min(conn.local_flow_control_window(sid), _FRAME, len(view))
        if size <= 0:
            stream.window.clear()
            await stream.window.wait()
            continue
        last = size == len(view)
        conn.send_data(sid, bytes(view[:size]), end_stream=end and last)
        server.flush()
        view = view[size:]
