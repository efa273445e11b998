"""Backend decompression bombs (issue 10, item 5): inflation stops at the cap, memory follows the cap,
and other requests keep being served; on both upstream clients."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
from typing import Any

import pytest

from krakenpy.backends.inflate import gunzip
from krakenpy.errors import BackendError
from tests.hostile.bombs import MIB, gzip_zeros
from tests.server.wirekit import RawBackend, Seen, Start, get, raw_request, reply

CAP = 16 * MIB


def _answer(seen: Seen, port: int) -> bytes:
    if seen.target == "/bomb":
        return reply(200, gzip_zeros(1024 * MIB), (("Content-Encoding", "gzip"),))
    if seen.target == "/small":
        return reply(200, gzip.compress(b'{"small":true}'), (("Content-Encoding", "gzip"),))
    return reply(200, b'{"fine":true}')


def _doc(url: str, noop: bool = False) -> dict[str, Any]:
    encoding = {"output_encoding": "no-op"} if noop else {}
    backend_encoding = {"encoding": "no-op"} if noop else {}
    return {
        "version": 3,
        "endpoints": [
            {"endpoint": "/bomb", "backend": [{"host": [url], "url_pattern": "/bomb", **backend_encoding}], **encoding},
            {"endpoint": "/small", "backend": [{"host": [url], "url_pattern": "/small"}]},
            {"endpoint": "/fine", "backend": [{"host": [url], "url_pattern": "/fine"}]},
        ],
    }


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
@pytest.mark.parametrize("noop", [False, True])
async def test_backend_gzip_bomb_is_a_backend_error_and_others_are_served(
    raw_backend: Any, serve: Start, client: str, noop: bool
) -> None:
    backend: RawBackend = await raw_backend(_answer)
    gzip_zeros(1024 * MIB)  # made before the backend needs it
    served = await serve(_doc(backend.url, noop), client=client, max_body=CAP)
    bomb, fine = await asyncio.wait_for(
        asyncio.gather(raw_request(served.port, get("/bomb")), raw_request(served.port, get("/fine"))), 30
    )
    assert bomb.status == 500
    assert fine.status == 200 and fine.body == b'{"fine":true}'
    small = await raw_request(served.port, get("/small"))
    assert small.status == 200 and small.body == b'{"small":true}'


async def test_backend_gzip_memory_follows_the_cap() -> None:
    bomb = gzip_zeros(256 * MIB)
    tracemalloc.start()
    try:
        with pytest.raises(BackendError, match="too large"):
            await gunzip(bomb, 4 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MIB  # the 4 MiB cap and a slice or two, never the 256 MiB


async def test_backend_gzip_concatenated_members_and_truncation() -> None:
    assert await gunzip(gzip.compress(b"ab") + gzip.compress(b"cd"), 100) == b"abcd"
    with pytest.raises(BackendError, match="unexpected EOF"):
        await gunzip(gzip.compress(b"abcdef" * 100)[:-12], 10_000)
    with pytest.raises(BackendError, match="invalid gzip"):
        await gunzip(b"not gzip at all", 100)
    assert await gunzip(b"", 100) == b""
