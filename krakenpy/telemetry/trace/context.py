"""Trace context: ids, ``traceparent`` (W3C) and B3 headers, ``OTEL_PROPAGATORS``, and KrakenD's
sampling rule (``0 < rate < 1``: parent-based trace-id ratio; any other rate: always sample, even
when the caller said ``sampled=0``)."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from multidict import istr

from krakenpy.telemetry.ids import HEX3, CounterIds
from krakenpy.telemetry.trace.sampler import Sampler

__all__ = [
    "PROPAGATORS",
    "NewTraceIds",
    "TRACESTATE_LEN",
    "RandomIds",
    "Sampler",
    "TraceState",
    "compile_extract",
    "compile_inject",
    "extract",
    "inject",
    "hop_span_id",
    "new_span_id",
    "new_trace_id",
    "none_beside",
    "propagator_fields",
    "propagators_from_env",
    "unknown_propagators",
    "valid_tracestate",
]

#: any ``traceparent`` otel-go's TraceContext (KrakenD) may take, used with ``fullmatch``: four
#: dash-separated fields of 2, 32, 16 and 2 lower-case hex digits, nothing before them (no space),
#: after them nothing or a dash and anything (a newline too: a future version's tail is never kept);
#: the rules per version are in :func:`_tracecontext`
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.DOTALL)
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_ZERO32: Final = "0" * 32
_ZERO16: Final = "0" * 16
PROPAGATORS: Final = ("tracecontext", "baggage", "b3", "b3multi")
#: ``OTEL_PROPAGATORS`` unset or empty (the specification's and otel-go's autoprop default)
DEFAULT_PROPAGATORS: Final = ("tracecontext", "baggage")

_bits = random.getrandbits
# header names as istr: a CIMultiDict lookup skips folding their case (~0.5k instructions each);
# to a plain dict's ``get`` they are the same strings
_TRACEPARENT_H: Final = istr("traceparent")
_B3_H: Final = istr("b3")
_B3_TRACE_H: Final = istr("X-B3-TraceId")
_B3_SPAN_H: Final = istr("X-B3-SpanId")
_B3_SAMPLED_H: Final = istr("X-B3-Sampled")
_B3_FLAGS_H: Final = istr("X-B3-Flags")
_B3_PARENT_H: Final = istr("X-B3-ParentSpanId")
_BAGGAGE_H: Final = istr("baggage")
_TRACESTATE_H: Final = istr("tracestate")


class RandomIds:
    """Random hex ids of ``digits`` digits drawn in bulk: one ``os.urandom`` of ``per_draw`` ids and
    one ``bytes.hex`` per draw, the ids sliced from that text at the draw and handed out by
    ``list.pop`` (no int per id; 128 random bits and their ``hex`` per id cost ~2.5k machine
    instructions, 2026-12-02; a ``map`` over the slices, its ``__next__`` calling ``str.__getitem__``
    per id, ~1.2 k compiled, round 15, ``trace9``). Never all zero: a draw whose text holds a run of
    zeros as long as an id is drawn again (a run across two ids too: a wasted draw, no harm). A forked
    child drops what its parent had drawn (os.register_at_fork), so two workers never share ids.

    :meth:`take` refills in its own frame when the list is empty, never from a generator: a
    generator (or ``itertools.chain`` over one) that raised once (an ``os.urandom`` error) is dead for
    good, and one entered from two threads raises "already executing" — every later id would fail.
    Here a failed draw falls back to ``random.randbytes`` for that draw, ``list.pop`` hands an id to
    one thread only, and two threads refilling at once each install a whole draw of their own."""

    def __init__(self, digits: int, per_draw: int) -> None:
        self._size = digits // 2 * per_draw
        self._digits = digits
        self._zeros = "0" * digits
        self._ids: list[str] = []
        os.register_at_fork(after_in_child=self.drop)

    def take(self) -> str:
        """The next id (a new draw every ``per_draw`` ids)."""
        try:
            return self._ids.pop()
        except IndexError:
            return self._refill()

    def _refill(self) -> str:
        while True:
            try:
                text = os.urandom(self._size).hex()
            except OSError:  # no entropy source for a moment (EMFILE on /dev/urandom's fallback...)
                text = random.randbytes(self._size).hex()
            if self._zeros not in text:
                break
        digits = self._digits
        ids = [text[at : at + digits] for at in range(0, len(text), digits)]
        first = ids.pop()
        self._ids = ids
        return first

    def drop(self) -> None:
        """Forget the ids drawn but not given (the next :meth:`take` draws afresh)."""
        self._ids = []


_TRACE_IDS = RandomIds(32, 128)
#: 32 random hex digits, never all zero (from a draw of 128 ids: 2 KiB of ``os.urandom``)
new_trace_id: Final[Callable[[], str]] = _TRACE_IDS.take


#: a new trace's record in a :class:`NewTraceIds` draw: the trace id's field head (Span field 1, 16
#: bytes), the 16 random bytes, the span id's tag and length (field 2, 8 bytes): ``TraceState.wire``;
#: then 6 random bytes, the request's span-id head (its span ids are the head and ``TAIL2[n]``)
_RECORD: Final = 26
_WIRE_END: Final = 20
_COLUMNS: Final = ((0, 0x0A), (1, 0x10), (18, 0x12), (19, 0x08))


class NewTraceIds:
    """A new trace's ids drawn in bulk for the edge's trace reader: per request its trace id as text,
    the protobuf head of its spans' ids (``TraceState.wire``) and its span-id head, three slices of one
    draw, where the hot path took a :class:`RandomIds` id, decoded it again (``unhexlify``) into the
    wire with two concatenations and stepped :class:`~krakenpy.telemetry.trace.spans.SpanBases`
    (~1.3 k machine instructions a request compiled, round 20, ``trace16``).

    A draw is ``per_draw`` records of :data:`_RECORD` bytes from one ``os.urandom`` (``random.randbytes``
    for a draw that fails), the four fixed bytes of each written over by four extended-slice
    assignments, and its text by one ``bytes.hex``. Every random byte is the source's: 16 for the trace
    id, 6 for the span-id head (random, as W3C advises, where ``SpanBases`` counted). A draw where a
    trace id or a head is all zero is drawn again (a run of 16 zero bytes lies inside a trace id: the
    fixed bytes are not zero; a head follows its tag). Records are handed out by ``list.pop`` of the
    draw's own index list (one thread each, as :class:`RandomIds`; the draw read once, so a thread that
    refills meanwhile never mixes two draws); a forked child drops its parent's draw
    (os.register_at_fork), so two workers never share ids."""

    def __init__(self, per_draw: int) -> None:
        self._per_draw = per_draw
        self._draw: tuple[list[int], bytes, str] = ([], b"", "")
        os.register_at_fork(after_in_child=self.drop)

    def fresh(self, state: TraceState) -> None:
        """Set ``state``'s new trace id, wire and span-id head."""
        draw = self._draw
        while True:
            try:
                i: int = draw[0].pop()
                break
            except IndexError:
                draw = self._refill()
        at = i * _RECORD
        buf = draw[1]
        state.wire = buf[at : at + _WIRE_END]
        state.base = buf[at + _WIRE_END : at + _RECORD]
        state.trace_id = draw[2][2 * at + 4 : 2 * at + 36]

    def _refill(self) -> tuple[list[int], bytes, str]:
        n = self._per_draw
        size = n * _RECORD
        while True:
            try:
                raw = bytearray(os.urandom(size))
            except OSError:  # no entropy source for a moment, as RandomIds
                raw = bytearray(random.randbytes(size))
            for column, value in _COLUMNS:
                raw[column::_RECORD] = bytes((value,)) * n
            buf = bytes(raw)
            if bytes(16) not in buf and b"\x12\x08" + bytes(6) not in buf:
                break
        draw = self._draw = (list(range(n)), buf, buf.hex())
        return draw

    def drop(self) -> None:
        """Forget the records drawn but not given (the next :meth:`fresh` draws afresh)."""
        self._draw = ([], b"", "")


