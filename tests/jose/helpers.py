"""Keys, tokens and a real JWKS server on 127.0.0.1 for the JOSE tests."""

from __future__ import annotations

import asyncio
import base64
import time
import warnings
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from joserfc import jws
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from krakenpy.backends.client import AiohttpClient
from krakenpy.components.base import Site
from krakenpy.config.build import build_service
from krakenpy.proxy.types import Request, Response
from krakenpy.resources import Resources
from tests.conftest import make_config

Key = OctKey | RSAKey | ECKey | OKPKey
_RSA: dict[str, RSAKey] = {}


def rsa_key(kid: str) -> RSAKey:
    """A 2048-bit RSA key per kid, generated once per test session (generation is slow)."""
    if kid not in _RSA:
        _RSA[kid] = RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)
    return _RSA[kid]


def new_key(alg: str, kid: str) -> Key:
    params = {"kid": kid}
    if alg.startswith(("RS", "PS")):
        return rsa_key(kid)
    if alg.startswith("ES"):
        curve = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]
        return ECKey.generate_key(curve, parameters=params, private=True)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", parameters=params, private=True)
    return OctKey.generate_key(512, parameters=params, private=True)


def public_jwk(key: Key) -> dict[str, Any]:
    return dict(key.as_dict(private=isinstance(key, OctKey)))


def mint(key: Key, claims: dict[str, Any], *, alg: str, header: dict[str, Any] | None = None) -> str:
    """A compact JWS of ``claims`` signed with ``key`` (header: alg, the key's kid, typ JWT)."""
    head: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if key.kid:
        head["kid"] = key.kid
    head.update(header or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(jws.serialize_compact(head, orjson.dumps(claims), key, algorithms=[alg]))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"sig") -> str:
    return ".".join((b64(orjson.dumps(header)), b64(orjson.dumps(claims)), b64(signature)))


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "user-1", "iat": now, "exp": now + 600}
    base.update(extra)
    return base


@dataclass
class JwksServer:
    """Serves ``{"keys": [...]}``; keys, delay, status and body can change mid-test."""

    keys: list[Key]
    delay: float = 0.0
    status: int = 200
    content_type: str = "application/json"
    raw: bytes | None = None
    hits: int = 0
    url: str = ""
    _served: list[int] = field(default_factory=list)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Answer delayed requests now (a test ends without waiting out a long ``delay``)."""
        self._released.set()

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.delay:
            try:
                await asyncio.wait_for(self._released.wait(), self.delay)
            except TimeoutError:
                pass
        body = self.raw if self.raw is not None else orjson.dumps({"keys": [public_jwk(k) for k in self.keys]})
        return web.Response(status=self.status, body=body, headers={"Content-Type": self.content_type})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/jwks", self.handle)
        return app


def site_for(
    namespace: str, value: dict[str, Any], *, url_pattern: str = "/x", service_extra: dict[str, Any] | None = None
) -> Site:
    doc = make_config(
        [
            {
                "endpoint": "/x",
                "backend": [{"url_pattern": url_pattern, "host": ["http://127.0.0.1:19"]}],
                "extra_config": {namespace: value},
            }
        ],
        extra_config=service_extra or {},
    )
    service = build_service(doc)
    endpoint = service.endpoints[0]
    return Site("endpoint", f"endpoints[0].extra_config.{namespace}", service, endpoint)


def resources_for(site: Site, stack: AsyncExitStack) -> Resources:
    return Resources(service=site.service, http=AiohttpClient(), stack=stack)


def request(headers: dict[str, list[str]] | None = None, params: dict[str, str] | None = None) -> Request:
    return Request(method="GET", path="/x", params=params or {}, headers=headers or {}, query={})


async def echo(req: Request) -> Response:
    """A terminal proxy that returns what it saw."""
    return Response(data={"headers": req.headers, "params": req.params, "claims": req.claims})
