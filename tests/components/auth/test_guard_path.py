"""auth/api-keys and auth/basic as guards the handler calls on the filtered request: a backend sees
what it sees on the unfiltered path (taken here beside a router rate limit that never trips)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.conftest import make_config

Start = Callable[[web.Application], Awaitable[str]]
KEY = "k-123"
#: a plain endpoint-layer middleware: with it the endpoint takes the unfiltered path
NEVER_TRIPS = {"qos/ratelimit/router": {"max_rate": 1_000_000}}


async def _echo(backend: Start) -> str:
    async def echo(request: web.Request) -> web.Response:
        skip = ("Host", "Accept-Encoding", "X-Request-ID")
        return web.json_response({k: v for k, v in request.headers.items() if k not in skip})

    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    return await backend(app)


def _pair(host: str, guard: dict[str, Any], input_headers: list[str]) -> list[dict[str, Any]]:
    common = {"input_headers": input_headers, "backend": [{"host": [host], "url_pattern": "/x"}]}
    return [
        {"endpoint": "/guarded", **common, "extra_config": guard},
        {"endpoint": "/unfiltered", **common, "extra_config": {**guard, **NEVER_TRIPS}},
    ]


async def _both(client: Any, headers: dict[str, str]) -> tuple[int, Any]:
    seen = []
    for path in ("/guarded", "/unfiltered"):
        response = await client.get(path, headers=headers)
        seen.append((response.status, orjson.loads(await response.read()) if response.status == 200 else None))
    assert seen[0] == seen[1]
    return seen[0]


@pytest.mark.parametrize("input_headers", [["X-Role", "X-Other"], ["X-Other"], ["*"]])
async def test_api_keys_guard_path_matches_the_unfiltered_path(
    backend: Start,
    gateway: Callable[..., Awaitable[Any]],
    guard_calls: list[tuple[str, ...]],
    input_headers: list[str],
) -> None:
    host = await _echo(backend)
    service = {"auth/api-keys": {"keys": [{"key": KEY, "roles": ["gold"]}], "propagate_role": "x-role"}}
    guard = {"auth/api-keys": {"roles": ["gold"], "identifier": "X-Key"}}
    client = await gateway(make_config(_pair(host, guard, input_headers), extra_config=service))
    status, headers = await _both(client, {"X-Key": KEY, "X-Role": "admin", "X-Other": "o"})
    assert status == 200 and headers["X-Other"] == "o"
    if "X-Role" in input_headers or "*" in input_headers:
        assert headers["X-Role"] == "gold"  # the client's value replaced
    else:
        assert "X-Role" not in headers
    assert ("X-Key" in headers) == ("*" in input_headers)
    assert (await _both(client, {"X-Key": "nope"}))[0] == 401
    assert guard_calls == [("X-Key",)] * 2  # /guarded only


async def test_basic_guard_path_matches_the_unfiltered_path(
    backend: Start, gateway: Callable[..., Awaitable[Any]], guard_calls: list[tuple[str, ...]]
) -> None:
    host = await _echo(backend)
    guard = {"auth/basic": {"users": {"ada": "secret"}}}
    client = await gateway(make_config(_pair(host, guard, ["X-Other"])))
    good = "Basic " + base64.b64encode(b"ada:secret").decode()
    status, headers = await _both(client, {"Authorization": good, "X-Other": "o"})
    assert status == 200 and headers["X-Other"] == "o" and "Authorization" not in headers
    bad = "Basic " + base64.b64encode(b"ada:wrong").decode()
    assert (await _both(client, {"Authorization": bad}))[0] == 401
    assert guard_calls == [("Authorization",)] * 2
