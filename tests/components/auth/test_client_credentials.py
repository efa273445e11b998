"""auth/client-credentials against a real OAuth2 token endpoint and backend on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from krakenpy.backends.client import AiohttpClient, UpstreamCall
from krakenpy.components.auth.client_credentials import COMPONENT
from krakenpy.components.base import Site
from krakenpy.errors import BackendError, ConfigError
from tests.jose.helpers import resources_for, site_for

Start = Callable[[web.Application], Awaitable[str]]


@dataclass
class TokenServer:
    """Issues ``token-N``; ``basic`` False refuses HTTP Basic (body credentials only)."""

    basic: bool = True
    expires_in: Any = 3600
    status: int = 200
    forms: list[dict[str, list[str]]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.forms.append({k: form.getall(k) for k in form})
        self.auth.append(request.headers.get("Authorization", ""))
        header = request.headers.get("Authorization", "")
        ok_basic = self.basic and header == "Basic " + base64.b64encode(b"my+id:s%26cret").decode()
        ok_body = form.get("client_id") == "my id" and form.get("client_secret") == "s&cret"
        if self.status != 200:
            return web.json_response({"error": "server_error"}, status=self.status)
        if not (ok_basic or ok_body):
            return web.json_response({"error": "invalid_client"}, status=401)
        payload: dict[str, Any] = {"access_token": f"token-{len(self.forms)}", "token_type": "bearer"}
        if self.expires_in is not None:
            payload["expires_in"] = self.expires_in
        return web.json_response(payload)


@pytest.fixture
async def setup(backend: Start) -> AsyncIterator[Callable[..., Awaitable[tuple[UpstreamCall, TokenServer, str]]]]:
    stack = AsyncExitStack()

    async def make(server: TokenServer, **extra: Any) -> tuple[UpstreamCall, TokenServer, str]:
        app = web.Application()
        app.router.add_post("/token", server.token)

        async def api(request: web.Request) -> web.Response:
            return web.json_response({"auth": request.headers.get("Authorization", "")})

        app.router.add_get("/api", api)
        base = await backend(app)
        value = {"client_id": "my id", "client_secret": "s&cret", "token_url": base + "/token", **extra}
        site = site_for("auth/client-credentials", value)
        site = Site("backend", "endpoints[0].backend[0].extra_config.auth/client-credentials", site.service)
        resources = resources_for(site, stack)
        client = AiohttpClient()
        stack.push_async_callback(client.close)
        resources.http = client
        options = COMPONENT.parse(value, site)
        assert COMPONENT.client is not None
        middleware = await COMPONENT.client(options, site, resources)
        assert middleware is not None
        return middleware(client.request), server, base

    yield make
    await stack.aclose()


async def test_client_credentials_token_fetched_once_and_shared(setup: Any) -> None:
    call, server, base = await setup(TokenServer(), scopes="read,write", endpoint_params={"audience": ["api", "x"]})
    answers = await asyncio.gather(
        *(call("GET", base + "/api", [("Authorization", "client")], None) for _ in range(20))
    )
    assert {a.body for a in answers} == {b'{"auth": "Bearer token-1"}'}
    assert len(server.forms) == 1
    assert server.forms[0] == {"grant_type": ["client_credentials"], "scope": ["read write"], "audience": ["api", "x"]}
    assert server.auth[0].startswith("Basic ")


async def test_client_credentials_falls_back_to_body_credentials(setup: Any) -> None:
    call, server, base = await setup(TokenServer(basic=False))
    answer = await call("GET", base + "/api", [], None)
    assert answer.body == b'{"auth": "Bearer token-2"}'
    assert server.forms[1]["client_id"] == ["my id"] and server.forms[0]["scope"] == [""]


async def test_client_credentials_renews_ten_seconds_before_expiry(setup: Any) -> None:
    call, server, base = await setup(TokenServer(expires_in=10))  # already within the 10 s margin
    await call("GET", base + "/api", [], None)
    await call("GET", base + "/api", [], None)
    assert len(server.forms) == 2


async def test_client_credentials_without_expiry_is_never_renewed(setup: Any) -> None:
    call, server, base = await setup(TokenServer(expires_in=None))
    for _ in range(3):
        await call("GET", base + "/api", [], None)
    assert len(server.forms) == 1


async def test_client_credentials_failure_is_a_backend_error_without_the_secret(setup: Any) -> None:
    call, server, base = await setup(TokenServer(status=500))
    with pytest.raises(BackendError) as info:
        await call("GET", base + "/api", [], None)
    assert str(info.value).startswith("oauth2:") and "s&cret" not in str(info.value)


def test_client_credentials_parse() -> None:
    site = site_for("auth/client-credentials", {})
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"client_id": "a", "token_url": "ftp://x", "endpoint_params": {"aud": "api"}}, site)
    paths = {i.path.rsplit(".", 1)[-1] for i in info.value.issues}
    assert {"client_secret", "token_url", "aud"} <= paths
    assert COMPONENT.parse({"is_disabled": True}, site) is None
