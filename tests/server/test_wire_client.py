"""What clients get on the wire: the gateway's response heads read off a raw socket, per status path
and output encoding, compared with KrakenD's (docs/wire.md, "towards clients")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.server.wirekit import RawBackend, Start, get, raw_request, reply

#: what Go's server adds to every answer (Connection: close because the raw requests ask for it)
GO_BASE = {"date", "content-length", "connection"}
KRAKEND = {"x-krakend", "x-krakend-completed"}
#: krakenpy's one addition on every answer: the request id (telemetry/access_log; docs/wire.md)
REQUEST_ID = {"x-request-id"}


async def _gateway(raw_backend: Any, serve: Start, *endpoints: dict[str, Any], **service: Any) -> tuple[int, str]:
    backend: RawBackend = await raw_backend(
        lambda seen, port: reply(200, b'{"a":1,"b":{"c":"<x>"}}') if seen.target != "/down" else reply(503)
    )
    doc = {"version": 3, "endpoints": list(endpoints), **service}
    for endpoint in doc["endpoints"]:
        for b in endpoint["backend"]:
            b.setdefault("host", [backend.url])
    served = await serve(doc)
    return served.port, backend.url


def _ep(path: str, method: str = "GET", *urls: str, **extra: Any) -> dict[str, Any]:
    return {"endpoint": path, "method": method, "backend": [{"url_pattern": u} for u in urls or ("/up",)], **extra}


async def test_wire_client_200_json_header_set(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/e"))
    head = await raw_request(port, get("/e"))
    assert head.status == 200
    assert head.names() == REQUEST_ID | GO_BASE | KRAKEND | {"content-type"}
    assert head.get("Content-Type") == "application/json; charset=utf-8"
    assert head.get("X-Krakend-Completed") == "true"
    assert head.body == b'{"a":1,"b":{"c":"\\u003cx\\u003e"}}'
    assert head.get("Server") is None


@pytest.mark.parametrize(
    ("encoding", "content_type"),
    [
        ("json", "application/json; charset=utf-8"),
        ("xml", "application/xml"),
        ("yaml", "application/yaml; charset=utf-8"),
        ("negotiate", "application/json; charset=utf-8"),
    ],
)
async def test_wire_client_content_type_per_encoding(
    raw_backend: Any, serve: Start, encoding: str, content_type: str
) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/e", output_encoding=encoding))
    head = await raw_request(port, get("/e"))
    assert head.status == 200 and head.get("Content-Type") == content_type
    assert head.names() == REQUEST_ID | GO_BASE | KRAKEND | {"content-type"}


async def test_wire_client_negotiated_xml_is_krakend_xml(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/e", output_encoding="negotiate"))
    head = await raw_request(port, get("/e", "Accept: application/xml"))
    assert head.get("Content-Type") == "application/xml"
    assert head.body == b"<doc><a>1</a><b><c>&lt;x&gt;</c></b></doc>"


async def test_wire_client_partial_and_failed(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/partial", "GET", "/up", "/down"), _ep("/fail", "GET", "/down"))
    partial = await raw_request(port, get("/partial"))
    assert partial.status == 200 and partial.get("X-Krakend-Completed") == "false"
    assert partial.names() == REQUEST_ID | GO_BASE | KRAKEND | {"content-type"}
    failed = await raw_request(port, get("/fail"))
    assert failed.status == 500 and failed.body == b""
    assert failed.names() == REQUEST_ID | GO_BASE | KRAKEND
    assert failed.get("Content-Length") == "0"


async def test_wire_client_404_405_with_allow(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/e"), _ep("/e", "POST"))
    missing = await raw_request(port, get("/nope"))
    assert missing.status == 404 and missing.body == b"404 page not found"
    assert (
        missing.names() == REQUEST_ID | GO_BASE | KRAKEND | {"content-type"}
        and missing.get("Content-Type") == "text/plain"
    )
    wrong = await raw_request(port, get("/e", method="DELETE"))
    assert wrong.status == 405 and wrong.body == b"405 method not allowed"
    assert wrong.names() == REQUEST_ID | GO_BASE | KRAKEND | {"content-type", "allow"}
    assert wrong.get("Allow") == "GET, POST"
    head = await raw_request(port, get("/e", method="HEAD"))
    assert head.status == 405 and head.get("Allow") == "GET, POST"  # HEAD is never served for GET


async def test_wire_client_redirects_are_gos(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/users"), _ep("/users", "POST"))
    moved = await raw_request(port, get("/users/?x=1"))
    assert moved.status == 301 and moved.get("Location") == "/users?x=1"
    assert moved.names() == REQUEST_ID | GO_BASE | {"location", "content-type"}
    assert moved.get("Content-Type") == "text/html; charset=utf-8"
    assert moved.body == b'<a href="/users?x=1">Moved Permanently</a>.\n\n'
    temporary = await raw_request(port, get("/USERS", method="POST"))
    assert temporary.status == 307 and temporary.get("Location") == "/users" and temporary.body == b""
    assert temporary.names() == REQUEST_ID | GO_BASE | {"location"}
    head = await raw_request(port, get("/users/", method="HEAD"))
    assert head.status == 404  # gin: no HEAD tree, so no redirect, and no method has "/users/" itself


async def test_wire_client_redirect_escapes_like_go(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/a b/{x}"))
    moved = await raw_request(port, get("/a%20b/caf%C3%A9'/"))
    assert moved.status == 301
    assert moved.get("Location") == "/a%20b/caf%C3%A9%27"
    assert moved.body == b'<a href="/a%20b/caf%C3%A9%27">Moved Permanently</a>.\n\n'


async def test_wire_client_redirect_honours_x_forwarded_prefix(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/users"))
    moved = await raw_request(port, get("/users/", "X-Forwarded-Prefix: //api<x>/v1/"))
    assert moved.status == 301 and moved.get("Location") == "/apix/v1/users"


async def test_wire_client_health_wins_over_a_catch_all_endpoint(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/{resource}"), _ep("/{a}/{b}"), echo_endpoint=True)
    health = await raw_request(port, get("/__health"))
    assert health.status == 200 and b'"status":"ok"' in health.body
    assert health.names() == REQUEST_ID | GO_BASE | {"content-type"}  # no X-Krakend: not a lura endpoint
    echo = await raw_request(port, get("/__echo/x?y=1"))
    assert echo.status == 200 and b'"req_uri":"/__echo/x?y=1"' in echo.body
    assert (await raw_request(port, get("/other"))).body == b'{"a":1,"b":{"c":"\\u003cx\\u003e"}}'


async def test_wire_client_debug_wins_over_a_catch_all_endpoint(raw_backend: Any, serve: Start) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    doc = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/{a}/{b}", "method": "POST", "backend": [{"host": [backend.url], "url_pattern": "/"}]}
        ],
    }
    served = await serve(doc, debug=True)
    head = await raw_request(served.port, get("/__debug/x", method="POST", body=b"hi"))
    assert head.status == 200 and head.body == b'{"message":"pong"}'
    assert backend.seen == []


async def test_wire_client_static_route_of_one_method_does_not_hide_a_parameter_route(
    raw_backend: Any, serve: Start
) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/users/new", "POST"), _ep("/users/{id}"))
    assert (await raw_request(port, get("/users/new"))).status == 200  # gin: GET's tree has /users/{id}
    wrong = await raw_request(port, get("/users/new", method="PUT"))
    assert wrong.status == 405 and wrong.get("Allow") == "GET, POST"  # gin's tree order: /__health made GET first


async def test_wire_client_noop_passes_backend_server_header(raw_backend: Any, serve: Start) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply(201, b"raw", (("Server", "upstream/1"),)))
    doc = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/e",
                "output_encoding": "no-op",
                "backend": [{"host": [backend.url], "url_pattern": "/", "encoding": "no-op"}],
            }
        ],
    }
    served = await serve(doc)
    head = await raw_request(served.port, get("/e"))
    assert head.status == 201 and head.body == b"raw" and head.get("Server") == "upstream/1"


async def test_wire_client_malformed_request_is_gos_400(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/e"))
    head = await raw_request(port, b"GET /e HTTP/1.1\r\nHost: x\r\nBad Header <script>\r\n\r\n")
    assert head.status == 400 and head.body == b"400 Bad Request"  # nothing of the request echoed
    assert head.get("Content-Type") == "text/plain; charset=utf-8"  # then the connection closes
    assert head.get("Server") is None


async def test_wire_client_non_utf8_path_parameter_is_a_client_error(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/e/{id}"))
    head = await raw_request(port, get("/e/%ff"))
    assert head.status == 400 and head.body == b"error: encoded url params"


@pytest.mark.parametrize(("line", "status"), [(b"GET /e", 400), (b"GET /e HTTP/2.0", 505)])
async def test_wire_client_request_line_without_http1_version_is_refused_like_go(
    raw_backend: Any, serve: Start, line: bytes, status: int
) -> None:
    # Go: no version in the request line is a malformed request, HTTP/2.0 outside the h2 preface an
    # unsupported one; aiohttp's parser read them as HTTP/0.9 and 2.0 requests, answered as HTTP/1.0
    port, _ = await _gateway(raw_backend, serve, _ep("/e"))
    head = await raw_request(port, line + b"\r\nHost: x\r\n\r\n")
    assert head.status == status and head.body.startswith(str(status).encode())
    assert head.get("Content-Type") == "text/plain; charset=utf-8" and head.get("X-Krakend") is None


async def _raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("version", "status"),
    [
        # Go's ParseHTTPVersion reads any HTTP/d.d; its server serves major 1 (as 1.1) and answers 505
        # to another once the headers are read. aiohttp's C parser refused these lines (400)
        (b"HTTP/1.2", 200),
        (b"HTTP/1.9", 200),
        (b"HTTP/3.0", 505),
        (b"HTTP/2.1", 505),
        (b"HTTP/0.5", 505),
        (b"HTTP/9.9", 505),
        # and what Go refuses stays refused
        (b"HTTP/1.10", 400),
        (b"HTTP/1.x", 400),
        (b"HTTP/12.0", 400),
        (b"http/1.2", 400),
    ],
)
async def test_wire_client_request_line_versions_as_go_reads_them(
    raw_backend: Any, serve: Start, version: bytes, status: int
) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/e"))
    head = await raw_request(port, b"GET /e " + version + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.status == status
    if status == 200:
        assert head.body == b'{"a":1,"b":{"c":"\\u003cx\\u003e"}}'
    else:
        assert head.body.startswith(str(status).encode()) and head.get("X-Krakend") is None


async def test_wire_client_http_1_2_keeps_the_connection_as_1_1_does(raw_backend: Any, serve: Start) -> None:
    port, _ = await _gateway(raw_backend, serve, _ep("/e"))
    # two requests on one connection (the first kept alive, as HTTP/1.1), answered with HTTP/1.1 lines;
    # then a 505 for the third, after its headers were read
    first = b"GET /e HTTP/1.2\r\nHost: x\r\n\r\n"
    second = b"GET /e HTTP/1.5\r\nHost: x\r\n\r\n"
    third = b"GET /e HTTP/4.0\r\nHost: x\r\n\r\n"
    data = await _raw_exchange(port, first + second + third)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 2, data
    assert b"HTTP/1.1 505 " in data
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_wire_client_http_1_x_behind_a_pipelined_http_1_1_request(raw_backend: Any, serve: Start) -> None:
    """The C parser refuses the read at the second request line: the whole read is parsed again."""
    port, _ = await _gateway(raw_backend, serve, _ep("/e"))
    first = b"GET /e HTTP/1.1\r\nHost: x\r\n\r\n"
    second = b"GET /e HTTP/1.3\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = await _raw_exchange(port, first + second)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 2, data


async def test_wire_client_rendered_answer_names_as_krakend_spells_them(raw_backend: Any, serve: Start) -> None:
    """The rendered answer's own header names, byte for byte as KrakenD writes them (the handler keeps
    them as ``istr`` constants: their text is what goes out), and Cache-Control from ``cache_ttl``."""
    port, _ = await _gateway(raw_backend, serve, _ep("/cached", cache_ttl="60s"))
    head = await raw_request(port, get("/cached", "accept: application/json"))
    assert head.status == 200
    names = [name for name, _ in head.headers]
    for name in ("Content-Type", "X-Krakend", "X-Krakend-Completed", "Cache-Control"):
        assert names.count(name) == 1, names
    assert head.get("Cache-Control") == "public, max-age=60"
    assert head.get("X-Krakend-Completed") == "true"
