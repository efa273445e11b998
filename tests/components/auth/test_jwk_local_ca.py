"""``auth/validator`` ``jwk_local_ca``: a real JWKS server on 127.0.0.1 behind TLS, its certificate
signed by a CA made here, reached by a real gateway that trusts that CA through the file."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import make_config
from tests.jose.helpers import JwksServer, claims, mint, rsa_key
from tests.server.certs import Authority

Start = Callable[[web.Application], Awaitable[str]]


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def test_a_ca_bundle_with_utf8_comments_is_trusted(
    tmp_path: Path, backend: Start, gateway: Callable[..., Awaitable[Any]]
) -> None:
    """Text between the PEM blocks, in UTF-8 as in curl's ``cacert.pem`` ("Főtanúsítvány"), was a
    start-up error here ("cadata should be an ASCII string") while the syslog sink and the OTLP
    exporters, which let OpenSSL read the file, took the same bundle."""
    ca = Authority(tmp_path)
    pair = ca.issue("jwks", names=("127.0.0.1",))
    bundle = tmp_path / "cacert.pem"
    bundle.write_bytes("## NetLock Arany (Class Gold) Főtanúsítvány\n".encode() + ca.path.read_bytes())
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(pair.cert, pair.key)
    jwks = JwksServer(keys=[rsa_key("k1")])
    server = TestServer(jwks.app(), host="127.0.0.1")
    await server.start_server(ssl=served)
    try:
        upstream = web.Application()
        upstream.router.add_get("/{tail:.*}", _ok)
        host = await backend(upstream)
        validator = {"alg": "RS256", "jwk_url": f"https://127.0.0.1:{server.port}/jwks", "jwk_local_ca": str(bundle)}
        endpoint = {"endpoint": "/me", "backend": [{"host": [host], "url_pattern": "/"}]}
        client = await gateway(make_config([{**endpoint, "extra_config": {"auth/validator": validator}}]))
        token = mint(rsa_key("k1"), claims(), alg="RS256")
        ok = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert ok.status == 200 and jwks.hits == 1
    finally:
        await server.close()