#: the edge's new traces' ids (:func:`compile_extract`), 128 a draw (3.3 KiB of ``os.urandom``)
_NEW_TRACES: Final = NewTraceIds(128)


#: 16 random hex digits, never all zero (the cold paths' random span ids)
new_span_id: Callable[[], str] = RandomIds(16, 128).take


def _draw_hop_ids() -> tuple[str, int]:
    return hex(_bits(40) | 1 << 40 | 1)[3:], _bits(24)  # never zero: the id is never all zeros


#: Span ids for a hop that no span records (an unsampled request's ``traceparent`` to its backend):
#: unique, not random, as the request ids: 40 random bits per process (drawn again after a fork and
#: when the 24-bit counter is spent), ~3x cheaper than 64 fresh random bits.
_HOPS = CounterIds(_draw_hop_ids, lambda prefix, high: prefix + HEX3[high & 0xFFF], high_max=0xFFF)
hop_span_id: Callable[[], str] = _HOPS.next


class TraceState:
    """The trace one request belongs to: its id, the caller's span, the sampling decision and the
    headers to pass on unchanged (``tracestate``, ``baggage``). Built per request: no ``__init__``,
    the defaults on the class, the hot path sets the fields it has (:meth:`of` for the others)."""

    trace_id: str = ""
    parent_id: str | None = None
    sampled: bool = False
    tracestate: str = ""
    baggage: str = ""
    #: a sampled request's ids as the span writer copies them (set once by
    #: :func:`~krakenpy.telemetry.trace.spans.request_ids`, or with a new trace's id by
    #: :class:`NewTraceIds`): the protobuf head of its spans' ids
    #: (the trace id's field, the span id's tag and length) and the caller's span id as bytes
    wire: bytes = b""
    parent_raw: bytes | None = None
    #: a new trace's span-id head drawn with its ids (:class:`NewTraceIds`), which
    #: :func:`~krakenpy.telemetry.trace.spans.request_ids` hands out as it is; b"" otherwise
    base: bytes = b""

    @classmethod
    def of(
        cls, trace_id: str, parent_id: str | None, sampled: bool, tracestate: str = "", baggage: str = ""
    ) -> TraceState:
        """A trace state with every field given."""
        state = cls()
        state.trace_id, state.parent_id, state.sampled = trace_id, parent_id, sampled
        state.tracestate, state.baggage = tracestate, baggage
        return state

    def traceparent(self, span_id: str) -> str:
        return f"00-{self.trace_id}-{span_id}-{'01' if self.sampled else '00'}"


