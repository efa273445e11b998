"""A backend URL with credentials (``http://user:pass@host``), as Go's ``http.Client`` sends it: the URL's
user and password become ``Authorization: Basic`` only when the request has no ``Authorization`` header
of its own; a header set (a forwarded client token) wins, and the request is sent (aiohttp refused the
pair with a ValueError: a 500). Both upstream clients (the fast one hands such URLs to aiohttp's)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from krakenpy.backends.client import AiohttpClient
from krakenpy.backends.fastclient import FastClient
from tests.conftest import make_config

Start = Callable[[web.Application], Awaitable[str]]


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


async def _echo(backend: Start) -> str:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"authorization": request.headers.getall("Authorization", [])})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return await backend(app)


def _with_userinfo(base: str, userinfo: str) -> str:
    return base.replace("http://", f"http://{userinfo}@", 1)


@pytest.mark.parametrize("make", [FastClient, AiohttpClient])
@pytest.mark.parametrize(
    ("userinfo", "headers", "seen"),
    [
        ("ada:s3cret", [("Authorization", "Bearer client-token")], ["Bearer client-token"]),
        ("ada:s3cret", [("authorization", "Bearer lower")], ["Bearer lower"]),  # any spelling of the name
        ("ada:s3cret", [("X-Other", "1")], [_basic(b"ada:s3cret")]),
        # an empty value is none for Go's check, and replaced
        ("ada:s3cret", [("Authorization", ""), ("X-A", "1")], [_basic(b"ada:s3cret")]),
        ("ada:s3cret", [("Authorization", "Bearer 1"), ("Authorization", "Bearer 2")], ["Bearer 1", "Bearer 2"]),
        ("ada", [], [_basic(b"ada:")]),  # no password: "user:"
        ("a%40b:p%3Ax%C3%A9", [], [_basic("a@b:p:xé".encode())]),  # percent-decoded, UTF-8 as Go
        ("ad%C3%A9:caf%E9", [], [_basic(b"ad\xc3\xa9:caf\xe9")]),  # the decoded bytes, whatever they are
    ],
)
async def test_clients_send_userinfo_as_go_does(
    backend: Start, make: Any, userinfo: str, headers: list[tuple[str, str]], seen: list[str]
) -> None:
    base = await _echo(backend)
    client = make()
    try:
        answer = await client.request("GET", _with_userinfo(base, userinfo) + "/x", headers, None)
        assert answer.status == 200
        assert orjson.loads(answer.body) == {"authorization": seen}
    finally:
        await client.close()


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
async def test_forwarded_authorization_wins_over_the_backend_url_credentials(
    backend: Start, gateway: Any, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", client)
    base = await _echo(backend)
    host = _with_userinfo(base, "ada:s3cret")
    backends = [{"host": [host], "url_pattern": "/u", "disable_host_sanitize": True}]
    forwarded = {"endpoint": "/fwd", "input_headers": ["Authorization"], "backend": backends}
    own = {"endpoint": "/own", "backend": backends}
    gw = await gateway(make_config([forwarded, own]))
    async with gw.get("/fwd", headers={"Authorization": "Bearer client-token"}) as response:
        assert response.status == 200
        assert await response.json() == {"authorization": ["Bearer client-token"]}
    async with gw.get("/fwd") as response:  # none forwarded: the URL's
        assert await response.json() == {"authorization": [_basic(b"ada:s3cret")]}
    async with gw.get("/own", headers={"Authorization": "Bearer not-forwarded"}) as response:
        assert await response.json() == {"authorization": [_basic(b"ada:s3cret")]}


def test_url_credentials_reads_the_authority_only() -> None:
    from krakenpy.backends.client import url_credentials

    pairs = [("X-A", "1")]
    for url in ("http://127.0.0.1:1/users/a@b", "http://127.0.0.1:1?to=a@b", "http://h#x@y", "mailto-ish:a@b"):
        assert url_credentials(url, pairs) == (url, pairs)
    # the last "@" of the authority, the first ":" of the user information (Go's url.Parse)
    assert url_credentials("https://a@b:c:d@h:8/p@q", pairs) == (
        "https://h:8/p@q",
        [("X-A", "1"), ("Authorization", _basic(b"a@b:c:d"))],
    )
