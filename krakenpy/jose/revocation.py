"""The revocation listener on the revoker's ``port``: KrakenD's Go RPC (:mod:`krakenpy.jose.gobrpc`)
and krakenpy's HTTP admin API on the same port, told apart by a connection's first two bytes
(:func:`~krakenpy.jose.gobrpc.looks_like_gob`).

``POST /revoke`` and ``POST /check`` take ``{"elements": ["jti-<value>", ...]}`` (KrakenD's element
format: the claim name, a dash, the claim value); ``/check`` answers ``{"revoked": [true, ...]}``.
With an admin key (from the environment variable ``admin_key_env`` names) every call needs
``Authorization: Bearer <key>`` and the listener binds the service's ``listen_ip``; without one it
binds 127.0.0.1 only. RPC carries no credential: with an admin key an RPC connection's first call
is answered with an error (use the HTTP API) and the connection closed, its body never decoded;
without one it is served like the HTTP API. The listener uses
SO_REUSEPORT, so every worker binds it and the filters, in one shared file, are the same whichever
worker answers.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Any, Final, cast

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from krakenpy.jose.bloom import RotatingBloom
from krakenpy.jose.gobrpc import looks_like_gob, serve_rpc
from krakenpy.server.limits import DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT
from krakenpy.server.side import SideListener
from krakenpy.tasks import spawn

__all__ = ["AdminServer"]

log = logging.getLogger("krakenpy.jose")
_MAX_BODY: Final = 1024 * 1024
_MAX_ELEMENT: Final = 4096
_JSON: Final = "application/json"
#: RPC connections one worker holds open at once (Go's server has no limit; a client keeps one)
MAX_RPC_CONNECTIONS: Final = 64
_KEYED: Final = "unauthorized: this port has an admin key and RPC cannot carry one: use the HTTP admin API"


def _answer(status: int, payload: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type=_JSON)


class _Gone(Exception):
    """The client went away (or broke its chunked framing) before its body was read."""


async def _body(request: web.BaseRequest) -> bytes | None:
    """The whole body, or ``None`` when it is over :data:`_MAX_BODY` (``_Gone`` when the client left)."""
    if request.content_length is not None and request.content_length > _MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := await request.content.read(1 << 16):
            size += len(chunk)
            if size > _MAX_BODY:
                return None
            chunks.append(chunk)
    except (ConnectionError, asyncio.IncompleteReadError, HttpProcessingError):  # gone, or a broken chunk
        raise _Gone from None
    return b"".join(chunks)


class _Sniffer(asyncio.Protocol):
    """A new connection until its first two bytes say which protocol it speaks, then hands it over."""

    def __init__(self, owner: AdminServer, http: Callable[[], asyncio.Protocol]) -> None:
        self._owner = owner
        self._http = http
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's: typed, not checked
        self._transport = cast(asyncio.Transport, transport)
        self._owner.sniffing.add(self._transport)
        # silence before the first bytes is an idle connection: the same clock as the gateway's
        self._timer = asyncio.get_running_loop().call_later(DEFAULT_IDLE_TIMEOUT, transport.close)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        transport = self._transport
        if transport is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        if len(self._buffer) < 2:
            # a request has begun: HTTP's read-header clock, as before the protocol is known
            self._timer = asyncio.get_running_loop().call_later(DEFAULT_HEADER_TIMEOUT, transport.close)
            return
        self._timer = None
        self._owner.sniffing.discard(transport)
        buffered, self._buffer, self._transport = self._buffer, b"", None
        if looks_like_gob(buffered[0], buffered[1]):
            self._owner.start_rpc(transport, buffered)
            return
        protocol = self._http()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(buffered)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._owner.sniffing.discard(self._transport)
        self._transport = None


class AdminServer:
    """One listener (:class:`~krakenpy.server.side.SideListener`: the gateway's wire rules) over a
    :class:`RotatingBloom`."""

    def __init__(self, store: RotatingBloom, *, host: str, port: int, key: str = "") -> None:
        self.store = store
        self.host = host
        self.port = port
        # compared as bytes; a presented key that is not UTF-8 (surrogate escapes) is simply wrong
        self._key = key.encode("utf-8", "surrogateescape")
        self._side: SideListener | None = None
        self._rpc: dict[asyncio.Transport, asyncio.Task[None]] = {}
        #: connections whose protocol is not known yet: close() closes them too
        self.sniffing: set[asyncio.Transport] = set()
        self._closed = False

    def start_rpc(self, transport: asyncio.Transport, buffered: bytes) -> None:
        """Serve a connection that speaks gob from here on (``buffered``: what was read to tell)."""
        if self._closed:  # its store may be closed already
            transport.close()
            return
        if len(self._rpc) >= MAX_RPC_CONNECTIONS:
            log.warning("revoker rpc: %d connections open, refusing one more", len(self._rpc))
            transport.close()
            return
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 16, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        protocol.data_received(buffered)
        refusal = _KEYED if self._key else None

        async def run() -> None:
            try:
                await serve_rpc(reader, writer, self.store, refusal)
            finally:
                self._rpc.pop(transport, None)

        self._rpc[transport] = spawn(run())

    def _authorized(self, request: web.BaseRequest) -> bool:
        if not self._key:
            return True
        given = request.headers.get("Authorization", "")
        token = given[7:] if given[:7].lower() == "bearer " else ""
        return hmac.compare_digest(token.encode("utf-8", "surrogateescape"), self._key)

    async def _elements(self, request: web.BaseRequest) -> list[str] | web.Response:
        if not self._authorized(request):
            log.warning("revoker admin: unauthorized call from %s", request.remote)
            return _answer(401, {"error": "unauthorized"})
        body = await _body(request)
        if body is None:
            return _answer(413, {"error": "body too large"})
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _answer(400, {"error": "body is not JSON"})
        elements = doc.get("elements") if isinstance(doc, dict) else None
        if not isinstance(elements, list) or not all(
            isinstance(e, str) and 0 < len(e) <= _MAX_ELEMENT for e in elements
        ):
            return _answer(400, {"error": 'expected {"elements": ["<claim>-<value>", ...]}'})
        return elements

    async def _revoke(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            elements = await self._elements(request)
        except _Gone:
            return _answer(400, {"error": "incomplete body"})  # written to nobody: the connection is closed
        if isinstance(elements, web.Response):
            return elements
        self.store.add(elements)
        log.info("revoker admin: %d element(s) revoked", len(elements))
        return _answer(200, {"added": len(elements)})

    async def _check(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            elements = await self._elements(request)
        except _Gone:
            return _answer(400, {"error": "incomplete body"})
        if isinstance(elements, web.Response):
            return elements
        return _answer(200, {"revoked": [self.store.check(e) for e in elements]})

    async def start(self) -> None:
        # every worker binds the port (SO_REUSEPORT): the filters are shared through their file
        routes = {("POST", "/revoke"): self._revoke, ("POST", "/check"): self._check}
        side = SideListener(
            self.host, self.port, routes, reuse_port=True, wrap=lambda http: lambda: _Sniffer(self, http)
        )
        await side.start()
        self._side = side

    async def close(self) -> None:
        self._closed = True
        for transport in list(self.sniffing):
            transport.close()
        self.sniffing.clear()
        if self._side is not None:
            await self._side.stop()
            self._side = None
        for transport, task in list(self._rpc.items()):
            task.cancel()
            transport.close()
        self._rpc.clear()