#: (header getter) -> (trace id, parent span id, sampled or None) or None
Extractor = Callable[[Callable[[str], str | None]], tuple[str, str, bool | None] | None]


#: the usual ``traceparent``: version 00, lower-case hex, flags 00 to 02 (otel-go refuses any
#: other flags in version 00), no extra fields
_TRACEPARENT_00 = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-2]")
#: the flags otel-go takes in a version 00 header (a later version may set any)
_FLAGS_00: Final = frozenset(("00", "01", "02"))
#: the last flags digit with the sampled bit set
_ODD: Final = frozenset("13579bdf")


def _repeated(get: Callable[[str], str | None], name: str) -> bool:
    """Whether the request sent header ``name`` more than once (``get`` a multidict's; a plain
    mapping's holds one value). Asked only of a request that sent it."""
    try:
        return len(get.__self__.getall(name)) > 1  # type: ignore[attr-defined]
    except AttributeError:
        return False


def _tracecontext(get: Callable[[str], str | None]) -> tuple[str, str, bool | None] | None:
    value = get(_TRACEPARENT_H)
    if not value:
        return None
    # W3C Trace Context: two traceparent headers make one value that is no traceparent (RFC 9110
    # joins repeated fields with commas): no context, a new trace (the W3C test suite's
    # test_traceparent_duplicated; otel-go and otel-python read the first)
    if _repeated(get, _TRACEPARENT_H):
        return None
    # the usual header: one match without groups, then slices (9.0k → 6.8k machine instructions
    # against the general expression's groups, version checks and int parse)
    if len(value) == 55 and _TRACEPARENT_00.fullmatch(value) is not None:
        trace_id = value[3:35]
        span_id = value[36:52]
        if trace_id == _ZERO32 or span_id == _ZERO16:
            return None
        return trace_id, span_id, value[54] in _ODD
    # otel-go's TraceContext (KrakenD) otherwise: anything it refuses starts a new trace here too.
    # Surrounding space, upper-case hex and version ff are refused (no strip, no lower-casing);
    # version 00 takes flags 00 to 02 only and nothing after them but one bare dash (otel-go cuts the
    # flags at the first dash and then finds nothing left); a later version, any flags (the sampled
    # bit read) and any tail after a dash
    m = _TRACEPARENT.fullmatch(value)
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or trace_id == _ZERO32 or span_id == _ZERO16:
        return None
    if version == "00" and (flags not in _FLAGS_00 or (rest is not None and rest != "-")):
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)


