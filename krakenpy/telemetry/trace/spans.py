"""Span records. A sampled request's layers append one tuple per span to a :class:`SpanBuffer`
(``(template, trace id, span id, parent id, start ns, end ns, status, message, *values)``: only
what varies per request; the layers' ids as bytes: the trace's protobuf head, ``TraceState.wire``,
and eight-byte span ids, which the writer copies as they are); the template, made once per layer at
start-up, writes the record as OTLP protobuf or OTLP/JSON text with its fixed parts already encoded,
or makes a :class:`Span` of it for the OpenCensus translator. :class:`Span` objects remain for the
cold paths (Lambda calls, tests)."""

from __future__ import annotations

import binascii
import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final

from krakenpy.telemetry.trace.context import TraceState, hop_span_id
from krakenpy.telemetry.trace.otlpproto import framed, span_proto
from krakenpy.telemetry.trace.otlptext import span_text

__all__ = [
    "CLIENT", "INTERNAL", "SERVER", "SPAN", "TAIL2", "Record", "Span", "SpanBases", "SpanBuffer", "SpanShape",
    "SpanTemplate", "hex_id", "hex_trace", "request_ids", "shape_for", "span_base", "span_of", "tee",
]  # fmt: skip

INTERNAL: Final = 1
SERVER: Final = 2
CLIENT: Final = 3
#: status codes (OTLP): unset, ok, error
UNSET, OK, ERROR = 0, 1, 2

_now = time.time_ns
_bits = random.getrandbits
_unhex: Final = binascii.unhexlify
#: the trace id's field head (Span field 1, 16 bytes) and the span id's (field 2, 8 bytes)
_IDS_HEAD: Final = b"\x0a\x10"
_SPAN_TAG: Final = b"\x12\x08"

#: ``(template, trace_id, span_id, parent_id, start_ns, end_ns, status, message, *values)``: the ids
#: as the layers record them (bytes: ``TraceState.wire``, eight-byte span ids) or as text (a
#: :class:`Span`'s, the tests'); :func:`hex_trace` and :func:`hex_id` give the text of either
Record = tuple[Any, ...]


#: the last two bytes of a sampled request's span ids by span number (its low 12 bits; the
#: SERVER span 0): a tuple read, as ``HEX3`` for the text ids
TAIL2: Final = tuple(n.to_bytes(2, "big") for n in range(4096))


class SpanBases:
    """The span-id heads of sampled requests as raw bytes: six bytes a request (a span's id is its
    head and ``TAIL2[n]``, eight bytes, which the protobuf writer copies as they are; as text, where
    one is needed, 12 hex digits, ``0`` and ``HEX3[n]``). Unique, not random, as before: three random
    bytes per process (their last bit set: never an all-zero id), a counter byte that starts at a
    random value and the two bytes of ``TAIL2[low]`` with a random top nibble (27 random bits and a
    random counter start, as the text ids had: two processes that draw the same three bytes do not
    hand out the same heads from their first request), handed out by a C-level iterator (one
    ``__next__`` a request); past 2^20 requests (the counter byte gone round) new random bits. A
    forked child draws its own (os.register_at_fork), so two workers never share a head."""

    def __init__(self) -> None:
        self._prefix = b""
        self._high = 0
        #: counter bytes left before new random bits
        self._left = 0
        #: ``TAIL2`` with this prefix's random top nibble
        self._tails: tuple[bytes, ...] = TAIL2
        self._next: Callable[[], bytes] = _spent_bytes
        self.drop()
        os.register_at_fork(after_in_child=self.drop)

    def take(self) -> bytes:
        """The next request's head (six bytes)."""
        try:
            return self._next()
        except StopIteration:
            return self._refill()

    def _refill(self) -> bytes:
        if self._left <= 0:
            self._prefix = (_bits(24) | 1).to_bytes(3, "big")
            nibble = _bits(4) << 12
            self._tails = tuple((n | nibble).to_bytes(2, "big") for n in range(4096))
            high = _bits(8)
            self._left = 256
        else:
            high = (self._high + 1) & 0xFF
        self._left -= 1
        self._high = high
        heads = map((self._prefix + bytes((high,))).__add__, self._tails)
        first: bytes = next(heads)
        self._next = heads.__next__
        return first

    def drop(self) -> None:
        """Forget the counter (the next :meth:`take` draws its random bits afresh)."""
        self._left = 0
        self._next = _spent_bytes


def _spent_bytes() -> bytes:
    raise StopIteration


#: The span-id head of one sampled request (six bytes, :class:`SpanBases`): one counter step per
#: request instead of one id per span; a span's id is the head and ``TAIL2[n]``.
span_base: Final[Callable[[], bytes]] = SpanBases().take


def hex_id(value: Any) -> Any:
    """A span id as text: the raw bytes the layers record as hex, anything else as it is (the cold
    paths' :class:`Span` objects and the tests' records carry text)."""
    if type(value) is bytes:
        raw: bytes = value
        return raw.hex()
    return value


def hex_trace(value: Any) -> Any:
    """A record's trace id as text: the layers record the protobuf head of the ids
    (:attr:`TraceState.wire`: tag, length, the 16 bytes, the span id's tag and length), anything else
    is as it is (a head of another length gives an id of another length, which the writers refuse)."""
    if type(value) is bytes:
        raw: bytes = value
        return raw[2:-2].hex()
    return value


def request_ids(trace: TraceState) -> bytes:
    """A sampled request's ids, made once: its span-id head (returned; :data:`span_base`), the
    protobuf head of its spans' ids on ``trace.wire`` (the trace id decoded once a request, where each
    span's writer decoded the hex ids again: ~1.5 k machine instructions a span, compiled) and the
    caller's span id as bytes on ``trace.parent_raw``. An id that is no hex text (no extractor lets
    one in) raises ``ValueError``, as the writer refused it. A new trace's were drawn with its id
    (:class:`~krakenpy.telemetry.trace.context.NewTraceIds`: ``wire`` set, the head on ``base``)."""
    head = trace.base
    if head:
        return head
    trace.wire = _IDS_HEAD + _unhex(trace.trace_id) + _SPAN_TAG
    parent = trace.parent_id
    if parent:
        trace.parent_raw = _unhex(parent)
    return span_base()


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
        span = cls(hex_trace(record[1]), hex_id(record[3]), name, kind, attributes, hex_id(record[2]), record[4])
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

    def framed(self, record: Record) -> bytes:
        """:meth:`proto`'s span with its ScopeSpans tag and length before it, as a batch holds it (the
        layers' templates write their usual spans so in one ``struct`` pack: the span's length is the
        pack's)."""
        return framed(self.proto(record))

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


#: the span id (raw bytes, as the exchange's) of the innermost open span of the running task when an
#: endpoint's backends may run concurrently (merges, ``concurrent_calls``) or a Lambda call names its
#: parent; a context variable, not a field of the shared exchange, because merged backends run in their own tasks
SPAN: ContextVar[bytes | None] = ContextVar("krakenpy_span", default=None)
