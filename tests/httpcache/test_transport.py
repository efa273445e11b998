"""The backend cache against a real aiohttp backend through the real upstream client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from typing import Any

import pytest
from aiohttp import web

from krakenpy.backends.client import ClientOptions, UpstreamCall
from krakenpy.backends.fastclient import FastClient
from krakenpy.errors import BackendError
from krakenpy.httpcache.store import Store
from krakenpy.httpcache.transport import cache_middleware

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Origin:
    """A backend whose answers a test scripts: ``headers`` per path, a call log, optional failures."""

    def __init__(self) -> None:
        self.seen: list[web.Request] = []
        self.headers: dict[str, dict[str, str]] = {}
        self.status: dict[str, int] = {}
        self.body = b'{"a":1}'

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request)
        headers = {"Date": formatdate(T0, usegmt=True), **self.headers.get(request.path, {})}
        etag = headers.get("ETag")
        if etag and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"Date": formatdate(T0 + 100, usegmt=True), "X-Seen": "304"})
        status = self.status.get(request.path, 200)
        body = self.body + request.path.encode()
        return web.Response(status=status, body=body, headers=headers, content_type="application/json")

    def hits(self, path: str) -> int:
        return sum(1 for r in self.seen if r.path == path)


@pytest.fixture
async def origin(backend: Callable[[web.Application], Awaitable[str]]) -> AsyncIterator[tuple[Origin, str]]:
    o = Origin()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", o.handle)
    yield o, await backend(app)


@pytest.fixture
async def upstream() -> AsyncIterator[UpstreamCall]:
    client = FastClient(ClientOptions())
    yield client.request
    await client.close()


def _cached(upstream: UpstreamCall, clock: Clock, store: Store | None = None) -> UpstreamCall:
    return cache_middleware(store if store is not None else Store(), clock=clock)(upstream)


async def _get(call: UpstreamCall, url: str, *headers: tuple[str, str], method: str = "GET") -> Any:
    return await call(method, url, list(headers), None)


async def test_transport_max_age_hit_skips_backend(origin: tuple[Origin, str], upstream: UpstreamCall) -> None:
    o, base = origin
    o.headers["/a"] = {"Cache-Control": "max-age=60"}
    clock = Clock()
    call = _cached(upstream, clock)
    first = await _get(call, base + "/a")
    clock.now += 59
    second = await _get(call, base + "/a")
    assert second is first and o.hits("/a") == 1
    clock.now += 1  # stale now: no validator, a plain refetch
    await _get(call, base + "/a")
    assert o.hits("/a") == 2


async def test_transport_expires_against_date(origin: tuple[Origin, str], upstream: UpstreamCall) -> None:
    o, base = origin
    o.headers["/e"] = {"Expires": formatdate(T0 + 30, usegmt=True)}
    o.headers["/bad"] = {"Expires": "0"}
    clock = Clock()
    call = _cached(upstream, clock)
    await _get(call, base + "/e")
    clock.now += 29
    await _get(call, base + "/e")
    assert o.hits("/e") == 1
    await _get(call, base + "/bad")
    await _get(call, base + "/bad")
    assert o.hits("/bad") == 2


async def test_transport_revalidates_with_etag_and_serves_stored_body(
    origin: tuple[Origin, str], upstream: UpstreamCall
) -> None:
    o, base = origin
    o.headers["/v"] = {"Cache-Control": "max-age=10", "ETag": '"v1"'}
    clock = Clock()
    call = _cached(upstream, clock)
    first = await _get(call, base + "/v")
    clock.now += 50
    again = await _get(call, base + "/v")
    assert o.seen[-1].headers.get("If-None-Match") == '"v1"'
    assert again.status == 200 and again.body == first.body
    assert dict(again.headers)["X-Seen"] == "304"  # the 304's headers refresh the stored ones
    # the refreshed Date (T0+100) makes it fresh again until T0+110
    clock.now = T0 + 105
    await _get(call, base + "/v")
    assert o.hits("/v") == 2


async def test_transport_last_modified_sends_if_modified_since(
    origin: tuple[Origin, str], upstream: UpstreamCall
) -> None:
    o, base = origin
    stamp = formatdate(T0 - 1000, usegmt=True)
    o.headers["/m"] = {"Last-Modified": stamp}
    call = _cached(upstream, Clock())
    await _get(call, base + "/m")
    await _get(call, base + "/m")
    assert o.seen[-1].headers.get("If-Modified-Since") == stamp


async def test_transport_vary_must_match(origin: tuple[Origin, str], upstream: UpstreamCall) -> None:
    o, base = origin
    o.headers["/l"] = {"Cache-Control": "max-age=60", "Vary": "accept-language"}
    call = _cached(upstream, Clock())
    await _get(call, base + "/l", ("Accept-Language", "en"))
    await _get(call, base + "/l", ("Accept-Language", "en"))
    assert o.hits("/l") == 1
    await _get(call, base + "/l", ("Accept-Language", "fr"))
    assert o.hits("/l") == 2
    await _get(call, base + "/l", ("Accept-Language", "fr"))  # the fr answer replaced the en one
    assert o.hits("/l") == 2


@pytest.mark.parametrize(
    ("response_cc", "request_cc"), [("no-store", ""), ("max-age=60, no-store", ""), ("max-age=60", "no-store")]
)
async def test_transport_no_store_is_never_stored(
    origin: tuple[Origin, str], upstream: UpstreamCall, response_cc: str, request_cc: str
) -> None:
    o, base = origin
    o.headers["/n"] = {"Cache-Control": response_cc}
    store = Store()
    call = _cached(upstream, Clock(), store)
    extra = [("Cache-Control", request_cc)] if request_cc else []
    await _get(call, base + "/n", *extra)
    await _get(call, base + "/n", *extra)
    assert o.hits("/n") == 2 and len(store) == 0


async def test_transport_request_no_cache_goes_to_backend(origin: tuple[Origin, str], upstream: UpstreamCall) -> None:
    o, base = origin
    o.headers["/c"] = {"Cache-Control": "max-age=60", "ETag": '"x"'}
    call = _cached(upstream, Clock())
    await _get(call, base + "/c")
    await _get(call, base + "/c", ("Cache-Control", "no-cache"))
    assert o.hits("/c") == 2 and "If-None-Match" not in o.seen[-1].headers


async def test_transport_stores_any_status_and_private(origin: tuple[Origin, str], upstream: UpstreamCall) -> None:
    o, base = origin
    o.headers["/p"] = {"Cache-Control": "private, max-age=60"}
    o.status["/p"] = 404
    call = _cached(upstream, Clock())
    assert (await _get(call, base + "/p")).status == 404
    assert (await _get(call, base + "/p")).status == 404
    assert o.hits("/p") == 1


async def test_transport_only_get_and_head_without_range(origin: tuple[Origin, str], upstream: UpstreamCall) -> None:
    o, base = origin
    o.headers["/g"] = {"Cache-Control": "max-age=60"}
    store = Store()
    call = _cached(upstream, Clock(), store)
    await _get(call, base + "/g")
    await _get(call, base + "/g", method="POST")  # a POST deletes only "POST url": GET still cached
    await _get(call, base + "/g")
    assert o.hits("/g") == 2
    await _get(call, base + "/g", method="HEAD")
    await _get(call, base + "/g", method="HEAD")
    assert o.hits("/g") == 3  # HEAD has its own key
    await _get(call, base + "/g", ("Range", "bytes=0-1"))
    assert o.hits("/g") == 4
    await _get(call, base + "/g")  # the Range request deleted the GET entry
    assert o.hits("/g") == 5


async def test_transport_stale_if_error_serves_stale_on_5xx_and_transport_error(
    origin: tuple[Origin, str], upstream: UpstreamCall
) -> None:
    o, base = origin
    o.headers["/s"] = {"Cache-Control": "max-age=1, stale-if-error=300"}
    clock = Clock()
    store = Store()
    call = _cached(upstream, clock, store)
    good = await _get(call, base + "/s")
    clock.now += 10
    o.status["/s"] = 503
    assert await _get(call, base + "/s") is good
    dead = cache_middleware(store, clock=clock)(_refused)
    assert await _get(dead, base + "/s") is good
    clock.now += 300
    with pytest.raises(BackendError):
        await _get(dead, base + "/s")


async def _refused(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> Any:
    raise BackendError("connection refused")


async def test_transport_lru_by_items_and_body_beyond_max_size(
    origin: tuple[Origin, str], upstream: UpstreamCall
) -> None:
    o, base = origin
    for path in ("/1", "/2", "/3", "/big"):
        o.headers[path] = {"Cache-Control": "max-age=60"}
    store = Store(max_items=2, max_size=4096)
    call = _cached(upstream, Clock(), store)
    await _get(call, base + "/1")
    await _get(call, base + "/2")
    await _get(call, base + "/1")  # 1 is now the most recent
    await _get(call, base + "/3")  # evicts 2
    assert len(store) == 2
    await _get(call, base + "/1")
    await _get(call, base + "/2")
    assert (o.hits("/1"), o.hits("/2")) == (1, 2)
    o.body = b"x" * 8192
    big = await _get(call, base + "/big")
    assert len(big.body) > 4096 and store.bytes <= 4096
    await _get(call, base + "/big")
    assert o.hits("/big") == 2  # never stored; the small entries stayed
    assert len(store) == 2
