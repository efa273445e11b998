"""Hostile request bodies (issue 10, item 1): compressed bodies are forwarded as bytes, never inflated
by the gateway; an oversized body is a 413 that closes the connection, and other requests go on."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.hostile.bombs import MIB, gzip_zeros
from tests.server.wirekit import RawBackend, Start, get, raw_request, reply


def _doc(url: str, **endpoint: Any) -> dict[str, Any]:
    return {
        "version": 3,
        "endpoints": [
            {"endpoint": "/in", "method": "POST", "backend": [{"host": [url], "url_pattern": "/in"}], **endpoint},
            {"endpoint": "/ping", "backend": [{"host": [url], "url_pattern": "/ping"}]},
        ],
    }


async def test_request_gzip_bomb_is_forwarded_as_bytes(raw_backend: Any, serve: Start) -> None:
    bomb = gzip_zeros(1024 * MIB)  # ~1 MiB that inflates to 1 GiB
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url, input_headers=["*"]))
    request = get("/in", "Content-Encoding: gzip", "Content-Type: application/json", method="POST", body=bomb)
    head = await raw_request(served.port, request)
    assert head.status == 200
    (seen,) = backend.seen
    assert seen.body == bomb  # what KrakenD does: the bytes, unread
    assert seen.get("Content-Encoding") == b"gzip" and seen.get("Content-Length") == str(len(bomb)).encode()


async def test_request_gzip_body_without_forwarded_encoding_is_still_bytes(raw_backend: Any, serve: Start) -> None:
    body = gzip_zeros(8 * MIB)
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    head = await raw_request(served.port, get("/in", "Content-Encoding: gzip", method="POST", body=body))
    assert head.status == 200
    assert backend.seen[0].body == body and backend.seen[0].get("Content-Encoding") is None


async def test_request_body_that_is_not_gzip_is_not_an_error(raw_backend: Any, serve: Start) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url, input_headers=["*"]))
    head = await raw_request(served.port, get("/in", "Content-Encoding: gzip", method="POST", body=b"not gzip"))
    assert head.status == 200 and backend.seen[0].body == b"not gzip"


async def test_request_oversized_body_is_413_and_closes_while_others_are_served(raw_backend: Any, serve: Start) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        # chunked, so only reading tells the size: the gateway reads 10 MiB, then answers
        writer.write(b"POST /in HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % MIB + bytes(MIB) + b"\r\n"
        for _ in range(11):
            writer.write(chunk)
        await writer.drain()
        other = await raw_request(served.port, get("/ping"))
        assert other.status == 200
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"Connection: close" in answer
        # keep sending: the gateway drains without decoding, then closes the connection
        for _ in range(4):
            writer.write(chunk)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(-1), 20)
        assert b"HTTP/1.1" not in rest  # nothing after the 413: the connection ended
    finally:
        writer.close()
    assert [s.target for s in backend.seen] == ["/ping"]


async def test_request_declared_oversized_body_is_413_at_once(raw_backend: Any, serve: Start) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    request = b"POST /in HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n" % (11 * MIB)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(request + bytes(MIB))
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert answer.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in answer
    finally:
        writer.close()
    assert backend.seen == []