#: one ``tracestate`` list member (W3C Trace Context), with the blanks around it: a key (simple, or
#: multi-tenant ``tenant@system``) of lower-case letters, digits and ``_-*/`` up to 256 characters, a
#: value of 1 to 256 printable ASCII characters but ``,`` and ``=``, the last not a space
_TRACESTATE_MEMBER = re.compile(
    r"[ \t]*([a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e][ \t]*"
)
#: W3C's most list members in a ``tracestate``
_TRACESTATE_MAX: Final = 32
#: the longest ``tracestate`` read (its repeats joined, blanks counted): W3C asks vendors to pass on
#: at least 512 characters and lets them drop what they cannot (OpenTelemetry's Java and JavaScript
#: SDKs drop a longer one whole, as here); a longer value is dropped before it is split, so a header of
#: commas costs one length test, not a match per empty member (1 MiB: ~0.1 s of CPU, 2026-12-06)
TRACESTATE_LEN: Final = 512


def _joined(get: Callable[[str], str | None], name: str, first: str) -> str:
    """A list header (``tracestate``, ``baggage``) whose ``first`` value ``get`` found, with the values
    of its repeats after it (W3C: one list, RFC 9110 §5.3), when ``get`` is a multidict's (a request's
    headers); a plain mapping's ``get`` has one value. Run only for a request that has the header."""
    getall = getattr(getattr(get, "__self__", None), "getall", None)
    if getall is None:
        return first
    values: list[str] = getall(name, [])
    return ",".join(values) if len(values) > 1 else first


def valid_tracestate(value: str) -> str:
    """``value`` when it is a valid ``tracestate`` (W3C: at most 32 members, each key once, empty and
    blank members allowed) of at most :data:`TRACESTATE_LEN` characters, else "": as otel-go's
    TraceContext (KrakenD), an invalid one is dropped and the ``traceparent`` kept. Run only for a
    request that has the header."""
    if len(value) > TRACESTATE_LEN:
        return ""
    keys: set[str] = set()
    for member in value.split(","):
        m = _TRACESTATE_MEMBER.fullmatch(member)
        if m is None:
            if member.strip(" \t"):
                return ""
            continue
        key = m.group(1)
        if key in keys or len(keys) == _TRACESTATE_MAX:
            return ""
        keys.add(key)
    return value if keys else ""  # no member (",, ,"): W3C, vendors SHOULD avoid sending an empty one


#: one W3C Baggage list member with the blanks around it: a key (an RFC 9110 token), ``=``, a value of
#: baggage octets (printable ASCII but ``"``, ``,``, ``;``, ``\\`` and space; a ``%`` starting an
#: escape of two hex digits), then properties, each ``;`` and a key with or without ``=`` and a value
_BAGGAGE_KEY: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_BAGGAGE_VALUE: Final = (  # the loop unrolled: one class run, then escapes each followed by a run
    r"[\x21\x23\x24\x26-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*(?:%[0-9A-Fa-f]{2}[\x21\x23\x24\x26-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*)*"
)
_BAGGAGE_MEMBER: Final = (
    rf"[ \t]*{_BAGGAGE_KEY}[ \t]*=[ \t]*{_BAGGAGE_VALUE}"
    rf"(?:[ \t]*;[ \t]*{_BAGGAGE_KEY}(?:[ \t]*=[ \t]*{_BAGGAGE_VALUE})?)*[ \t]*"
)
#: a whole ``baggage`` header: list members separated by commas, none empty
_BAGGAGE_LIST = re.compile(rf"{_BAGGAGE_MEMBER}(?:,{_BAGGAGE_MEMBER})*")
#: the usual header, ``key=value`` members without blanks or properties: matched first (~30 % less
#: time than the whole grammar's expression)
_BAGGAGE_PLAIN = re.compile(rf"{_BAGGAGE_KEY}={_BAGGAGE_VALUE}(?:,{_BAGGAGE_KEY}={_BAGGAGE_VALUE})*")
#: the limits of KrakenD's baggage propagator (the otel-go releases krakend-otel builds with; otel-go
#: moved to W3C's 64 members, with no per-member limit, in 2026): list members in a request's
#: baggage, bytes of one member, bytes of the whole
_BAGGAGE_MEMBERS: Final = 180
_BAGGAGE_MEMBER_BYTES: Final = 4096
_BAGGAGE_BYTES: Final = 8192


