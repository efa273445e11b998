"""The revocation admin listener: krakenpy's replacement for KrakenD's Go RPC port.

``POST /revoke`` and ``POST /check`` take ``{"elements": ["jti-<value>", ...]}`` (KrakenD's element
format: the claim name, a dash, the claim value); ``/check`` answers ``{"revoked": [true, ...]}``.
With an admin key (from the environment variable ``admin_key_env`` names) every call needs
``Authorization: Bearer <key>`` and the listener binds the service's ``listen_ip``; without one it
binds 127.0.0.1 only. The listener uses SO_REUSEPORT, so every worker binds it and the filters, in
one shared file, are the same whichever worker answers.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from krakenpy.jose.bloom import RotatingBloom
from krakenpy.server.side import SideListener

__all__ = ["AdminServer"]

log = logging.getLogger("krakenpy.jose")
_MAX_BODY: Final = 1024 * 1024
_MAX_ELEMENT: Final = 4096
_JSON: Final = "application/json"


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
        side = SideListener(self.host, self.port, routes, reuse_port=True)
        await side.start()
        self._side = side

    async def close(self) -> None:
        if self._side is not None:
            await self._side.stop()
            self._side = None
