"""A collector that answers with an endless body: the exporters read a bounded start of it and go on
(they read all of it before: the batch waited for the client's total timeout, the body in memory)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from krakenpy.telemetry.auditsink import HttpSink
from krakenpy.telemetry.export import OtlpExporter, OtlpTarget
from krakenpy.telemetry.opencensus.settings import ZipkinOptions
from krakenpy.telemetry.opencensus.zipkin import ZipkinSink
from krakenpy.telemetry.trace.spans import SpanBuffer, SpanShape
from krakenpy.telemetry.trace.templates import CallTemplate


class Endless:
    """Answers every POST with ``status`` and a body that does not end (1 MiB chunks until the
    client goes or :data:`LIMIT` bytes, the test's bound: read whole, as before, in well under 3 s)."""

    LIMIT = 128 * 1024 * 1024
    #: what the server writes before a client that stopped reading is gone: the sockets' buffers
    BUFFERED = 16 * 1024 * 1024

    def __init__(self, status: int) -> None:
        self.status = status
        self.posts = 0
        self.sent = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.posts += 1
        response = web.StreamResponse(status=self.status)
        await response.prepare(request)
        chunk = b"x" * (1 << 20)
        try:
            while self.sent < self.LIMIT:
                await response.write(chunk)
                self.sent += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client closed: what the exporter should do
        return response


@pytest.fixture
async def endless() -> AsyncIterator[tuple[Endless, int]]:
    collector = Endless(200)
    app = web.Application()
    app.router.add_post("/{tail:.*}", collector.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield collector, server.port
    finally:
        await server.close()


async def test_the_audit_sink_takes_a_200_with_an_endless_body_as_delivered(endless: tuple[Endless, int]) -> None:
    collector, port = endless
    sink = HttpSink(f"http://127.0.0.1:{port}/", timeout=5)
    try:
        await asyncio.wait_for(sink.write([b'{"seq":1}\n']), 3)
        await asyncio.wait_for(sink.write([b'{"seq":2}\n']), 3)  # the next batch on a new connection
    finally:
        await sink.close()
    assert collector.posts == 2
    assert collector.sent < 2 * Endless.BUFFERED  # not read on


async def test_a_zipkin_collector_with_an_endless_body_does_not_hold_the_batch(endless: tuple[Endless, int]) -> None:
    collector, port = endless
    sink = ZipkinSink(ZipkinOptions(collector_url=f"http://127.0.0.1:{port}/api/v2/spans"))
    await sink.open()
    try:
        await asyncio.wait_for(sink.send([]), 3)
    finally:
        await sink.close()
    assert collector.posts == 1 and collector.sent < Endless.BUFFERED


async def test_an_otlp_collector_with_an_endless_body_fails_the_export_early(
    endless: tuple[Endless, int], caplog: pytest.LogCaptureFixture
) -> None:
    """The OTLP exporter's client reads answers whole: bounded to 64 KiB (a collector's export
    response is a few bytes), not the backends' 64 MiB."""
    collector, port = endless
    buffer = SpanBuffer()
    exporter = OtlpExporter((OtlpTarget("c", "127.0.0.1", port, use_http=True),), buffer, None, {"service.name": "gw"})
    await exporter.start()
    proxy = CallTemplate("/a", SpanShape({"krakend.stage": "proxy"}), {})
    try:
        buffer.add((proxy, "0af7651916cd43dd8448eb211c80319c", "00000000000000a2", None, 1, 2, 0, "", False, True, 200))
        await asyncio.wait_for(exporter.flush(), 3)
    finally:
        await exporter.stop()
    assert collector.posts == 1 and collector.sent < Endless.BUFFERED
    assert any("too large" in r.getMessage() for r in caplog.records)  # reported, not taken as delivered
