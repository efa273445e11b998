"""The forwarded request id handed to the core HTTP executor: the telemetry backend layer right above
it (nothing but the deadline between) leaves the header map alone and the executor writes the id with
the other headers; anywhere a layer may read or change the header (martian, Lua, a client-layer
component) the id still goes into the map. Each way, a header-echoing backend on 127.0.0.1 sees
exactly one ``X-Request-Id`` where it was before: after the request's own headers, before
``Accept-Encoding``, or in place of a forwarded client value. Both upstream clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from krakenpy.backends.client import AiohttpClient, UpstreamClient
from krakenpy.backends.fastclient import FastClient
from krakenpy.backends.http import http_backend
from krakenpy.config.build import build_service
from krakenpy.proxy.deadline import bounded_proxy
from krakenpy.proxy.types import Request, id_sink
from krakenpy.telemetry.exchange import EXCHANGE, Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.backend import backend_middleware
from krakenpy.telemetry.metrics.stats import StatsRegistry
from tests.components.telemetry.conftest import Served, doc

Echoed = list[list[tuple[str, str]]]


@pytest.fixture
async def echo() -> AsyncIterator[Callable[[], Awaitable[tuple[str, Echoed]]]]:
    """A backend on 127.0.0.1 keeping each request's headers as sent (names, values, order)."""
    servers: list[TestServer] = []

    async def start() -> tuple[str, Echoed]:
        seen: Echoed = []

        async def handle(request: web.Request) -> web.Response:
            seen.append([(k.decode(), v.decode()) for k, v in request.raw_headers])
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}", seen

    yield start
    for server in servers:
        await server.close()


def _ids(headers: list[tuple[str, str]]) -> list[str]:
    return [v for k, v in headers if k.lower() == "x-request-id"]


def _names(headers: list[tuple[str, str]]) -> list[str]:
    return [k for k, _ in headers]


CLIENTS: dict[str, Callable[[], UpstreamClient]] = {"fast": FastClient, "aiohttp": AiohttpClient}


@pytest.mark.parametrize("client_kind", sorted(CLIENTS))
@pytest.mark.parametrize("stats", [False, True], ids=["lean", "metered"])
async def test_the_backend_layer_hands_the_id_to_the_executor(
    client_kind: str, stats: bool, echo: Callable[[], Awaitable[tuple[str, Echoed]]]
) -> None:
    host, seen = await echo()
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/p", "backend": [{"host": [host]}]}]})
    endpoint = service.endpoints[0]
    backend = endpoint.backends[0]
    hub = Telemetry()
    if stats:
        hub.stats = StatsRegistry()
    client = CLIENTS[client_kind]()
    try:
        executor = http_backend(backend, client.request, None, takes_id=True)
        stack = backend_middleware(hub, endpoint, backend)(bounded_proxy(executor))
        sink = id_sink(executor)
        assert sink is not None and sink.name == "X-Request-Id"  # handed over at build time

        for rid, given in (("rid-1", None), ("rid-2", ["client-1", "client-2"]), ("", None)):
            headers = {"X-A": ["a"]}
            if given is not None:
                headers["X-Request-Id"] = given
            headers["X-B"] = ["b1", "b2"]
            request = Request(method="GET", path="/p", params={}, headers=headers, query={}, url=f"{host}/x")
            exchange = request.context[EXCHANGE] = Exchange()
            exchange.request_id = rid
            response = await stack(request)
            assert response.data == {"ok": True}
            # the map neither copied nor changed: the id went to the wire only
            assert request.headers is headers and headers.get("X-Request-Id") == given
    finally:
        await client.close()
    first, replaced, none = seen
    assert _ids(first) == ["rid-1"]
    assert _names(first)[-4:] == ["X-B", "X-B", "X-Request-Id", "Accept-Encoding"]
    assert _ids(replaced) == ["rid-2"]  # the forwarded values replaced, in their place
    assert "X-A,X-Request-Id,X-B,X-B,Accept-Encoding" in ",".join(_names(replaced))
    assert _ids(none) == []  # no id on the exchange: nothing written


