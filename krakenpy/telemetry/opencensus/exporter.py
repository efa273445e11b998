"""The export loop of one OpenCensus trace exporter: its own bounded span buffer, drained every
second (or as soon as ``wake_at`` spans wait, as OpenCensus' bundlers do), its records made spans
and translated to :class:`~krakenpy.telemetry.opencensus.spans.OcSpan`, handed to a sink in batches.

Requests only append to the buffer; a full buffer drops (and counts) new spans; a sink that fails
is logged at most once a minute, with the number of spans dropped meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

import aiohttp

from krakenpy.tasks import spawn
from krakenpy.telemetry.opencensus.spans import OcSpan
from krakenpy.telemetry.trace.spans import Span, SpanBuffer, span_of

__all__ = ["PREFIX", "Quiet", "SpanPump", "SpanSink"]

log = logging.getLogger("krakenpy.telemetry")
#: KrakenD's log prefix for this namespace
PREFIX: Final = "[SERVICE: Opencensus]"
INTERVAL: Final = 1.0
_QUIET: Final = 60.0
#: seconds the last flush may take at the stop: a collector that accepts and never answers held the
#: gateway's stop for the client's timeout (10 s) per batch: ~2 minutes with zipkin's full buffer
STOP_WAIT: Final = 2.0


class SpanSink(Protocol):
    """Where one exporter sends its batches."""

    name: str
    #: spans per call at most
    batch: int

    async def open(self) -> None: ...
    async def send(self, spans: list[OcSpan]) -> None: ...
    async def close(self) -> None: ...


class Quiet:
    """Log a failure at most once a minute (a collector that is down must not flood the log)."""

    def __init__(self) -> None:
        self._next = 0.0

    def report(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + _QUIET
            log.warning(PREFIX + " " + message, *args)


class SpanPump:
    """Owns one exporter's loop; :meth:`start` when serving, :meth:`stop` at shutdown."""

    def __init__(self, buffer: SpanBuffer, translate: Callable[[Span], OcSpan | None], sink: SpanSink) -> None:
        self.buffer = buffer
        self.translate = translate
        self.sink = sink
        self._wake = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self._quiet = Quiet()
        self._dropped_seen = 0
        #: spans handed to the sink (for tests and diagnostics)
        self.exported = 0

    async def start(self) -> None:
        await self.sink.open()
        self.buffer.on_full(self._wake.set)
        self._task = spawn(self._loop())

    async def stop(self) -> None:
        if self._task is None:
            return  # never started (``check``, or closed before serving): nothing was opened
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass
        self._task = None
        try:
            await asyncio.wait_for(self.flush(), STOP_WAIT)  # the last batches
        except TimeoutError:
            log.warning("%s %s: spans still waiting at the stop were dropped: no answer", PREFIX, self.sink.name)
        await self.sink.close()

    async def flush(self) -> None:
        """Send every span waiting now."""
        spans = [s for s in map(self.translate, map(span_of, self.buffer.drain())) if s is not None]
        size = max(self.sink.batch, 1)
        for i in range(0, len(spans), size):
            try:
                await self.sink.send(spans[i : i + size])
                self.exported += len(spans[i : i + size])
            except Exception as exc:  # a collector problem never reaches requests
                reason = str(exc) or type(exc).__name__
                if isinstance(exc, (OSError, TimeoutError, aiohttp.ClientConnectionError)):
                    # the collector is unreachable or does not answer: the flush's other batches would
                    # each wait for the same (a blackholed collector: the client's 10 s per batch, ~100 s
                    # a flush with zipkin's full buffer); dropped now, the next flush tries again
                    lost = len(spans) - i
                    self._quiet.report("%s export failed: %s; %d span(s) dropped", self.sink.name, reason, lost)
                    break
                self._quiet.report("%s export failed: %s", self.sink.name, reason)
        dropped = self.buffer.dropped
        if dropped > self._dropped_seen:
            self._quiet.report("%s: %d span(s) dropped so far: its buffer was full", self.sink.name, dropped)
            self._dropped_seen = dropped

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), INTERVAL)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()
