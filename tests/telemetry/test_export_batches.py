"""The exporter's posts: woken at ``BATCH`` spans, the span loop posts whole batches only, the few
spans a request added meanwhile kept for the next post (they were posted alone, a second post per
wake); the timer and an explicit flush still send every span waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp.test_utils import TestServer

from krakenpy.telemetry.export import BATCH, OtlpExporter, OtlpTarget
from krakenpy.telemetry.trace.spans import SpanBuffer
from tests.components.telemetry.otlp_receiver import Receiver
from tests.telemetry.test_review_trace2 import _server


def _sizes(receiver: Receiver) -> list[int]:
    return [sum(len(s["spans"]) for r in doc["resourceSpans"] for s in r["scopeSpans"]) for doc in receiver.traces]


@asynccontextmanager
async def _exporting() -> AsyncIterator[tuple[Receiver, SpanBuffer, OtlpExporter]]:
    """A started exporter posting to a real OTLP receiver on loopback; stopped and closed after."""
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    buffer = SpanBuffer(limit=4 * BATCH)
    exporter = OtlpExporter((OtlpTarget("r", "127.0.0.1", server.port, use_http=True),), buffer, None, {})
    try:
        await exporter.start()
        yield receiver, buffer, exporter
    finally:
        await exporter.stop()
        await server.close()


async def test_export_a_wake_at_a_full_batch_posts_whole_batches() -> None:
    async with _exporting() as (receiver, buffer, exporter):
        await asyncio.sleep(0.1)  # the span loop waits (its timer restarted after a wake)
        for i in range(BATCH + 3):  # the wake-up at BATCH, and three more before the loop runs
            buffer.add(_server(i + 1))
        for _ in range(40):
            if receiver.traces:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # a second post, if one were sent, has arrived by now
        assert _sizes(receiver) == [BATCH]
        assert len(buffer.spans) == 3  # the rest waits for the next batch or the timer
        for _ in range(100):  # the timer's flush sends them (within 0.5 s)
            if len(receiver.traces) == 2:
                break
            await asyncio.sleep(0.02)
        assert _sizes(receiver) == [BATCH, 3] and not buffer.spans
        ids = {s["spanId"] for doc in receiver.traces for r in doc["resourceSpans"] for x in r["scopeSpans"]
               for s in x["spans"]}  # fmt: skip
        assert ids == {f"{i + 1:016x}" for i in range(BATCH + 3)}


async def test_export_flush_sends_every_span_waiting() -> None:
    async with _exporting() as (receiver, buffer, exporter):
        buffer._notify = None  # no wake-up: the explicit flush alone
        for i in range(2 * BATCH + 5):
            buffer.add(_server(i + 1))
        await exporter.flush()
        assert _sizes(receiver) == [BATCH, BATCH, 5] and not buffer.spans
        for i in range(BATCH + 7):
            buffer.add(_server(i + 1))
        await exporter.flush(whole=True)  # whole batches: the rest kept at the buffer's head
        assert _sizes(receiver)[3:] == [BATCH] and [r[2] for r in buffer.spans] == [
            f"{i + 1:016x}" for i in range(BATCH, BATCH + 7)
        ]


async def test_export_posts_leave_the_backends_kept_request_head_alone() -> None:
    """The exporter's client keeps its own request head (``FastClient(own_heads=True)``): its posts do
    not write over the pieces the gateway's backend requests share (``fastwire._HEADS``), which made
    the next two backend requests write their heads from nothing."""
    from krakenpy.backends import fastwire

    async with _exporting() as (receiver, buffer, exporter):
        buffer._notify = None
        pairs = [("X-A", "1"), ("X-Request-Id", "r1")]
        assert fastwire.request_head("GET", "/data", "h:1", pairs, None, False)
        assert fastwire.request_head("GET", "/data", "h:1", [pairs[0], ("X-Request-Id", "r2")], None, False)
        kept = (fastwire._HEADS.pairs, list(fastwire._HEADS.pieces), fastwire._HEADS.vary)
        for post in range(2):
            buffer.add(_server(post + 1))
            await exporter.flush()
        assert _sizes(receiver) == [1, 1]
        assert (fastwire._HEADS.pairs, fastwire._HEADS.pieces, fastwire._HEADS.vary) == kept
        assert kept[2] == [1]  # the request id still the one varying value
