"""The request id on the wire to the backends, byte for byte: the fast client's head kept in pieces
around the values that vary (``fastwire.request_head``) writes what a head built from nothing writes,
for generated ids, a client's id, a header a modifier sets beside the id, and two backends."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from krakenpy import __version__
from krakenpy.backends import fastwire
from tests.components.telemetry.conftest import Served, doc

_ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


class _Recorder(asyncio.Protocol):
    """One backend connection: keeps each request head it reads (GETs: no body) and answers it."""

    def __init__(self, heads: list[bytes]) -> None:
        self.heads = heads
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.heads.append(self.buffer[: end + 4])
            self.buffer = self.buffer[end + 4 :]
            assert self.transport is not None
            self.transport.write(_ANSWER)


@pytest.fixture
async def raw_backend() -> AsyncIterator[Callable[[], Awaitable[tuple[str, list[bytes]]]]]:
    """A backend on 127.0.0.1 that keeps every request head it read, as bytes, and answers a small JSON."""
    servers: list[asyncio.Server] = []

    async def start() -> tuple[str, list[bytes]]:
        heads: list[bytes] = []
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Recorder(heads), "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", heads

    yield start
    for server in servers:
        server.close()


def _expected(host: str, rid: str, *, extra: str = "", path: str = "/data") -> bytes:
    """The head Go's client (and krakenpy's, built from nothing) writes for the gateway's request."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host.removeprefix('http://')}\r\n"
        f"X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Host: {{fwd_host}}\r\n"
        f"User-Agent: KrakenPy Version {__version__}\r\n{extra}X-Request-Id: {rid}\r\nAccept-Encoding: gzip\r\n\r\n"
    ).encode()


def _with_host(expected: bytes, head: bytes) -> bytes:
    """``expected`` with the X-Forwarded-Host the test client sent (its port is the test server's)."""
    found = re.search(rb"X-Forwarded-Host: ([^\r]*)\r\n", head)
    assert found is not None, head
    return expected.replace(b"{fwd_host}", found[1])


async def test_generated_ids_each_written_into_the_backend_head(
    served: Callable[..., Awaitable[Served]], raw_backend: Callable[[], Awaitable[tuple[str, list[bytes]]]]
) -> None:
    host, heads = await raw_backend()
    s = await served(doc([{"endpoint": "/p1", "backend": [{"host": [host], "url_pattern": "/data"}]}]))
    # the last head is the process's: a test before this one that sent the same header names with
    # another value at some index left that index varying (harmless: a varying value is always written
    # from the request's own list), so the indexes checked below count from a head written from nothing
    fastwire._HEADS.reset()
    ids = []
    for _ in range(6):  # the first head written from nothing, the second finds the id varying, then pieces
        response = await s.client.get("/p1")
        assert response.status == 200
        ids.append(response.headers["X-Request-Id"])
    assert len(set(ids)) == 6 and all(_UUID.fullmatch(i.encode()) for i in ids)
    assert fastwire._HEADS.vary == [3]  # the later heads were the pieces around the id (its index)
    assert heads == [_with_host(_expected(host, rid), head) for rid, head in zip(ids, heads, strict=True)]


async def test_a_client_id_then_generated_ones_then_a_refused_one(
    served: Callable[..., Awaitable[Served]], raw_backend: Callable[[], Awaitable[tuple[str, list[bytes]]]]
) -> None:
    host, heads = await raw_backend()
    s = await served(doc([{"endpoint": "/p1", "backend": [{"host": [host], "url_pattern": "/data"}]}]))
    sent = ["client-id-1", None, "client-id-2", None, "bad id with spaces", "client-id-3"]
    answered = []
    for rid in sent:
        response = await s.client.get("/p1", headers={"X-Request-Id": rid} if rid else {})
        assert response.status == 200
        answered.append(response.headers["X-Request-Id"])
    assert [a for a, r in zip(answered, sent, strict=True) if r and " " not in r] == [
        "client-id-1",
        "client-id-2",
        "client-id-3",
    ]
    assert _UUID.fullmatch(answered[4].encode())  # an invalid id is replaced by a generated one
    assert heads == [_with_host(_expected(host, rid), head) for rid, head in zip(answered, heads, strict=True)]


async def test_a_header_set_by_a_martian_modifier_beside_the_id(
    served: Callable[..., Awaitable[Served]], raw_backend: Callable[[], Awaitable[tuple[str, list[bytes]]]]
) -> None:
    host, heads = await raw_backend()
    modifier: dict[str, Any] = {"header.Modifier": {"scope": ["request"], "name": "X-Set-By-Martian", "value": "one"}}
    backend = {"host": [host], "url_pattern": "/data", "extra_config": {"modifier/martian": modifier}}
    s = await served(doc([{"endpoint": "/p1", "backend": [backend]}]))
    ids = []
    for _ in range(4):
        response = await s.client.get("/p1")
        assert response.status == 200
        ids.append(response.headers["X-Request-Id"])
    assert len(heads) == 4
    for rid, head in zip(ids, heads, strict=True):
        assert f"X-Request-Id: {rid}\r\n".encode() in head and b"X-Set-By-Martian: one\r\n" in head, head
        assert head.count(b"\r\n") == 9 and head.endswith(b"\r\n\r\n")
    # beside the id, the rest of each head the same bytes
    assert len({head.replace(rid.encode(), b"ID") for rid, head in zip(ids, heads, strict=True)}) == 1


async def test_two_backends_get_the_same_id_each_in_its_own_head(
    served: Callable[..., Awaitable[Served]], raw_backend: Callable[[], Awaitable[tuple[str, list[bytes]]]]
) -> None:
    host, heads = await raw_backend()
    backends = [
        {"host": [host], "url_pattern": "/data", "group": "a"},
        {"host": [host], "url_pattern": "/other", "group": "b"},
    ]
    s = await served(doc([{"endpoint": "/p2", "backend": backends}]))
    ids = []
    for _ in range(4):
        response = await s.client.get("/p2")
        assert response.status == 200
        ids.append(response.headers["X-Request-Id"])
    assert len(heads) == 8
    by_id: dict[str, list[bytes]] = {}
    for head in heads:
        found = re.search(rb"X-Request-Id: ([^\r]*)\r\n", head)
        assert found is not None
        by_id.setdefault(found[1].decode(), []).append(head)
    assert sorted(by_id) == sorted(ids)
    for rid, pair in by_id.items():
        assert sorted(pair) == sorted(
            _with_host(_expected(host, rid, path=path), pair[0]) for path in ("/data", "/other")
        ), pair
