"""What backends get on the wire: exactly Go's ``net/http`` client's request, on both clients
(docs/wire.md, "towards backends")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.wirekit import RawBackend, Seen, Start, get, raw_request, reply

CLIENT = pytest.mark.parametrize("client", ["fast", "aiohttp"])
UA = b"KrakenPy Version "


def _config(url: str, **endpoint: Any) -> dict[str, Any]:
    backend = {"host": [url], "url_pattern": "/up", **endpoint.pop("backend", {})}
    return {"version": 3, "endpoints": [{"endpoint": "/e", "backend": [backend], **endpoint}]}


async def _one(raw_backend: Any, serve: Start, client: str, request: bytes, **endpoint: Any) -> tuple[Seen, Any]:
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    served = await serve(_config(backend.url, **endpoint), client=client)
    head = await raw_request(served.port, request)
    assert len(backend.seen) == 1, head
    head.backend_port = backend.port
    return backend.seen[0], head


@CLIENT
async def test_wire_backend_get_carries_only_gos_headers(raw_backend: Any, serve: Start, client: str) -> None:
    seen, head = await _one(raw_backend, serve, client, get("/e", "Accept: text/html", "X-Other: 1"))
    assert head.status == 200
    assert seen.method == "GET" and seen.target == "/up"
    names = sorted(n.lower() for n in seen.names())
    # Go's set, plus krakenpy's request id (telemetry/access_log forwards it; docs/wire.md)
    assert names == ["accept-encoding", "host", "user-agent", "x-forwarded-for", "x-forwarded-host", "x-request-id"]
    assert seen.get("Accept-Encoding") == b"gzip"
    assert (seen.get("User-Agent") or b"").startswith(UA)
    assert seen.get("X-Forwarded-Host") == b"gw.example"
    assert seen.get("X-Forwarded-For") == b"127.0.0.1"
    assert seen.get("Host") == f"127.0.0.1:{head.backend_port}".encode()


@CLIENT
async def test_wire_backend_accept_only_when_forwarded(raw_backend: Any, serve: Start, client: str) -> None:
    seen, _ = await _one(raw_backend, serve, client, get("/e", "Accept: text/html"), input_headers=["Accept"])
    assert seen.get("Accept") == b"text/html"


@CLIENT
async def test_wire_backend_bodiless_post_has_content_length_0_and_no_content_type(
    raw_backend: Any, serve: Start, client: str
) -> None:
    seen, _ = await _one(raw_backend, serve, client, get("/e", method="POST"), method="POST")
    assert seen.method == "POST"
    assert seen.get("Content-Length") == b"0"
    assert seen.get("Content-Type") is None


@CLIENT
async def test_wire_backend_bodiless_delete_has_no_content_length(raw_backend: Any, serve: Start, client: str) -> None:
    seen, _ = await _one(raw_backend, serve, client, get("/e", method="DELETE"), method="DELETE")
    assert seen.method == "DELETE"
    assert seen.get("Content-Length") is None and seen.get("Content-Type") is None


@CLIENT
async def test_wire_backend_post_body_and_its_type(raw_backend: Any, serve: Start, client: str) -> None:
    request = get("/e", "Content-Type: application/json", method="POST", body=b'{"a":1}')
    seen, _ = await _one(raw_backend, serve, client, request, method="POST")
    assert seen.body == b'{"a":1}'
    assert seen.get("Content-Length") == b"7" and seen.get("Content-Type") == b"application/json"
    assert sorted(n.lower() for n in seen.names()) == [
        "accept-encoding",
        "content-length",
        "content-type",
        "host",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-request-id",
    ]


@CLIENT
async def test_wire_backend_no_accept_encoding_with_disable_compression(
    raw_backend: Any, serve: Start, client: str
) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    doc = _config(backend.url)
    doc["disable_compression"] = True
    served = await serve(doc, client=client)
    assert (await raw_request(served.port, get("/e"))).status == 200
    assert backend.seen[0].get("Accept-Encoding") is None


@CLIENT
async def test_wire_backend_client_user_agent_kept_with_via(raw_backend: Any, serve: Start, client: str) -> None:
    seen, _ = await _one(raw_backend, serve, client, get("/e", "User-Agent: curl/8"), input_headers=["User-Agent"])
    assert seen.get("User-Agent") == b"curl/8"
    assert (seen.get("X-Forwarded-Via") or b"").startswith(UA)


@CLIENT
async def test_wire_backend_connection_named_headers_are_not_forwarded(
    raw_backend: Any, serve: Start, client: str
) -> None:
    request = get("/e", "X-Secret-Hop: 1", "X-Kept: 2").replace(
        b"Connection: close", b"Connection: close, X-Secret-Hop"
    )
    seen, _ = await _one(raw_backend, serve, client, request, input_headers=["*"])
    assert seen.get("X-Secret-Hop") is None and seen.get("Connection") is None
    assert seen.get("X-Kept") == b"2"


@CLIENT
async def test_wire_backend_query_bytes_pass_through(raw_backend: Any, serve: Start, client: str) -> None:
    seen, head = await _one(raw_backend, serve, client, get("/e?x=%ff%fe&y=caf%C3%A9"), input_query_strings=["*"])
    assert head.status == 200
    assert seen.target == "/up?x=%FF%FE&y=caf%C3%A9"


async def test_wire_backend_non_utf8_header_bytes_forwarded_as_is(raw_backend: Any, serve: Start) -> None:
    request = get("/e", "X-Name: caf\xe9").replace(b"Host: gw.example", b"Host: caf\xe9.example")
    seen, head = await _one(raw_backend, serve, "fast", request, input_headers=["*"])
    assert head.status == 200
    assert seen.get("X-Forwarded-Host") == b"caf\xe9.example"
    assert seen.get("X-Name") == b"caf\xe9"


async def test_wire_backend_non_utf8_header_bytes_replaced_on_the_aiohttp_client(
    raw_backend: Any, serve: Start
) -> None:
    request = get("/e", "X-Name: caf\xe9").replace(b"Host: gw.example", b"Host: caf\xe9.example")
    seen, head = await _one(raw_backend, serve, "aiohttp", request, input_headers=["*"])
    assert head.status == 200
    assert seen.get("X-Forwarded-Host") == "caf\ufffd.example".encode()
    assert seen.get("X-Name") == "caf\ufffd".encode()


@CLIENT
async def test_wire_backend_noop_header_names_differing_in_case_are_one_header(
    raw_backend: Any, serve: Start, client: str
) -> None:
    # Go canonicalises the names it reads: both cookies reach the client, under one canonical name
    cookies = (("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("x-custom-thing", "v"))
    backend: RawBackend = await raw_backend(lambda seen, port: reply(headers=cookies))
    served = await serve(_config(backend.url, output_encoding="no-op", backend={"encoding": "no-op"}), client=client)
    head = await raw_request(served.port, get("/e"))
    assert head.status == 200
    assert [v for k, v in head.headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert {k for k, _ in head.headers if k.lower() in ("set-cookie", "x-custom-thing")} == {
        "Set-Cookie",
        "X-Custom-Thing",
    }
