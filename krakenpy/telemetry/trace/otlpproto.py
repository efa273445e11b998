"""OTLP protobuf written directly (what ``opentelemetry-proto`` would serialise, no library): the
wire primitives (varints, length-delimited fields, fixed64 times), key-values, statuses, and a
:class:`~krakenpy.telemetry.trace.spans.Span` written field by field (the generic record's encoding;
the layers' templates write theirs from pre-encoded parts, :mod:`krakenpy.telemetry.trace.templates`).

What each value becomes mirrors the OTLP/JSON writer (:mod:`krakenpy.telemetry.trace.otlptext`): a
``bool`` a ``bool_value``, an ``int`` an ``int_value`` (as text when it does not fit an int64, as the
JSON writer's slow path writes it), a ``float`` a ``double_value``, a list or tuple an
``array_value``, anything else its ``str()``; text holding surrogate escapes (a client's bytes that
were not UTF-8) is written with U+FFFD for each, as Go's encoder does. Fields of a message may come
in any order (protobuf's decoders merge them): a span's times come before its name, so that what a
template fixes is one piece, as in the JSON writer."""

from __future__ import annotations

import binascii
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from krakenpy.gojson import valid_text
from krakenpy.telemetry.trace.otlptext import CLIENT_KEYS, ENCODED_LEN, ENCODED_MAX, PER_REQUEST

if TYPE_CHECKING:
    from krakenpy.telemetry.trace.spans import Span

__all__ = [
    "EMPTY_STATUS", "EVENT_TIME", "PARENT_TAG", "TIMES", "KeyWire", "attributes_proto", "double", "double_kv",
    "event_proto", "field", "framed", "ids_proto", "ids_times", "ids_wire", "int_kv", "key_head", "key_values",
    "kv_proto", "span_head", "span_proto", "status_proto", "str_kv", "unframed", "utf8", "varint",
]  # fmt: skip

_INT64_END: Final = 1 << 63
_UINT64: Final = (1 << 64) - 1
#: the varints of the numbers below this (lengths, status codes, small sizes): a tuple read
_VARINTS_END: Final = 2048


