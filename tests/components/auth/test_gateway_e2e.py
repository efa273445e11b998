"""The auth components through the assembled gateway: the rejection matrix's response shapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from tests.conftest import make_config
from tests.jose.helpers import JwksServer, claims, mint, rsa_key

Start = Callable[[web.Application], Awaitable[str]]


async def _backend(backend: Start) -> str:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path, "user": request.headers.get("X-User", "")})

    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    return await backend(app)


async def test_gateway_jwt_401_403_200_shapes(backend: Start, gateway: Callable[..., Awaitable[Any]]) -> None:
    jwks = JwksServer(keys=[rsa_key("k1")])
    jwks.url = await backend(jwks.app()) + "/jwks"
    host = await _backend(backend)
    validator = {
        "alg": "RS256",
        "jwk_url": jwks.url,
        "disable_jwk_security": True,
        "roles": ["admin"],
        "propagate_claims": [["sub", "x-user"]],
    }
    doc = make_config(
        [
            {
                "endpoint": "/me",
                "input_headers": ["X-User"],
                "backend": [{"host": [host], "url_pattern": "/users/{JWT.sub}"}],
                "extra_config": {"auth/validator": validator},
            }
        ]
    )
    client = await gateway(doc)
    missing = await client.get("/me")
    assert missing.status == 401 and await missing.read() == b"" and "X-Krakend" not in missing.headers
    user = mint(rsa_key("k1"), claims(roles=["user"]), alg="RS256")
    forbidden = await client.get("/me", headers={"Authorization": f"Bearer {user}"})
    assert forbidden.status == 403 and await forbidden.read() == b"" and "X-Krakend" not in forbidden.headers
    admin = mint(rsa_key("k1"), claims(roles=["admin"], sub="ada"), alg="RS256")
    ok = await client.get("/me", headers={"Authorization": f"Bearer {admin}", "X-User": "mallory"})
    assert ok.status == 200 and "X-Krakend" in ok.headers
    assert orjson.loads(await ok.read()) == {"path": "/users/ada", "user": "ada"}


async def test_gateway_api_keys_and_client_credentials(backend: Start, gateway: Callable[..., Awaitable[Any]]) -> None:
    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "t-1", "token_type": "bearer", "expires_in": 3600})

    async def api(request: web.Request) -> web.Response:
        return web.json_response({"auth": request.headers.get("Authorization", "")})

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_get("/api", api)
    host = await backend(app)
    doc = make_config(
        [
            {
                "endpoint": "/keyed",
                "backend": [
                    {
                        "host": [host],
                        "url_pattern": "/api",
                        "extra_config": {
                            "auth/client-credentials": {
                                "client_id": "c",
                                "client_secret": "s",
                                "token_url": host + "/token",
                            }
                        },
                    }
                ],
                "extra_config": {"auth/api-keys": {"roles": ["user"], "identifier": "X-Key"}},
            }
        ],
        extra_config={"auth/api-keys": {"keys": [{"key": "k-123", "roles": ["user"]}]}},
    )
    client = await gateway(doc)
    assert (await client.get("/keyed")).status == 401
    assert (await client.get("/keyed", headers={"X-Key": "nope"})).status == 401
    ok = await client.get("/keyed", headers={"X-Key": "k-123"})
    assert ok.status == 200 and orjson.loads(await ok.read()) == {"auth": "Bearer t-1"}
