"""krakenpy's edge on aiohttp's low-level server: the one place (with the runner) that knows aiohttp's
request and response types.

What aiohttp would add to the wire on its own and KrakenD (Go's ``net/http``) does not is switched off
here, for every response path (ours, and aiohttp's own error answers): the ``Server`` header, and the
transparent decoding of ``Content-Encoding: gzip`` request bodies (KrakenD forwards request bodies as
bytes; decoding them let a 1 MiB body inflate to gigabytes). A body without ``Content-Type`` gets
the type Go's server would sniff (:mod:`krakenpy.server.sniff`), not ``application/octet-stream``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.web_protocol import RequestHandler

from krakenpy.edge import EdgeHandler, HttpRequest, Upgrade
from krakenpy.server.clientip import peer_address
from krakenpy.server.sniff import sniff
from krakenpy.tasks import cancel_and_wait, spawn

__all__ = ["AiohttpHandler", "aiohttp_handler", "edge_request", "make_server", "server_options"]

log = logging.getLogger("krakenpy.server")

AiohttpHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class _Request(web.BaseRequest):
    """aiohttp's request; its prepare hook (run for every response, after aiohttp filled in its
    default headers and before they are written) removes the ``Server`` header aiohttp adds."""

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        headers = response.headers
        # only aiohttp's own value: a no-op backend's Server header passes, as in KrakenD
        if headers.get("Server") == SERVER_SOFTWARE:
            del headers["Server"]


class _Protocol(RequestHandler):
    """aiohttp's connection handler, whose own error answers (a request its parser refused) are
    Go's: ``400 Bad Request`` as plain text, instead of the parser's message echoing client bytes."""

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # aiohttp's logging and its checks
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        response = web.Response(status=status, text=f"{status} {phrase}", content_type="text/plain")
        response.force_close()
        return response


class _Server(web.Server):
    """aiohttp's low-level server with :class:`_Protocol` connections."""

    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


def server_options() -> dict[str, Any]:
    """The keyword arguments every ``aiohttp.web.Server`` serving a gateway must get (the runner's and
    the tests'): krakenpy's request class, no request-body decompression, and the handler cancelled
    when its client goes away (aiohttp's default lets it run: a gone client's backend calls would run to
    their end; lura cancels the request context, and krakenpy's own server cancels the request's task)."""
    loop = asyncio.get_running_loop()

    def request_factory(
        message: Any, payload: Any, protocol: RequestHandler, writer: Any, task: asyncio.Task[None]
    ) -> web.BaseRequest:
        return _Request(message, payload, protocol, writer, task, loop)

    return {"request_factory": request_factory, "auto_decompress": False, "handler_cancellation": True}


def make_server(handler: AiohttpHandler, **kwargs: Any) -> web.Server:
    """The ``aiohttp.web.Server`` for ``handler``: :func:`server_options` (``kwargs`` add to them and
    override them: ``handler_cancellation=False`` lets a handler run on after its client left) and Go's
    answer to requests the parser refuses."""
    return _Server(handler, **{**server_options(), **kwargs})


def edge_request(request: web.BaseRequest) -> HttpRequest:
    """aiohttp's request as krakenpy's :class:`~krakenpy.edge.HttpRequest`."""
    raw_path = request.raw_path
    edge = HttpRequest(
        request.method,
        request.path,
        raw_path.partition("?")[2],
        request.headers,
        remote=peer_address(request.remote or ""),
        host=request.host,
        scheme=request.scheme,
        has_body=request.body_exists,
        content_length=request.content_length,
        read=request.content.read,
        raw_path=raw_path,
    )
    version = request.version
    if version != (1, 1):
        edge.protocol = f"HTTP/{version.major}.{version.minor}"
    return edge


#: seconds a WebSocket session whose handler was cancelled gets to end on its own (to pass on how
#: its client left) before it is cancelled too
SESSION_END_WAIT = 5.0

#: the handshake headers aiohttp's WebSocketResponse writes itself
_HANDSHAKE = frozenset({"upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol"})


async def _session(upgrade: Upgrade, ws: web.WebSocketResponse) -> None:
    await upgrade.run(ws)  # a coroutine for spawn (``run`` is typed as returning any awaitable)


async def _websocket(request: web.BaseRequest, upgrade: Upgrade) -> web.StreamResponse:
    """An upgrade on aiohttp's server: its WebSocketResponse does the handshake; the session runs on it."""
    ws = web.WebSocketResponse(
        protocols=(upgrade.protocol,) if upgrade.protocol else (),
        max_msg_size=upgrade.max_size,
        compress=False,  # as krakenpy's own server: no permessage-deflate
        autoping=True,
    )
    for name, value in upgrade.headers.items():  # what the edge added (CORS, security headers)
        if name.lower() not in _HANDSHAKE:
            ws.headers.add(name, value)
    await ws.prepare(request)
    # the session runs in a task of its own, shielded from the handler's cancellation: aiohttp cancels
    # the handler when the client's connection ends (handler_cancellation), and a session cancelled
    # there told its backend 1000 instead of the client's close code (or 1001 for a vanished client),
    # which it reads from its socket a moment later, as on krakenpy's own server
    session = spawn(_session(upgrade, ws))
    try:
        await asyncio.shield(session)
    except asyncio.CancelledError:
        try:  # how the client left reaches the session through its socket (so does a shutdown): bounded
            await asyncio.wait((session,), timeout=SESSION_END_WAIT)
        finally:
            await cancel_and_wait(session)
        raise
    finally:
        await ws.close(code=1001)  # when the session left without closing (a shutdown cut it)
    return ws


def aiohttp_handler(edge: EdgeHandler) -> AiohttpHandler:
    """Serve ``edge`` with aiohttp: convert the request, await the edge, write its response. A
    response with ``Connection: close`` closes the connection once written (413s: the rest of the
    body is never read into the pipeline)."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        try:
            response = await edge(edge_request(request))
        except Exception:
            # the router and handlers answer every error themselves: this is a bug, never a traceback
            # to the client (gin's recovery answers an empty 500)
            log.exception("unhandled error serving %s %s", request.method, request.path)
            out = web.Response(status=500)
            out.force_close()
            return out
        if isinstance(response, Upgrade):
            return await _websocket(request, response)
        headers = response.headers
        if response.body and "Content-Type" not in headers:
            headers["Content-Type"] = sniff(response.body)  # Go's server sniffs; aiohttp would say octet-stream
        out = web.Response(status=response.status, body=response.body, headers=headers)
        if "Connection" in headers and headers["Connection"].lower() == "close":
            out.force_close()
        return out

    return handle
