"""The canned backend of ``bench.instructions`` (``bench/wire_micro.py``) and its sink, which takes the
OTLP exporter's posts in the traces rows: a POST's body is skipped by its Content-Length, never kept in
the buffer nor read as requests (a body held there was copied and searched again at each later read)."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import pytest

from bench import wire_micro


@pytest.mark.parametrize("make", [wire_micro._backend, wire_micro._sink], ids=["backend", "sink"])
async def test_bench_backend_skips_a_post_body_across_reads(make: object) -> None:
    server, port = await make()  # type: ignore[operator]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        # a body that looks like requests (blank lines) and arrives in two reads
        body = b"x\r\n\r\n" * 3000
        writer.write(b"POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:4000])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(body[4000:] + b"GET /p1 HTTP/1.1\r\nHost: a\r\n\r\n")
        await writer.drain()
        for _ in range(2):  # the POST's answer and the GET's
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            await reader.readexactly(len(wire_micro._BODY))
        await asyncio.sleep(0.05)
        # nothing more: the body's blank lines were not answered as requests
        assert reader._buffer == b""  # type: ignore[attr-defined]
        writer.write(b"POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        await writer.drain()
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        await reader.readexactly(len(wire_micro._BODY))
        await asyncio.sleep(0.05)
        assert reader._buffer == b""  # type: ignore[attr-defined]
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


_P = TypeVar("_P", wire_micro._Backend, wire_micro._Sink)


async def _recorded(
    protocol: type[_P],
) -> tuple[asyncio.Server, list[_P], asyncio.StreamReader, asyncio.StreamWriter]:
    """A server of ``protocol`` whose connections' protocols are kept (to read their state), and a
    client connected to it."""
    seen: list[_P] = []

    def made() -> _P:
        kept = protocol()
        seen.append(kept)
        return kept

    server = await asyncio.get_running_loop().create_server(made, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    return server, seen, reader, writer


async def test_bench_backend_keeps_no_body_once_read() -> None:
    server, seen, reader, writer = await _recorded(wire_micro._Backend)
    try:
        body = b"{}" * 5000
        writer.write(b"POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        await reader.readexactly(len(wire_micro._BODY))
        await asyncio.sleep(0.05)
        assert seen and seen[0].buffer == b"" and seen[0].skip == 0
        # a whole body and the next request in one read: both answered, the body's text never
        post = b"POST /v1/traces HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + b"\r\n" * 5
        writer.write(post + b"GET /p1 HTTP/1.1\r\n\r\nGET")
        await writer.drain()
        for _ in range(2):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            await reader.readexactly(len(wire_micro._BODY))
        await asyncio.sleep(0.05)
        assert reader._buffer == b"" and seen[0].buffer == b"GET" and seen[0].skip == 0  # type: ignore[attr-defined]
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


async def test_bench_sink_answers_heads_split_across_reads_and_keeps_nothing() -> None:
    server, seen, reader, writer = await _recorded(wire_micro._Sink)

    async def answered(count: int) -> None:
        for _ in range(count):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            await reader.readexactly(len(wire_micro._BODY))
        await asyncio.sleep(0.05)
        assert reader._buffer == b""  # type: ignore[attr-defined]

    try:
        # a head in three reads, then its body (blank lines in it) and the next head in one
        post = b"POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
        for part in (post[:10], post[10:-2]):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(post[-2:] + b"\r\n" * 5 + b"GET /p1 HTTP/1.1\r\n\r\nGE")
        await writer.drain()
        await answered(2)
        assert seen[0].fill == 2 and bytes(seen[0].buffer[:2]) == b"GE" and seen[0].skip == 0
        writer.write(b"T /p1 HTTP/1.1\r\n\r\n")
        await writer.drain()
        await answered(1)
        # a body larger than the buffer, whole in one write: skipped over several reads
        body = b"\r\n\r\n" * 50_000
        writer.write(b"POST /v1/traces HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        await answered(1)
        assert seen[0].fill == 0 and seen[0].skip == 0 and len(seen) == 1
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("make", [wire_micro._backend, wire_micro._sink], ids=["backend", "sink"])
async def test_bench_backend_answers_a_head_larger_than_its_buffer_and_outlives_a_cut_body(make: object) -> None:
    """A head longer than the sink's 64 KiB buffer (whole in one write, then in pieces) is answered,
    as the request behind it; a connection closed in the middle of a body leaves the server answering
    the next one: the bench run neither hangs on the first nor loses its target to the second."""
    server, port = await make()  # type: ignore[operator]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def answered(count: int) -> None:
        for _ in range(count):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            await asyncio.wait_for(reader.readexactly(len(wire_micro._BODY)), 5)

    try:
        post = b"POST /v1/traces HTTP/1.1\r\nX-Pad: %s\r\nContent-Length: 5\r\n\r\nhello"
        writer.write(post % (b"a" * 200_000) + b"GET /p1 HTTP/1.1\r\n\r\n")
        await writer.drain()
        await answered(2)
        big = post % (b"b" * 150_000)
        for k in range(0, len(big), 40_000):  # the head in several reads, each short of its end
            writer.write(big[k : k + 40_000])
            await writer.drain()
            await asyncio.sleep(0.02)
        await answered(1)
        _, cut_writer = await asyncio.open_connection("127.0.0.1", port)
        cut_writer.write(b"POST /v1/traces HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        await cut_writer.drain()
        cut_writer.close()
        await asyncio.sleep(0.05)
        writer.write(b"GET /p1 HTTP/1.1\r\n\r\n")
        await writer.drain()
        await answered(1)
        await asyncio.sleep(0.05)
        assert reader._buffer == b""  # type: ignore[attr-defined]
    finally:
        writer.close()
        server.close()
        await server.wait_closed()
