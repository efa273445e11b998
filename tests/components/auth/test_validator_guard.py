"""auth/validator as a guard the handler calls on the filtered request: what a backend sees is the
same as on the unfiltered path (the one taken when another endpoint-layer middleware needs it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from krakenpy.names import USER_AGENT
from tests.conftest import make_config
from tests.jose.helpers import JwksServer, claims, mint, rsa_key

Start = Callable[[web.Application], Awaitable[str]]


async def _echo(backend: Start) -> str:
    async def echo(request: web.Request) -> web.Response:
        # Host is the backend's; the request id differs per request
        headers = {k: v for k, v in request.headers.items() if k not in ("Host", "Accept-Encoding", "X-Request-ID")}
        return web.json_response({"path": request.path, "query": request.query_string, "headers": headers})

    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    return await backend(app)


async def _servers(backend: Start) -> tuple[str, str]:
    """A JWKS server with key ``k1`` and the echo backend: (the JWK set's URL, the backend's host)."""
    jwks = JwksServer(keys=[rsa_key("k1")])
    return await backend(jwks.app()) + "/jwks", await _echo(backend)


async def test_validator_guard_path_matches_the_unfiltered_path(
    backend: Start, gateway: Callable[..., Awaitable[Any]], guard_calls: list[tuple[str, ...]]
) -> None:
    jwks_url, host = await _servers(backend)
    validator = {
        "alg": "RS256",
        "jwk_url": jwks_url,
        "disable_jwk_security": True,
        "propagate_claims": [["sub", "x-user"], ["plan", "x-plan"]],
    }
    common = {
        "input_headers": ["X-User", "X-Other", "User-Agent"],
        "input_query_strings": ["a"],
        "backend": [{"host": [host], "url_pattern": "/u/{JWT.sub}"}],
    }
    cel = [{"check_expr": "has(JWT.sub)"}]  # the JWT rejecter: an endpoint-layer middleware, not a guard
    doc = make_config(
        [
            {"endpoint": "/guarded", **common, "extra_config": {"auth/validator": validator}},
            {"endpoint": "/unfiltered", **common, "extra_config": {"auth/validator": validator, "validation/cel": cel}},
        ]
    )
    client = await gateway(doc)
    token = mint(rsa_key("k1"), claims(sub="ada", plan="gold"), alg="RS256")
    sent = {"Authorization": f"Bearer {token}", "X-User": "mallory", "X-Other": "o", "Cookie": "c=1"}
    seen: dict[str, Any] = {}
    for path in ("/guarded", "/unfiltered"):
        response = await client.get(path + "?a=1&b=2", headers=sent)
        assert response.status == 200
        seen[path] = orjson.loads(await response.read())
        assert (await client.get(path, headers={"X-User": "mallory"})).status == 401
    assert seen["/guarded"] == seen["/unfiltered"]
    echo = seen["/guarded"]
    assert echo["path"] == "/u/ada" and echo["query"] == "a=1"
    headers = echo["headers"]
    assert headers["X-User"] == "ada" and headers["X-Other"] == "o"
    assert "X-Plan" not in headers  # a claim header the endpoint does not forward
    assert "Authorization" not in headers and "Cookie" not in headers
    assert headers["User-Agent"].startswith("Python") and headers["X-Forwarded-Via"] == USER_AGENT
    assert guard_calls == [("Authorization", "Cookie")] * 2  # only /guarded, and only the two headers


async def test_validator_guard_path_every_header_forwarded(
    backend: Start, gateway: Callable[..., Awaitable[Any]], guard_calls: list[tuple[str, ...]]
) -> None:
    jwks_url, host = await _servers(backend)
    validator = {"alg": "RS256", "jwk_url": jwks_url, "disable_jwk_security": True}
    validator["propagate_claims"] = [["sub", "x-u"]]
    endpoint = {"endpoint": "/all", "input_headers": ["*"], "backend": [{"host": [host], "url_pattern": "/x"}]}
    client = await gateway(make_config([{**endpoint, "extra_config": {"auth/validator": validator}}]))
    token = mint(rsa_key("k1"), claims(sub="ada"), alg="RS256")
    response = await client.get("/all", headers={"Authorization": f"Bearer {token}", "X-U": "mallory"})
    headers = orjson.loads(await response.read())["headers"]
    assert headers["X-U"] == "ada" and headers["Authorization"] == f"Bearer {token}"
    assert guard_calls == [("Authorization", "Cookie")]


async def test_validator_claim_to_a_header_the_handler_writes_keeps_the_unfiltered_path(
    backend: Start, gateway: Callable[..., Awaitable[Any]], guard_calls: list[tuple[str, ...]]
) -> None:
    jwks_url, host = await _servers(backend)
    validator = {
        "alg": "RS256",
        "jwk_url": jwks_url,
        "disable_jwk_security": True,
        "propagate_claims": [["sub", "user-agent"]],
    }
    endpoint = {"endpoint": "/ua", "input_headers": ["User-Agent"], "backend": [{"host": [host], "url_pattern": "/x"}]}
    client = await gateway(make_config([{**endpoint, "extra_config": {"auth/validator": validator}}]))
    token = mint(rsa_key("k1"), claims(sub="ada"), alg="RS256")
    response = await client.get("/ua", headers={"Authorization": f"Bearer {token}"})
    headers = orjson.loads(await response.read())["headers"]
    assert headers["User-Agent"] == "ada" and headers["X-Forwarded-Via"] == USER_AGENT
    assert guard_calls == []