def _valid_baggage(value: str) -> bool:
    """Whether one ``baggage`` header is valid W3C Baggage within the limits (every list member in
    the grammar, none empty): one match of the whole, the plain form's expression first (a request
    with a three-member header: ~6.9 k machine instructions, ~0.45 µs more than passing it unchecked,
    compiled, callgrind, 2026-12-06; a match per member cost three times as much); the bytes and
    members are counted first, and the members' own lengths only in a header long enough for one to
    pass its limit."""
    if len(value) > _BAGGAGE_BYTES or value.count(",") >= _BAGGAGE_MEMBERS:
        return False
    if _BAGGAGE_PLAIN.fullmatch(value) is None and _BAGGAGE_LIST.fullmatch(value) is None:
        return False
    return len(value) <= _BAGGAGE_MEMBER_BYTES or all(len(m) <= _BAGGAGE_MEMBER_BYTES for m in value.split(","))


def _baggage(get: Callable[[str], str | None], first: str) -> str:
    """The ``baggage`` to pass on, whose ``first`` header ``get`` found: each header sent that is
    valid W3C Baggage (:func:`_valid_baggage`), as it came, joined in order (one list); an invalid
    one is dropped whole, as otel-go's propagator (KrakenD) drops a header it cannot parse, and so is
    the whole when the headers together pass the limits."""
    if not first:  # none sent (extract() asks every request)
        return ""
    try:
        values: list[str] = get.__self__.getall(_BAGGAGE_H)  # type: ignore[attr-defined]
    except AttributeError:  # a plain mapping's get: one value
        values = [first]
    if len(values) == 1:
        return first if _valid_baggage(first) else ""
    joined = ",".join(v for v in values if _valid_baggage(v))
    if len(joined) > _BAGGAGE_BYTES or joined.count(",") >= _BAGGAGE_MEMBERS:
        return ""
    return joined


#: the usual single ``b3`` header: a 128-bit trace id, a span id and the sampling state ``0``, ``1``
#: or ``d``, lower-case hex (51 characters; the zero ids are checked apart)
_B3_USUAL = re.compile(r"[0-9a-f]{32}-[0-9a-f]{16}-[01d]")
#: a single ``b3`` header's sampling state (otel-go: ``d`` is debug, which samples; none is
#: "deferred", which otel-go's span context carries as not sampled); another state refuses the header
_B3_SINGLE_SAMPLED: Final[Mapping[str, bool]] = {"": False, "0": False, "1": True, "d": True}
#: ``X-B3-Sampled`` lower-cased (otel-go takes ``true``/``false`` too; none: deferred, not sampled)
_B3_MULTI_SAMPLED: Final[Mapping[str, bool]] = {"": False, "0": False, "false": False, "1": True, "true": True}


def _trace_id_ok(value: str) -> bool:
    """otel-go's ``TraceIDFromHex``: 32 lower-case hex digits, not all zero."""
    return len(value) == 32 and _HEX32.fullmatch(value) is not None and value != _ZERO32


def _span_id_ok(value: str) -> bool:
    """otel-go's ``SpanIDFromHex``: 16 lower-case hex digits, not all zero."""
    return len(value) == 16 and _HEX16.fullmatch(value) is not None and value != _ZERO16


