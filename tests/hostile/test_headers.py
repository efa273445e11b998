"""Hostile header bytes (issue 10, item 4): bytes that are not UTF-8 are client input, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.wirekit import RawBackend, Start, get, raw_request, reply


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
@pytest.mark.parametrize("forward", [["Content-Type"], ["*"]])
async def test_headers_non_utf8_host_and_values_are_served(
    raw_backend: Any, serve: Start, client: str, forward: list[str]
) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply())
    doc = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/e", "input_headers": forward, "backend": [{"host": [backend.url], "url_pattern": "/"}]}
        ],
    }
    served = await serve(doc, client=client)
    request = get("/e", "X-Bin: \xff\xfe\xe9", "User-Agent: b\xe9t").replace(
        b"Host: gw.example", b"Host: caf\xe9.example"
    )
    head = await raw_request(served.port, request)
    assert head.status == 200
    assert len(backend.seen) == 1


async def test_headers_non_utf8_reach_echo_and_lambda_shaped_json(serve: Start) -> None:
    doc = {"version": 3, "echo_endpoint": True, "endpoints": []}
    served = await serve(doc)
    head = await raw_request(served.port, get("/__echo/x?q=%ff", "X-Bin: caf\xe9"))
    assert head.status == 200
    assert '"X-Bin":["caf\ufffd"]'.encode() in head.body  # Go's JSON: invalid UTF-8 as U+FFFD
