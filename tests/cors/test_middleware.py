"""The edge middleware: endpoint overrides, headers written before the handler's, bad input."""

from __future__ import annotations

import pytest

from krakenpy.cors import CorsPolicy, RouteMap, cors_middleware, parse_cors
from tests.cors.helpers import Recorder, cors_headers, handler, request

PREFLIGHT = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")]


def endpoint_routes() -> RouteMap[CorsPolicy]:
    routes: RouteMap[CorsPolicy] = RouteMap()
    routes.add("/private/{id}", "GET", CorsPolicy(parse_cors({"allow_origins": ["https://admin.example"]}, "e")))
    routes.add("/open", "POST", CorsPolicy(parse_cors({"allow_methods": ["POST"], "max_age": "1m"}, "e")))
    return routes


async def test_cors_endpoint_value_replaces_the_service_one_for_its_route() -> None:
    handle, _ = handler(parse_cors({"allow_origins": ["https://app.example"]}, "s"), endpoint_routes())
    own = await handle(request("OPTIONS", "/private/7", PREFLIGHT))
    assert "Access-Control-Allow-Origin" not in own.headers  # the endpoint allows only admin.example
    other = await handle(request("OPTIONS", "/elsewhere", PREFLIGHT))
    assert other.headers["Access-Control-Allow-Origin"] == "https://app.example"
    admin = await handle(request("GET", "/private/7", [("Origin", "https://admin.example")]))
    assert admin.headers["Access-Control-Allow-Origin"] == "https://admin.example"


async def test_cors_preflight_picks_the_endpoint_by_the_requested_method() -> None:
    handle, _ = handler(None, endpoint_routes())
    post = await handle(
        request("OPTIONS", "/open", [("Origin", "https://x"), ("Access-Control-Request-Method", "POST")])
    )
    assert (post.status, post.headers["Access-Control-Max-Age"]) == (204, "60")
    get = await handle(request("OPTIONS", "/open", [("Origin", "https://x"), ("Access-Control-Request-Method", "GET")]))
    # no endpoint value for GET /open and no service value: CORS stays out of it
    assert (get.status, cors_headers(get)) == (200, {})


async def test_cors_without_any_policy_for_the_path_passes_through() -> None:
    handle, nxt = handler(None, endpoint_routes())
    response = await handle(request("GET", "/nothing", [("Origin", "https://x")]))
    assert (response.status, cors_headers(response), len(nxt.calls)) == (200, {}, 1)


async def test_cors_headers_join_the_handlers_own() -> None:
    nxt = Recorder(404, [("Content-Type", "text/plain"), ("Vary", "Accept-Encoding")])
    handle = cors_middleware(CorsPolicy(parse_cors({}, "s")))(nxt)
    response = await handle(request("GET", "/unknown", [("Origin", "https://x")]))
    assert response.status == 404
    assert sorted(response.headers.getall("Vary")) == ["Accept-Encoding", "Origin"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "not a url",
        "https://exämple.com",
        "https://example.com\udcff",  # a byte that was not UTF-8, as aiohttp keeps it
        "https://" + "a" * 100_000 + ".example.com",
        ",,,",
    ],
)
async def test_cors_malformed_origins_are_refused_quietly(origin: str) -> None:
    handle, nxt = handler(parse_cors({"allow_origins": ["https://*.example.com"]}, "s"))
    response = await handle(request("OPTIONS", "/x", [("Origin", origin), ("Access-Control-Request-Method", "GET")]))
    allowed = origin.startswith("https://a")
    assert response.status == 204
    assert ("Access-Control-Allow-Origin" in response.headers) is allowed
    actual = await handle(request("GET", "/x", [("Origin", origin)]))
    assert (actual.status, actual.headers.getall("Vary")) == (200, ["Origin"])


@pytest.mark.parametrize(
    "requested",
    [
        "ünïcode",
        "content-type,\udcff",
        "content-type" + ",x" * 50_000,
        "\t\t\tcontent-type",
        ",".join(["content-type"] * 1000),
    ],
)
async def test_cors_malformed_request_headers_are_refused(requested: str) -> None:
    handle, _ = handler(parse_cors({"allow_headers": ["Content-Type"]}, "s"))
    response = await handle(request("OPTIONS", "/x", [*PREFLIGHT, ("Access-Control-Request-Headers", requested)]))
    assert cors_headers(response) == {"Vary": ["Origin, Access-Control-Request-Method, Access-Control-Request-Headers"]}