def _b3_single(value: str) -> tuple[str, str, bool] | None:
    """The single ``b3`` header (``{trace}-{span}[-{sampled}[-{parent}]]``) as otel-go's contrib B3
    propagator (KrakenD's ``b3`` and ``b3multi``) reads it: no strip and no lower-casing (upper-case
    hex, surrounding space refused), a 16-digit trace id padded with 16 zeros on the left, the
    sampling state ``0``, ``1`` or ``d`` (debug: sampled) or none (deferred: not sampled), a parent
    span id checked and dropped; a header without both ids (``1`` alone) is no trace here. As
    otel-go, it finds the fields by their offsets: the character between the span id and the
    sampling state, and the one after the state, are not looked at."""
    if len(value) == 51 and _B3_USUAL.fullmatch(value) is not None:
        trace_id = value[:32]
        span_id = value[33:49]
        if trace_id == _ZERO32 or span_id == _ZERO16:
            return None
        return trace_id, span_id, value[50] != "0"
    if not value.isascii():  # otel-go counts bytes: the offsets below are the header's bytes
        value = value.encode("utf-8", "surrogateescape").decode("latin-1")
    size = len(value)
    if size < 33:  # the sampling state alone, a trace id alone, or too short
        return None
    if value[16] == "-":
        trace_id = _ZERO16 + value[:16]
        at = 17
    elif value[32] == "-":
        trace_id = value[:32]
        at = 33
    else:
        return None
    span_id = value[at : at + 16]
    if not _trace_id_ok(trace_id) or not _span_id_ok(span_id):
        return None
    at += 16
    state = ""
    if size > at:
        at += 1  # the separator, unchecked
        if size == at + 1:
            state = value[at]
        elif size == at + 18:  # {state}{separator, unchecked}{parent span id}
            state = value[at]
            if not _span_id_ok(value[at + 2 :]):
                return None
        else:  # "-" at the end, a parent span id without the state, anything longer
            return None
    sampled = _B3_SINGLE_SAMPLED.get(state)
    if sampled is None:
        return None
    return trace_id, span_id, sampled


def _b3(get: Callable[[str], str | None]) -> tuple[str, str, bool] | None:
    """B3 as otel-go's contrib propagator (KrakenD's ``b3`` and ``b3multi``: both read both forms)
    extracts it: the single ``b3`` header when it holds a valid context, else the ``X-B3-*`` headers
    (:func:`_b3_single` for the first). Of the second: ``X-B3-Sampled`` is ``0``, ``1``, ``true`` or
    ``false`` in any case, or absent (deferred: not sampled), any other value refuses the headers;
    ``X-B3-Flags: 1`` (exactly) is debug, which samples; a 16-digit ``X-B3-TraceId`` is padded;
    ``X-B3-TraceId`` and ``X-B3-SpanId`` come both or not at all; an ``X-B3-ParentSpanId`` must be
    a valid span id. Nothing is stripped or lower-cased but the sampled value."""
    value = get(_B3_H)
    if value:
        found = _b3_single(value)
        if found is not None:
            return found
    trace_id = get(_B3_TRACE_H)
    if not trace_id:  # both ids or none: a span id alone is refused, none is no context
        return None
    span_id = get(_B3_SPAN_H)
    if not span_id:
        return None
    sampled_text = get(_B3_SAMPLED_H) or ""
    sampled = _B3_MULTI_SAMPLED.get(sampled_text.lower() if sampled_text.isascii() else sampled_text)
    if sampled is None:
        return None
    if not sampled and get(_B3_FLAGS_H) == "1":  # debug
        sampled = True
    if len(trace_id) == 16:
        trace_id = _ZERO16 + trace_id
    if not _trace_id_ok(trace_id) or not _span_id_ok(span_id):
        return None
    parent = get(_B3_PARENT_H)
    if parent and not _span_id_ok(parent):
        return None
    return trace_id, span_id, sampled


#: ``b3`` and ``b3multi`` differ in what they write only (otel-go: both read both B3 forms)
_EXTRACTORS: Final[Mapping[str, Extractor]] = {"tracecontext": _tracecontext, "b3": _b3, "b3multi": _b3}


def _named(environ: Mapping[str, str] | None) -> tuple[str, ...]:
    """``OTEL_PROPAGATORS``' names as written (blanks cut), each once, in its first place (the
    specification: values are deduplicated; a propagator named twice wrote its headers twice)."""
    env = os.environ if environ is None else environ
    return tuple(dict.fromkeys(n.strip() for n in env.get("OTEL_PROPAGATORS", "").split(",") if n.strip()))


def propagators_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """``OTEL_PROPAGATORS`` (comma list; ``none``: no propagator, no context read or written),
    default ``tracecontext,baggage``, an empty value too (the OTel environment specification: empty is
    unset); unknown names are ignored (returned separately by the component as a warning), and when
    none is known the default stands (otel-go's autoprop)."""
    names = tuple(dict.fromkeys(n.lower() for n in _named(environ)))
    if not names:
        return DEFAULT_PROPAGATORS
    if "none" in names:
        return ()
    return tuple(n for n in names if n in PROPAGATORS) or DEFAULT_PROPAGATORS


