"""Span records. A sampled request's layers append one tuple per span to a :class:`SpanBuffer`
(``(template, trace id, span id, parent id, start ns, end ns, status, message, *values)``: only
what varies per request); the template, made once per layer at start-up, writes the record as
OTLP protobuf or OTLP/JSON text with its fixed parts already encoded, or makes a :class:`Span` of it for the
OpenCensus translator. :class:`Span` objects remain for the cold paths (Lambda calls, tests)."""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final

from krakenpy.telemetry.ids import HEX3, CounterIds
from krakenpy.telemetry.trace.context import hop_span_id
from krakenpy.telemetry.trace.otlpproto import span_proto
from krakenpy.telemetry.trace.otlptext import span_text

__all__ = [
    "CLIENT", "INTERNAL", "SERVER", "SPAN", "Record", "Span", "SpanBuffer", "SpanShape", "SpanTemplate", "shape_for",
    "span_base", "span_of", "tee",
]  # fmt: skip

INTERNAL: Final = 1
SERVER: Final = 2
CLIENT: Final = 3
#: status codes (OTLP): unset, ok, error
UNSET, OK, ERROR = 0, 1, 2

_now = time.time_ns
_bits = random.getrandbits

#: ``(template, trace_id, span_id, parent_id, start_ns, end_ns, status, message, *values)``
Record = tuple[Any, ...]


def _draw_bases() -> tuple[str, int]:
    return hex(_bits(28) | 1 << 28 | 1)[3:], _bits(24)


#: The span ids of one sampled request: 13 hex digits drawn once per request (27 random bits per
#: process, drawn again after a fork and when the 24-bit counter is spent) and the request's span
#: number in the last three (``HEX3[n]``): one counter step per request instead of one id per span.
_BASES = CounterIds(_draw_bases, lambda prefix, high: prefix + HEX3[high & 0xFFF], high_max=0xFFF)
span_base: Callable[[], str] = _BASES.next


class SpanShape:
    """The fixed attributes of one layer's spans (stage, route, method, the layer's ``static``), made
    once at start-up; ``encoded`` is their OTLP/JSON text and ``wire`` their protobuf, each written by
    the exporter on first use."""

    def __init__(self, attributes: Mapping[str, Any]) -> None:
        self.attributes = dict(attributes)
        self.encoded: str | None = None
        #: their OTLP protobuf (Span field-9 KeyValues), written by the exporter on first use
        self.wire: bytes | None = None


def shape_for(
    fixed: Mapping[str, Any], per_request: frozenset[str], prefixes: tuple[str, ...] = ()
) -> SpanShape | None:
    """A shape for ``fixed``, or ``None`` when one of its keys is also written per request (a
    ``static`` attribute named like one the layer sets): such a layer keeps every attribute on its
    spans, so the last write wins as before and no key is exported twice."""
    for key in fixed:
        if key in per_request or (prefixes and key.startswith(prefixes)):
            return None
    return SpanShape(fixed)


class Span:
    """One span as an object: what a template makes of a record for the OpenCensus translator, and
    what the cold paths build (a Lambda call; :meth:`record` turns it into a generic record).

    Span ids are unique, not random: a per-process random head and a counter (the unsampled hops'
    ids), ~1.4k machine instructions against ~2.8k for 64 fresh random bits (2026-12-01)."""

    end_ns: int = 0
    status: int = 0  # UNSET (a literal: mypyc cannot default an attribute to a module name)
    status_message: str = ""
    events: list[tuple[str, int, dict[str, Any]]] | None = None
    #: the layer's fixed attributes (not repeated in ``attributes``), or None
    static: SpanShape | None = None

    def __init__(
        self,
        trace_id: str,
        parent_id: str | None,
        name: str,
        kind: int,
        attributes: dict[str, Any],
        span_id: str | None = None,
        start_ns: int | None = None,
    ) -> None:
        self.trace_id = trace_id
        # ``is None``, not falsiness: a record's id and start time are kept as given (``made``)
        self.span_id = hop_span_id() if span_id is None else span_id
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.start_ns = _now() if start_ns is None else start_ns

    @classmethod
    def made(cls, record: Record, name: str, kind: int, attributes: dict[str, Any], static: SpanShape | None) -> Span:
        """The span a template's record stands for (its ids, times and status from the record)."""
        # the record's id and start given: no id drawn, no clock read (a class mypyc compiles has
        # no ``__new__`` to skip ``__init__`` with)
        span = cls(record[1], record[3], name, kind, attributes, record[2], record[4])
        span.end_ns, span.static = record[5], static
        if record[6]:
            span.status, span.status_message = record[6], record[7]
        return span

    def all_attributes(self) -> dict[str, Any]:
        """The fixed and per-request attributes together (a new dict when the span has a shape)."""
        shape = self.static
        return self.attributes if shape is None else {**shape.attributes, **self.attributes}

    def error(self, message: str) -> None:
        self.status = ERROR
        self.status_message = message

    def event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        if self.events is None:
            self.events = []
        self.events.append((name, _now(), attributes or {}))

    def record(self) -> Record:
        """This span as a record of the generic template (which writes every field)."""
        return (GENERIC, self.trace_id, self.span_id, self.parent_id, self.start_ns, self.end_ns, self.status,
                self.status_message, self)  # fmt: skip


