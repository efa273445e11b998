"""Span records: a slots object per span, kept only for sampled requests, handed to a
:class:`SpanBuffer` when it ends; the exporter drains the buffer in batches."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

from krakenpy.telemetry.trace.context import new_span_id

__all__ = ["CLIENT", "INTERNAL", "SERVER", "SPAN", "Span", "SpanBuffer"]

INTERNAL: Final = 1
SERVER: Final = 2
CLIENT: Final = 3
#: status codes (OTLP): unset, ok, error
UNSET, OK, ERROR = 0, 1, 2

_now = time.time_ns


class Span:
    """One finished or running span. Built per span of a sampled request, so the fields most spans
    keep at their defaults (end, status, events) live on the class: ``__init__`` sets six."""

    end_ns: int = 0
    status: int = UNSET
    status_message: str = ""
    events: list[tuple[str, int, dict[str, Any]]] | None = None

    def __init__(self, trace_id: str, parent_id: str | None, name: str, kind: int, attributes: dict[str, Any]) -> None:
        self.trace_id = trace_id
        self.span_id = new_span_id()
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.start_ns = _now()

    def error(self, message: str) -> None:
        self.status = ERROR
        self.status_message = message

    def event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        if self.events is None:
            self.events = []
        self.events.append((name, _now(), attributes or {}))


class SpanBuffer:
    """Ended spans waiting for export; bounded (new spans are dropped and counted when full)."""

    __slots__ = ("_notify", "dropped", "limit", "spans", "wake_at")

    def __init__(self, limit: int = 2048, wake_at: int = 512) -> None:
        self.spans: list[Span] = []
        self.limit = limit
        self.wake_at = wake_at
        self.dropped = 0
        self._notify: Callable[[], None] | None = None

    def on_full(self, notify: Callable[[], None]) -> None:
        self._notify = notify

    def end(self, span: Span) -> None:
        """End ``span`` now and queue it."""
        span.end_ns = _now()
        self.add(span)  # not inline: the OpenCensus tee overrides add

    def add(self, span: Span) -> None:
        """Queue an ended span (dropped and counted when the buffer is full)."""
        spans = self.spans
        if len(spans) >= self.limit:
            self.dropped += 1
            return
        spans.append(span)
        if len(spans) == self.wake_at and self._notify is not None:
            self._notify()

    def drain(self) -> list[Span]:
        out = self.spans
        self.spans = []
        return out


#: the innermost open span of the running task (proxy → backend → client); a context variable,
#: not a field of the shared exchange, because merged backends run concurrently in their own tasks
SPAN: ContextVar[Span | None] = ContextVar("krakenpy_span", default=None)