def unknown_propagators(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The names in ``OTEL_PROPAGATORS`` krakenpy has no propagator for (as written, each once)."""
    return tuple(n for n in _named(environ) if n.lower() not in PROPAGATORS and n.lower() != "none")


def none_beside(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The names ``OTEL_PROPAGATORS`` gives beside ``none`` (as written), which ``none`` makes void."""
    names = _named(environ)
    if all(n.lower() != "none" for n in names):
        return ()
    return tuple(n for n in names if n.lower() != "none")


def extract(get: Callable[[str], str | None], propagators: Sequence[str], sampler: Sampler) -> TraceState:
    """The request's trace: continued from the last propagator that finds one (otel-go's composite
    propagator runs them all in order, each context found replacing the one before), else a new trace."""
    for name in reversed(propagators):
        extractor = _EXTRACTORS.get(name)
        if extractor is None:
            continue
        found = extractor(get)
        if found is not None:
            trace_id, parent, flag = found
            baggage = _baggage(get, get(_BAGGAGE_H) or "") if "baggage" in propagators else ""
            tracestate = _joined(get, _TRACESTATE_H, get(_TRACESTATE_H) or "") if name == "tracecontext" else ""
            tracestate = valid_tracestate(tracestate) if tracestate else ""
            return TraceState.of(trace_id, parent, sampler.sample(trace_id, flag), tracestate, baggage)
    trace_id = new_trace_id()
    baggage = _baggage(get, get(_BAGGAGE_H) or "") if "baggage" in propagators else ""
    return TraceState.of(trace_id, None, sampler.sample(trace_id, None), "", baggage)


def inject(trace: TraceState, span_id: str, propagators: Sequence[str]) -> list[tuple[str, str]]:
    """The headers that carry ``trace`` (with ``span_id`` as the parent) to the next hop."""
    out: list[tuple[str, str]] = []
    for name in propagators:
        if name == "tracecontext":
            out.append(("traceparent", trace.traceparent(span_id)))
            if trace.tracestate:
                out.append(("tracestate", trace.tracestate))
        elif name == "baggage" and trace.baggage:
            out.append(("baggage", trace.baggage))
        elif name == "b3":
            out.append(("b3", f"{trace.trace_id}-{span_id}-{'1' if trace.sampled else '0'}"))
        elif name == "b3multi":
            out.append(("X-B3-TraceId", trace.trace_id))
            out.append(("X-B3-SpanId", span_id))
            out.append(("X-B3-Sampled", "1" if trace.sampled else "0"))
    return out


#: the headers each propagator owns (lower case): those it writes, and for ``b3multi`` the parent and
#: flags headers of the form, which describe the caller's hop (never the gateway's)
_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "tracecontext": ("traceparent", "tracestate"),
    "baggage": ("baggage",),
    "b3": ("b3",),
    "b3multi": ("x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-parentspanid", "x-b3-flags"),
}


def propagator_fields(propagators: Sequence[str]) -> frozenset[str]:
    """The header names (lower case) ``propagators`` own: a client's, forwarded, give way to the
    gateway's (:func:`inject` writes some of them)."""
    return frozenset(name for p in propagators for name in _FIELDS.get(p, ()))