async def test_no_hand_over_where_a_layer_sits_between() -> None:
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/p", "backend": [{"host": ["http://h"]}]}]})
    endpoint = service.endpoints[0]
    backend = endpoint.backends[0]
    client = FastClient()
    try:
        executor = http_backend(backend, client.request, None, takes_id=True)

        async def between(request: Request) -> Any:
            return await executor(request)

        backend_middleware(Telemetry(), endpoint, backend)(between)
        sink = id_sink(executor)
        assert sink is not None and sink.name == ""  # the id stays in the map the layer between may read
        plain = http_backend(backend, client.request, None)
        backend_middleware(Telemetry(), endpoint, backend)(bounded_proxy(plain))
        assert id_sink(plain) is None
    finally:
        await client.close()


@pytest.fixture(params=["fast", "aiohttp"])
def client_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    kind: str = request.param
    monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", kind)
    return kind


LUA_SET = "local r = request.load(); r:headers('X-Request-Id', 'from-lua')"

MODIFIED: dict[str, tuple[dict[str, Any], str | None]] = {
    # (the backend's extra_config, the id the backend sees: None for none, "" for the gateway's)
    "plain": ({}, ""),
    "martian-beside": (
        {"modifier/martian": {"header.Modifier": {"scope": ["request"], "name": "X-Other", "value": "o"}}},
        "",
    ),
    "martian-set": (
        {"modifier/martian": {"header.Modifier": {"scope": ["request"], "name": "X-Request-Id", "value": "m"}}},
        "m",
    ),
    "martian-delete": (
        {"modifier/martian": {"header.Blacklist": {"scope": ["request"], "names": ["X-Request-Id"]}}},
        None,
    ),
    "lua-set": ({"modifier/lua-backend": {"pre": LUA_SET}}, "from-lua"),
    "lua-read": (
        {"modifier/lua-backend": {"pre": "local r = request.load(); r:headers('X-Seen', r:headers('X-Request-Id'))"}},
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(MODIFIED))
async def test_one_id_on_the_wire_whatever_sits_between(
    case: str,
    client_kind: str,
    served: Callable[..., Awaitable[Served]],
    echo: Callable[[], Awaitable[tuple[str, Echoed]]],
) -> None:
    host, seen = await echo()
    extra, expected = MODIFIED[case]
    backend = {"host": [host], "url_pattern": "/data", "extra_config": extra}
    s = await served(doc([{"endpoint": "/p1", "backend": [backend]}]))
    answered = []
    for _ in range(3):
        response = await s.client.get("/p1")
        assert response.status == 200
        answered.append(response.headers["X-Request-Id"])
    assert len(seen) == 3
    for rid, headers in zip(answered, seen, strict=True):
        ids = _ids(headers)
        if expected is None:
            assert ids == [], headers
        else:
            assert ids == [expected or rid], headers
        if case == "lua-read":  # a layer between still reads the id in the map
            assert ("X-Seen", rid) in headers, headers
        if case == "plain":
            assert _names(headers)[-2:] == ["X-Request-Id", "Accept-Encoding"], headers


async def test_a_forwarded_client_id_keeps_its_place(
    client_kind: str, served: Callable[..., Awaitable[Served]], echo: Callable[[], Awaitable[tuple[str, Echoed]]]
) -> None:
    host, seen = await echo()
    backend = {"host": [host], "url_pattern": "/data"}
    endpoint = {"endpoint": "/p1", "input_headers": ["X-Request-Id", "X-Z"], "backend": [backend]}
    s = await served(doc([endpoint]))
    for sent in ("client-id-1", "bad id"):
        response = await s.client.get("/p1", headers={"X-Request-Id": sent, "X-Z": "z"})
        assert response.status == 200
        rid = response.headers["X-Request-Id"]
        assert (rid == sent) is (sent == "client-id-1")
        headers = seen[-1]
        assert _ids(headers) == [rid], headers
        # where the request builder put the forwarded header (the map's order), as before
        assert _names(headers) == [
            "Host", "X-Request-Id", "X-Z", "X-Forwarded-For", "X-Forwarded-Host", "User-Agent", "Accept-Encoding"
        ], headers  # fmt: skip
