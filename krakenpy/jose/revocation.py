"""The revocation admin listener: krakenpy's replacement for KrakenD's Go RPC port.

``POST /revoke`` and ``POST /check`` take ``{"elements": ["jti-<value>", ...]}`` (KrakenD's element
format: the claim name, a dash, the claim value); ``/check`` answers ``{"revoked": [true, ...]}``.
With an admin key (from the environment variable ``admin_key_env`` names) every call needs
``Authorization: Bearer <key>`` and the listener binds the service's ``listen_ip``; without one it
binds 127.0.0.1 only. The listener uses SO_REUSEPORT, so every worker binds it and the filters, in
one shared file, are the same whichever worker answers.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Final

import orjson
from aiohttp import web

from krakenpy.jose.bloom import RotatingBloom

__all__ = ["AdminServer"]

log = logging.getLogger("krakenpy.jose")
_MAX_BODY: Final = 1024 * 1024
_MAX_ELEMENT: Final = 4096
_JSON: Final = "application/json"


def _answer(status: int, payload: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type=_JSON)


class AdminServer:
    """One ``aiohttp`` listener over a :class:`RotatingBloom`."""

    def __init__(self, store: RotatingBloom, *, host: str, port: int, key: str = "") -> None:
        self.store = store
        self.host = host
        self.port = port
        self._key = key.encode()
        self._runner: web.AppRunner | None = None

    def _authorized(self, request: web.Request) -> bool:
        if not self._key:
            return True
        given = request.headers.get("Authorization", "")
        token = given[7:] if given[:7].lower() == "bearer " else ""
        return hmac.compare_digest(token.encode(), self._key)

    async def _elements(self, request: web.Request) -> list[str] | web.Response:
        if not self._authorized(request):
            log.warning("revoker admin: unauthorized call from %s", request.remote)
            return _answer(401, {"error": "unauthorized"})
        body = await request.content.read(_MAX_BODY + 1)
        if len(body) > _MAX_BODY:
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

    async def _revoke(self, request: web.Request) -> web.Response:
        elements = await self._elements(request)
        if isinstance(elements, web.Response):
            return elements
        self.store.add(elements)
        log.info("revoker admin: %d element(s) revoked", len(elements))
        return _answer(200, {"added": len(elements)})

    async def _check(self, request: web.Request) -> web.Response:
        elements = await self._elements(request)
        if isinstance(elements, web.Response):
            return elements
        return _answer(200, {"revoked": [self.store.check(e) for e in elements]})

    async def start(self) -> None:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_post("/revoke", self._revoke)
        app.router.add_post("/check", self._check)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host or None, self.port, reuse_port=True)
        await site.start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