def _varint_of(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_VARINTS: Final = tuple(_varint_of(i) for i in range(_VARINTS_END))


def varint(n: int) -> bytes:
    """``n`` as a protobuf varint (a negative one as its 64-bit two's complement: ten bytes)."""
    if 0 <= n < _VARINTS_END:
        return _VARINTS[n]
    return _varint_of(n & _UINT64)


#: ScopeSpans field 2's tag and a span's length, by length (a span's is some hundred bytes)
_SPAN_HEADS: Final = tuple(b"\x12" + varint(n) for n in range(2048))


def span_head(n: int) -> bytes:
    """ScopeSpans field 2's tag and the length of a span of ``n`` bytes (what frames it in a batch)."""
    if n < 2048:
        return _SPAN_HEADS[n]
    return b"\x12" + varint(n)


def framed(span: bytes) -> bytes:
    """An encoded Span with its ScopeSpans tag and length before it (:func:`span_head`)."""
    return span_head(len(span)) + span


def unframed(data: bytes) -> bytes:
    """:func:`framed`'s span without its tag and length."""
    n = 1
    while data[n] & 0x80:
        n += 1
    return data[n + 1 :]


def field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field: its tag, the length as a varint, the data."""
    return tag + varint(len(data)) + data


def utf8(text: Any) -> bytes:
    """A string's UTF-8 bytes (surrogate escapes as U+FFFD); anything else as its ``str()``."""
    value: str = text if type(text) is str else str(text)
    try:
        return value.encode()
    except UnicodeEncodeError:
        fixed: str = valid_text(value)
        data: bytes = fixed.encode()
        return data


# The packers and ``bytes.fromhex`` as bound callables: compiled, ``TIMES.pack(…)`` and
# ``bytes.fromhex(…)`` were looked up by name on each call (``PyObject_VectorcallMethod``, ~1.5 k
# machine instructions each, five or more a span: callgrind, 2026-12-02); a bound one is a vectorcall.
#: Span's start and end times (fields 7 and 8, fixed64): their tags and both values in one call,
#: ``TIMES(0x39, start, 0x41, end)``
TIMES: Final = struct.Struct("<BQBQ").pack
#: an event's time (Event field 1, fixed64): ``EVENT_TIME(0x09, at)``
EVENT_TIME: Final = struct.Struct("<BQ").pack
_DOUBLE: Final = struct.Struct("<Bd").pack
#: hex text to bytes: ``binascii.unhexlify`` takes an ASCII ``str`` as ``bytes.fromhex`` does, without
#: its whitespace handling (the ids' 76 digits ~0.25–1.1 k machine instructions cheaper a call,
#: interpreted, callgrind, round 12, ``trace6``); refuses what ``fromhex`` refused (binascii.Error is
#: a ValueError)
_fromhex: Final = binascii.unhexlify


def double(value: float) -> bytes:
    """An ``AnyValue`` of a double: tag 4 (fixed64) and its eight bytes."""
    return _DOUBLE(0x21, value)


#: a Status with code 0 and no message (what ``{"code":0}`` decodes to: a Status present, empty)
EMPTY_STATUS: Final = b"\x7a\x00"
_STATUS: Final = (EMPTY_STATUS, b"\x7a\x02\x18\x01", b"\x7a\x02\x18\x02")


def status_proto(code: int, message: str) -> bytes:
    """Span field 15: a Status (message field 2, code field 3)."""
    if not message and 0 <= code <= 2:
        return _STATUS[code]
    inner = (field(b"\x12", utf8(message)) if message else b"") + (b"\x18" + varint(code) if code else b"")
    return field(b"\x7a", inner)


def key_head(key: str) -> bytes:
    """A KeyValue's key field and its value's tag: ``0A len key 12``."""
    return field(b"\x0a", utf8(key)) + b"\x12"


def _kv(head: bytes, value: bytes) -> bytes:
    """Span field 9 (attributes): a KeyValue of ``head`` (:func:`key_head`) and an encoded AnyValue."""
    inner = head + varint(len(value)) + value
    return b"\x4a" + varint(len(inner)) + inner


def str_kv(head: bytes, text: Any) -> bytes:
    """A string attribute: ``head`` from :func:`key_head`."""
    data = utf8(text)
    n = len(data)
    value_len = 1 + len(varint(n)) + n
    inner_len = len(head) + len(varint(value_len)) + value_len
    return b"".join((b"\x4a", varint(inner_len), head, varint(value_len), b"\x0a", varint(n), data))


def double_kv(head: bytes, value: Any) -> bytes:
    """A double attribute (an int given is written as a double, as the JSON writer's ``doubleValue``)."""
    return _kv(head, double(value))


_F64: Final = struct.Struct("<d").pack
#: ints below this have their key-value kept by :class:`KeyWire` (status codes, the usual sizes)
_KEPT_INTS_END: Final = 1024
#: texts shorter than this (in bytes) have their key-value's prefix kept by :class:`KeyWire`
_KEPT_STR_END: Final = 256


class KeyWire:
    """One attribute key's protobuf, made once: its head (:func:`key_head`), the fixed part of its
    double key-values (their length never varies: the head, the AnyValue's length and tag, eight
    bytes), and its int key-values below 1,024 as they are met (a dict lookup where each was a few
    joins and varints: a status code, a size)."""

    def __init__(self, key: str) -> None:
        self.head = key_head(key)
        self._double = b"\x4a" + varint(len(self.head) + 10) + self.head + b"\x09\x21"
        #: by value, filled as met: a list read where a dict's lookup boxed and hashed the int (~0.1 k
        #: machine instructions a key-value, compiled)
        self._ints: list[bytes | None] = [None] * _KEPT_INTS_END
        #: the prefixes of its string key-values by the text's length in bytes (below 256), filled as
        #: met: a list read where a dict's lookup hashed the boxed length (as ``_ints``; a request id's
        #: key-value each SERVER span, round 20, ``trace16``)
        self._strs: list[bytes | None] = [None] * _KEPT_STR_END

    def of_int(self, v: Any) -> bytes:
        if type(v) is int:
            n: int = v
            if 0 <= n < _KEPT_INTS_END:
                found = self._ints[n]
                if found is None:
                    found = self._ints[n] = int_kv(self.head, n)
                return found
            return int_kv(self.head, n)
        return int_kv(self.head, v)

    def of_double(self, v: Any) -> bytes:
        """A double key-value (an int given is written as a double, as the JSON writer's ``doubleValue``)."""
        return self._double + _F64(v)

    def of_str(self, v: Any) -> bytes:
        """A string key-value: its bytes after the prefix kept for their length (a request id, a URL:
        one concatenation where :func:`str_kv` joined seven pieces and three varints, ~1.5 k machine
        instructions a SERVER span's request id, callgrind, round 12, ``trace6``)."""
        data = utf8(v)
        n = len(data)
        if n >= _KEPT_STR_END:
            return _str_prefix(self.head, n) + data
        found = self._strs[n]
        if found is None:
            found = self._strs[n] = _str_prefix(self.head, n)
        return found + data


def _str_prefix(head: bytes, n: int) -> bytes:
    """What :func:`str_kv` writes before a text of ``n`` bytes: the KeyValue's tag and length, the
    key (``head``), the AnyValue's length, its string tag and the text's length."""
    value_len = 1 + len(varint(n)) + n
    inner_len = len(head) + len(varint(value_len)) + value_len
    return b"".join((b"\x4a", varint(inner_len), head, varint(value_len), b"\x0a", varint(n)))


def _int_value(v: int) -> bytes:
    """An AnyValue of an int (an int over 64 bits as its text, as the JSON writer's slow path)."""
    if -_INT64_END <= v < _INT64_END:
        return b"\x18" + varint(v)
    return field(b"\x0a", str(v).encode())


def int_kv(head: bytes, v: Any) -> bytes:
    """An int attribute: ``head`` from :func:`key_head` (any other value as :func:`kv_proto` writes it)."""
    if type(v) is int:
        n: int = v
        if 0 <= n < 128:  # the usual small values: a one-byte varint, all lengths known
            return b"".join((b"\x4a", _VARINTS[len(head) + 3], head, b"\x02\x18", _VARINTS[n]))
        return _kv(head, _int_value(n))
    return _kv(head, _any_value(v))


def _any_value(v: Any) -> bytes:
    """An AnyValue (the types :func:`~krakenpy.telemetry.trace.otlptext.value_json` tells apart)."""
    if isinstance(v, bool):
        return b"\x10\x01" if v else b"\x10\x00"
    if isinstance(v, int):
        return _int_value(int(v))
    if isinstance(v, float):
        return double(v)
    if isinstance(v, list | tuple):
        # ArrayValue (field 1: repeated AnyValue), the AnyValue's field 5
        return field(b"\x2a", b"".join([field(b"\x0a", _any_value(item)) for item in v]))
    return field(b"\x0a", utf8(v))


#: KeyValues by ``(key, value, type)`` and key heads by key, bounded, under the JSON writer's rules
#: (no per-request key, no long value, no client header name kept)
_KVS: dict[tuple[str, Any, type], bytes] = {}
_HEADS: dict[str, bytes] = {}


def kv_proto(k: str, v: Any) -> bytes:
    """One attribute (Span field 9), kept in :data:`_KVS` unless per request or long."""
    head = _HEADS.get(k)
    if head is None:
        head = key_head(k)
        if len(k) <= ENCODED_LEN and not k.startswith(CLIENT_KEYS):
            if len(_HEADS) >= ENCODED_MAX:
                _HEADS.clear()
            _HEADS[k] = head
    found = _kv(head, _any_value(v))
    kind = type(v)
    if k in PER_REQUEST or kind not in (str, int, bool, float) or (kind is str and len(v) > ENCODED_LEN):
        return found
    if len(_KVS) >= ENCODED_MAX:
        _KVS.clear()
    _KVS[(k, v, kind)] = found
    return found


def attributes_proto(attrs: Mapping[str, Any]) -> bytes:
    """Attributes as consecutive Span (or Event) KeyValue fields, tagged as Span field 9."""
    get = _KVS.get
    try:
        return b"".join([get((k, v, type(v))) or kv_proto(k, v) for k, v in attrs.items()])
    except TypeError:  # an unhashable value (a header's list of values): no lookups
        return b"".join([kv_proto(k, v) for k, v in attrs.items()])


def ids_proto(trace_id: Any, span_id: Any, parent_id: Any) -> bytes:
    """Span fields 1, 2 and 4: the trace id (16 bytes), span id (8) and parent id (8, when any), the
    tags written as hex with them: one ``fromhex`` of one text (three and a join took ~2x as long,
    pure Python; ids kept per batch and decoded once saved ~0.4 k a span compiled, lost again to
    the longer join, 2026-12-02). The ids are ``str`` once checked (what every layer records): the
    f-string's pieces are then copied as they are, where an ``Any`` placeholder's ``str()`` was a C
    call each (three a span, ~0.2 k together, callgrind, round 12, ``trace6``); anything else is
    refused as before."""
    if type(trace_id) is not str or type(span_id) is not str:
        raise ValueError("an id that is no text")
    trace: str = trace_id
    span: str = span_id
    if parent_id:
        if type(parent_id) is not str:
            raise ValueError("an id that is no text")
        parent: str = parent_id
        data = _fromhex(f"0a10{trace}1208{span}2208{parent}")
        if len(data) != 38:  # an id of another length: its field's length byte would lie
            raise ValueError("an id of another length")
        return data
    data = _fromhex(f"0a10{trace}1208{span}")
    if len(data) != 28:
        raise ValueError("an id of another length")
    return data


#: the parent span id's field head (Span field 4, 8 bytes)
PARENT_TAG: Final = b"\x22\x08"
#: a span's raw ids and its times in one call: the ids' head (``TraceState.wire``), the span id, the
#: parent's tag and id, the times' tags and values (:data:`TIMES`); without a parent, the same less it
_IDS_TIMES: Final = struct.Struct("<20s8s2s8sBQBQ").pack
_ROOT_IDS_TIMES: Final = struct.Struct("<20s8sBQBQ").pack


def ids_wire(trace: Any, span_id: Any, parent_id: Any) -> bytes:
    """A record's ids (Span fields 1, 2 and 4) as :func:`ids_proto` writes them. The layers record
    them as bytes (the trace's protobuf head of 20 bytes, ``TraceState.wire``, and eight-byte span
    ids), copied as they are: no hex text formatted and decoded per span (~1.5 k machine instructions
    a span, compiled); ids as text (a :class:`Span`'s record, the tests') go through
    :func:`ids_proto`. Raw ids of another length are refused (their fields' lengths would lie)."""
    if type(span_id) is bytes and type(trace) is bytes:
        head: bytes = trace
        own: bytes = span_id
        if parent_id:
            parent: bytes = parent_id if type(parent_id) is bytes else _fromhex(parent_id)
            data = b"".join((head, own, PARENT_TAG, parent))
            if len(data) != 38:
                raise ValueError("an id of another length")
            return data
        data = head + own
        if len(data) != 28:
            raise ValueError("an id of another length")
        return data
    return ids_proto(trace, span_id, parent_id)


def ids_times(trace: Any, span_id: Any, parent_id: Any, start: Any, end: Any) -> bytes:
    """A record's ids and times (Span fields 1, 2, 4, 7 and 8): raw ids (the layers') and the times
    packed by one ``struct`` call (a ``struct`` field of bytes pads or cuts what it is given: their
    lengths checked first, raw ids of another length refused as by :func:`ids_wire`), where the ids'
    join and the times' own call each made a piece (~1 k machine instructions a span, timeit); ids as
    text as :func:`ids_proto` and :data:`TIMES` write them."""
    if type(span_id) is bytes and type(trace) is bytes:
        head: bytes = trace
        own: bytes = span_id
        if len(head) != 20 or len(own) != 8:
            raise ValueError("an id of another length")
        if parent_id:
            parent: bytes = parent_id if type(parent_id) is bytes else _fromhex(parent_id)
            if len(parent) != 8:
                raise ValueError("an id of another length")
            return _IDS_TIMES(head, own, PARENT_TAG, parent, 0x39, start, 0x41, end)
        return _ROOT_IDS_TIMES(head, own, 0x39, start, 0x41, end)
    return ids_proto(trace, span_id, parent_id) + TIMES(0x39, start, 0x41, end)


def key_values(attrs: Mapping[str, Any], tag: bytes) -> bytes:
    """Attributes as KeyValue fields of another message (``tag``: a Resource's ``0A``, an Event's ``1A``);
    the cold paths', nothing kept."""
    out: list[bytes] = []
    for k, v in attrs.items():
        value = _any_value(v)
        out.append(field(tag, key_head(k) + varint(len(value)) + value))
    return b"".join(out)


def event_proto(name: str, at: int, attrs: Mapping[str, Any]) -> bytes:
    """Span field 11: an Event (time field 1, name field 2, attributes field 3)."""
    own = key_values(attrs, b"\x1a") if attrs else b""
    return field(b"\x5a", EVENT_TIME(0x09, at) + field(b"\x12", utf8(name)) + own)


def span_proto(span: Span) -> bytes:
    """One :class:`Span` as an encoded Span message: its shape's key-values encoded once per layer,
    its own values from the key-value cache."""
    shape = span.static
    fixed = b""
    if shape is not None:
        found = shape.wire
        if found is None:
            found = shape.wire = attributes_proto(shape.attributes)
        fixed = found
    events = b""
    if span.events:
        events = b"".join([event_proto(name, ts, ev) for name, ts, ev in span.events])
    return b"".join((
        ids_proto(span.trace_id, span.span_id, span.parent_id),
        TIMES(0x39, span.start_ns, 0x41, span.end_ns),
        field(b"\x2a", utf8(span.name)),
        b"\x30" + varint(span.kind),
        fixed,
        attributes_proto(span.attributes) if span.attributes else b"",
        events,
        status_proto(span.status, span.status_message),
    ))  # fmt: skip
