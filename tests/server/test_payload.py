"""KrakenD Enterprise's ``max_payload`` and ``decompress_gzip`` (router and endpoint ``proxy``): real
aiohttp backends behind the gateway record what reaches them."""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from krakenpy.config.build import build_service
from krakenpy.config.options import EndpointProxyOptions, RouterOptions
from krakenpy.errors import ConfigError
from krakenpy.server.payload import MAX_REQUEST_BODY, body_limits, gunzip

Seen = list[tuple[bytes, dict[str, str]]]


async def _recorder(backend: Callable[[web.Application], Awaitable[str]]) -> tuple[str, Seen]:
    seen: Seen = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((await request.read(), dict(request.headers)))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/in", handle)
    return await backend(app), seen


def _doc(url: str, router: dict[str, Any], proxy: dict[str, Any] | None = None) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "endpoint": "/up",
        "method": "POST",
        "input_headers": ["*"],
        "backend": [{"host": [url], "url_pattern": "/in"}],
    }
    other = {**endpoint, "endpoint": "/other"}
    if proxy:
        endpoint["extra_config"] = {"proxy": proxy}
    return {"version": 3, "extra_config": {"router": router}, "endpoints": [endpoint, other]}


async def test_payload_max_payload_router_and_endpoint_smaller_wins(backend, gateway) -> None:
    url, seen = await _recorder(backend)
    client = await gateway(_doc(url, {"max_payload": 100}, {"max_payload": 40}))
    assert (await client.post("/up", data=b"x" * 40)).status == 200
    assert (await client.post("/up", data=b"x" * 41)).status == 413  # the endpoint's 40
    assert (await client.post("/other", data=b"x" * 100)).status == 200  # only the router's 100
    response = await client.post("/other", data=b"x" * 101)
    assert response.status == 413 and response.headers.get("Connection") == "close"
    assert [len(body) for body, _ in seen] == [40, 100]


async def test_payload_chunked_body_over_the_cap_is_refused(backend, gateway) -> None:
    url, seen = await _recorder(backend)
    client = await gateway(_doc(url, {"max_payload": 64}))

    async def chunks():  # no Content-Length: the cap applies while reading
        for _ in range(10):
            yield b"y" * 10

    assert (await client.post("/up", data=chunks())).status == 413
    assert seen == []


async def test_payload_decompress_gzip_forwards_the_plain_body(backend, gateway) -> None:
    url, seen = await _recorder(backend)
    client = await gateway(_doc(url, {"decompress_gzip": 4096}))
    plain = b'{"message": "' + b"hello " * 100 + b'"}'
    packed = gzip.compress(plain)
    response = await client.post("/up", data=packed, headers={"Content-Encoding": "gzip"})
    assert response.status == 200
    body, headers = seen[-1]
    assert body == plain and "Content-Encoding" not in headers and headers["Content-Length"] == str(len(plain))
    # two gzip members, as Go's reader takes them
    both = gzip.compress(b"one ") + gzip.compress(b"two")
    assert (await client.post("/up", data=both, headers={"Content-Encoding": "GZIP"})).status == 200
    assert seen[-1][0] == b"one two"
    # not gzip first: forwarded as sent
    assert (await client.post("/up", data=packed, headers={"Content-Encoding": "br, gzip"})).status == 200
    assert seen[-1][0] == packed and seen[-1][1]["Content-Encoding"] == "br, gzip"


async def test_payload_decompress_gzip_bounds_the_inflated_size(backend, gateway) -> None:
    url, seen = await _recorder(backend)
    client = await gateway(_doc(url, {"decompress_gzip": 1_000_000, "max_payload": 10_000}))
    bomb = gzip.compress(b"\0" * 5_000_000)  # ~5 KB on the wire
    assert len(bomb) < 10_000
    response = await client.post("/up", data=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status == 413  # max_payload bounds the decompressed body
    fits = gzip.compress(b"a" * 10_000)
    assert (await client.post("/up", data=fits, headers={"Content-Encoding": "gzip"})).status == 200
    assert [len(body) for body, _ in seen] == [10_000]


@pytest.mark.parametrize(
    "bad", [b"not gzip at all", gzip.compress(b"cut short" * 50, mtime=0)[:-12]], ids=["not gzip", "cut short"]
)
async def test_payload_broken_gzip_is_a_400(backend, gateway, bad: bytes) -> None:
    url, seen = await _recorder(backend)
    client = await gateway(_doc(url, {"decompress_gzip": True}))
    response = await client.post("/up", data=bad, headers={"Content-Encoding": "gzip"})
    assert response.status == 400 and len(await response.read()) < 100
    assert seen == []


async def test_payload_without_the_options_gzip_passes_through(backend, gateway) -> None:
    url, seen = await _recorder(backend)
    client = await gateway(_doc(url, {}))
    packed = gzip.compress(b"kept compressed")
    assert (await client.post("/up", data=packed, headers={"Content-Encoding": "gzip"})).status == 200
    # (aiohttp's server inflates what it reads: the headers show what the gateway sent)
    assert seen[-1][1]["Content-Encoding"] == "gzip" and seen[-1][1]["Content-Length"] == str(len(packed))


def test_payload_limits_decided_at_start_up() -> None:
    assert body_limits(RouterOptions(), EndpointProxyOptions()).read == MAX_REQUEST_BODY
    raised = body_limits(RouterOptions(max_payload=50 * 2**20), EndpointProxyOptions())
    assert raised.read == 50 * 2**20 and raised.gunzip == 0  # a max_payload above 10 MiB raises the cap
    both = body_limits(RouterOptions(decompress_gzip=100), EndpointProxyOptions(decompress_gzip=7, max_payload=5))
    assert (both.read, both.gunzip) == (5, 5)
    assert gunzip(gzip.compress(b"abc"), 3) == b"abc" and gunzip(gzip.compress(b"abcd"), 3) is None


@pytest.mark.parametrize(("where", "value"), [("router", -1), ("router", "1k"), ("proxy", 2.5)])
def test_payload_bad_values_are_config_errors(where: str, value: Any) -> None:
    doc = _doc("http://127.0.0.1:19", {}, None)
    if where == "router":
        doc["extra_config"]["router"]["max_payload"] = value
    else:
        doc["endpoints"][0]["extra_config"] = {"proxy": {"max_payload": value}}
    with pytest.raises(ConfigError) as caught:
        build_service(doc)
    assert "max_payload" in str(caught.value.issues[0])


def test_payload_gunzip_is_linear_and_bounds_the_members() -> None:
    """Empty members once cost a copy of the rest of the body each (quadratic: a 2 MiB body of them
    held the loop 11 s); now slices are bounded and 64 members at most are read."""
    empty = gzip.compress(b"")
    with pytest.raises(ValueError, match="too many gzip members"):
        gunzip(empty * 100_000, 1000)  # 2 MB: refused after 64 members, at once
    assert gunzip(empty * 64, 10) == b""
    big = gzip.compress(bytes(range(256)) * 2048)  # one member spanning several 64 KiB slices
    assert gunzip(big + gzip.compress(b"tail"), 10**6) == bytes(range(256)) * 2048 + b"tail"
    with pytest.raises(ValueError, match="truncated"):
        gunzip(big[: len(big) // 2], 10**6)


def test_payload_content_encoding_first_token_only() -> None:
    from krakenpy.server.payload import is_gzip

    assert is_gzip("gzip") and is_gzip(" GZIP , br") and not is_gzip("gzipx") and not is_gzip("x-gzip")
    assert body_limits(RouterOptions(decompress_gzip=50 * 2**20), EndpointProxyOptions()).gunzip == 50 * 2**20