class SpanTemplate(ABC):
    """How one layer's records are written: ``text`` (OTLP/JSON) and ``proto`` (OTLP protobuf), the
    fixed parts encoded once, and ``span`` (a :class:`Span` for the OpenCensus translator). Subclasses
    live with the encoder (:mod:`krakenpy.telemetry.trace.templates`); the layers only name them."""

    @abstractmethod
    def text(self, record: Record) -> str:
        """The record as one OTLP/JSON span object."""

    @abstractmethod
    def proto(self, record: Record) -> bytes:
        """The record as one encoded OTLP ``Span`` message (without its field tag and length)."""

    @abstractmethod
    def span(self, record: Record) -> Span:
        """The record as a :class:`Span` (for the OpenCensus translator)."""


class _Generic(SpanTemplate):
    """A record that carries its :class:`Span` (its last value): written field by field."""

    def text(self, record: Record) -> str:
        return span_text(record[8])

    def proto(self, record: Record) -> bytes:
        return span_proto(record[8])

    def span(self, record: Record) -> Span:
        span: Span = record[8]
        return span


GENERIC: Final = _Generic()


def span_of(record: Record) -> Span:
    """The :class:`Span` a record stands for."""
    template: SpanTemplate = record[0]
    return template.span(record)


class SpanBuffer:
    """Ended span records waiting for export; bounded (new ones are dropped and counted when full)."""

    def __init__(self, limit: int = 2048, wake_at: int = 512, targets: list[SpanBuffer] | None = None) -> None:
        self.spans: list[Record] = []
        self.limit = limit
        self.wake_at = wake_at
        self.dropped = 0
        self._notify: Callable[[], None] | None = None
        #: a tee (:func:`tee`): every record goes to each of these buffers, none is kept here
        self.targets = targets

    def on_full(self, notify: Callable[[], None]) -> None:
        self._notify = notify

    def end(self, span: Span) -> None:
        """End ``span`` now and queue it (the cold paths' spans)."""
        span.end_ns = _now()
        self.add(span.record())

    def add(self, record: Record) -> None:
        """Queue an ended span's record (dropped and counted when the buffer is full)."""
        spans = self.spans
        if len(spans) >= self.limit:
            targets = self.targets
            if targets is None:
                self.dropped += 1
                return
            for target in targets:  # a tee's limit is 0: its records take this branch
                target.add(record)
            return
        spans.append(record)
        if len(spans) == self.wake_at and self._notify is not None:
            self._notify()

    def drain(self) -> list[Record]:
        out = self.spans
        self.spans = []
        return out


def tee(targets: list[SpanBuffer]) -> SpanBuffer:
    """The tracer's buffer when several exporters read the same spans: each gets every span in its own
    buffer (with its own bound), so one slow exporter never starves another. (One class with a list of
    targets, not a subclass: mypyc compiles this module, and its classes take no Python subclasses.)"""
    return SpanBuffer(limit=0, targets=targets)


#: the span id of the innermost open span of the running task when an endpoint's backends may run
#: concurrently (merges, ``concurrent_calls``) or a Lambda call names its parent; a context variable,
#: not a field of the shared exchange, because merged backends run in their own tasks
SPAN: ContextVar[str | None] = ContextVar("krakenpy_span", default=None)
