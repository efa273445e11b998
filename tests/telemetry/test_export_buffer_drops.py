"""A slow OTLP collector: while the exporter waits for it, the request path fills the bounded span
buffer and the spans past it are dropped and counted (``SpanBuffer.dropped``). The OTLP exporter
never said so (OpenCensus' did): traces went missing without a word. Now the next flush says how
many so far, at most once a minute, and the spans that fit still reach the collector."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from krakenpy.telemetry.export import BATCH, OtlpExporter, OtlpTarget
from krakenpy.telemetry.trace.spans import SpanBuffer
from tests.components.telemetry.otlp_receiver import Receiver
from tests.telemetry.test_review_trace2 import _server


async def test_spans_a_slow_collector_made_the_buffer_drop_are_said(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "krakenpy.telemetry")
    receiver = Receiver()
    answering = asyncio.Event()
    app = receiver.app()

    @web.middleware
    async def slow(request: web.Request, handler):  # type: ignore[no-untyped-def]
        await answering.wait()  # the collector holds the first post until the buffer overflowed
        return await handler(request)

    app.middlewares.append(slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    buffer = SpanBuffer(limit=2 * BATCH)
    exporter = OtlpExporter((OtlpTarget("r", "127.0.0.1", server.port, use_http=True),), buffer, None, {})
    try:
        await exporter.start()
        buffer._notify = None  # no wake-up: the explicit flushes alone
        for i in range(BATCH):
            buffer.add(_server(i + 1))
        posting = asyncio.ensure_future(exporter.flush())  # waits for the slow collector
        await asyncio.sleep(0.1)
        for i in range(3 * BATCH):  # the requests go on meanwhile: 2 * BATCH fit, BATCH dropped
            buffer.add(_server(BATCH + i + 1))
        answering.set()
        await posting
        await exporter.flush()
    finally:
        await exporter.stop()
        await server.close()
    assert buffer.dropped == BATCH
    sent = sum(len(s["spans"]) for doc in receiver.traces for r in doc["resourceSpans"] for s in r["scopeSpans"])
    assert sent == 3 * BATCH
    said = [r.getMessage() for r in caplog.records if "dropped so far" in r.getMessage()]
    assert said == [
        f"[SERVICE: OpenTelemetry] {BATCH} span(s) dropped so far: the export buffer ({2 * BATCH}) was full"
    ]
