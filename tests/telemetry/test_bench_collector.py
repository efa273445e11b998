"""The canned backend of ``bench.instructions`` (``bench/wire_micro.py``), which also takes the OTLP
exporter's posts in the traces rows: a POST's body is skipped by its Content-Length, never kept in the
buffer nor read as requests (a body held there was copied and searched again at each later read)."""

from __future__ import annotations

import asyncio

from bench import wire_micro


async def test_bench_backend_skips_a_post_body_across_reads() -> None:
    server, port = await wire_micro._backend()
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


async def test_bench_backend_keeps_no_body_once_read() -> None:
    seen: list[wire_micro._Backend] = []

    class Recorded(wire_micro._Backend):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            seen.append(self)
            super().connection_made(transport)

    server = await asyncio.get_running_loop().create_server(Recorded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
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