def compile_extract(
    propagators: Sequence[str], sampler: Sampler
) -> Callable[[Callable[[str], str | None]], TraceState]:
    """:func:`extract` for a fixed list of propagators, the extractors looked up once."""
    readers: tuple[tuple[str, Extractor], ...] = ()
    # the last propagator that finds a context wins (otel-go's composite: each extractor's context
    # replaces the one before), so they are tried last first and the first found is kept
    for name in reversed(propagators):  # b3 and b3multi read the same: once
        extractor = _EXTRACTORS.get(name)
        if extractor is not None and all(extractor is not other for _, other in readers):
            readers += ((name, extractor),)
    baggage_on = "baggage" in propagators
    sample = sampler.sample
    ratio = sampler.ratio
    # the ratio's test inline (Sampler.sample is interpreted: its frame cost ~40 opcodes a request)
    bound = sampler.bound
    # a subclass (OpenCensus' sampler: sample_rate, ≤ 0 never) has its own rule: every answer is
    # its sample()'s, as in extract(); the shortcuts below are KrakenD's rule only
    own = type(sampler) is not Sampler
    w3c_first = bool(readers) and readers[0][0] == "tracecontext"
    # without a traceparent header the W3C reader would only read it again
    others = readers[1:] if w3c_first else readers

    def run(get: Callable[[str], str | None]) -> TraceState:
        todo = readers
        if w3c_first:  # the usual traceparent parsed inline (what _tracecontext does first)
            value = get(_TRACEPARENT_H)
            if not value:
                todo = others
            else:
                # sent twice: no context (W3C, see _tracecontext); inline, multidict's getall: ~1.1 k
                # machine instructions (~60 ns) a request that sends one, compiled (callgrind, 2026-12-06)
                try:
                    if len(get.__self__.getall(_TRACEPARENT_H)) > 1:  # type: ignore[attr-defined]
                        value = None
                        todo = others
                except AttributeError:  # a plain mapping's get: one value
                    pass
            if value and len(value) == 55 and _TRACEPARENT_00.fullmatch(value) is not None:
                trace_id = value[3:35]
                span_id = value[36:52]
                if trace_id != _ZERO32 and span_id != _ZERO16:
                    state = TraceState()
                    state.trace_id = trace_id
                    state.parent_id = span_id
                    sampled = value[54] in _ODD
                    state.sampled = sample(trace_id, sampled) if own else True if not ratio else sampled
                    tracestate = get(_TRACESTATE_H)
                    if tracestate:  # checked only when sent (a valid one is passed on as it came)
                        state.tracestate = valid_tracestate(_joined(get, _TRACESTATE_H, tracestate))
                    if baggage_on:
                        baggage = get(_BAGGAGE_H)
                        if baggage:
                            state.baggage = _baggage(get, baggage)
                    return state
        for name, extractor in todo:
            found = extractor(get)
            if found is not None:
                trace_id, parent, flag = found
                baggage = get(_BAGGAGE_H) or "" if baggage_on else ""
                if baggage:
                    baggage = _baggage(get, baggage)
                tracestate = get(_TRACESTATE_H) or "" if name == "tracecontext" else ""
                if tracestate:
                    tracestate = valid_tracestate(_joined(get, _TRACESTATE_H, tracestate))
                state = TraceState()
                state.trace_id = trace_id
                state.parent_id = parent
                # Sampler.sample inline for the two usual answers: every request, or the caller's flag
                if own:
                    state.sampled = sample(trace_id, flag)
                elif not ratio:
                    state.sampled = True
                else:
                    state.sampled = flag if flag is not None else int(trace_id[16:], 16) < bound
                if tracestate:
                    state.tracestate = tracestate
                if baggage:
                    state.baggage = baggage
                return state
        # a new trace: TraceState.of and Sampler.sample's usual answer inline; its ids drawn at once
        # (the trace id, and the wire and span-id head request_ids hands out when it is sampled)
        state = TraceState()
        _NEW_TRACES.fresh(state)
        trace_id = state.trace_id
        if own:
            state.sampled = sample(trace_id, None)
        else:  # Sampler.sample's rule for a new trace: every one, or the id's low 64 bits under the bound
            state.sampled = not ratio or int(trace_id[16:], 16) < bound
        if baggage_on:
            baggage = get(_BAGGAGE_H)
            if baggage:
                state.baggage = _baggage(get, baggage)
        return state

    return run


def compile_inject(propagators: Sequence[str]) -> Callable[[TraceState, str], list[tuple[str, str]]]:
    """:func:`inject` for a fixed list of propagators (W3C and baggage, the default, without the loop)."""
    names = tuple(propagators)
    if names not in (("tracecontext", "baggage"), ("tracecontext",)):
        return lambda trace, span_id: inject(trace, span_id, names)
    baggage_on = len(names) == 2

    def run(trace: TraceState, span_id: str) -> list[tuple[str, str]]:
        out = [("traceparent", f"00-{trace.trace_id}-{span_id}-{'01' if trace.sampled else '00'}")]
        if trace.tracestate:
            out.append(("tracestate", trace.tracestate))
        if baggage_on and trace.baggage:
            out.append(("baggage", trace.baggage))
        return out

    return run
