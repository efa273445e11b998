"""The layers' span templates: per layer, the OTLP protobuf (``proto``, the default body; see
:mod:`krakenpy.telemetry.trace.otlpproto` and bench/README.md, "round 11: branch trace5") and the
OTLP/JSON text of what is fixed (name, kind, the
shape's attributes, the keys of the per-request ones) made once, so writing a record is one
f-string with its values. Each template can also make a :class:`Span` of a record (OpenCensus).

A record is ``(template, trace_id, span_id, parent_id, start_ns, end_ns, status, message, *values)``;
the values each template takes are listed on it. A record's values are ``Any`` to mypyc, which writes
an f-string placeholder of an ``Any`` value as a ``str.format`` call (~2k machine instructions each,
12 in the body-read span: 21k of its 30k, 2026-12-02): the placeholders say ``str(…)``, which it
writes as one C call each (what the interpreter's f-string does without saying so). Durations are
written by orjson (ryu's shortest text, the same double as ``repr``'s, ~4x cheaper than CPython's
dtoa), a batch's client strings are JSON-encoded once per batch (:func:`end_batch`), and span times
go through :func:`_time` (an ``int`` formatted as a machine word when compiled). A span's times come
before its name, so that what its template fixes is one f-string piece (mypyc's ``CPyStr_Build``
copies each piece: ~65 machine instructions a piece), and small ints come from a table.
Replaced per-attribute cache lookups and joins:
(see bench/README.md, "round 7: branch spanrec", "round 9: branch tracecut" and "round 11: branch trace4")."""

from __future__ import annotations

import struct
from typing import Any, Final

import orjson

from krakenpy.gojson import valid_text
from krakenpy.telemetry.trace.otlpproto import (
    EMPTY_STATUS,
    PARENT_TAG,
    KeyWire,
    attributes_proto,
    field,
    framed,
    ids_times,
    ids_wire,
    key_head,
    span_head,
    span_proto,
    status_proto,
    unframed,
    utf8,
    varint,
)
from krakenpy.telemetry.trace.otlptext import attributes_text, name_text, q, span_text, status_text
from krakenpy.telemetry.trace.spans import CLIENT, INTERNAL, SERVER, Record, Span, SpanShape, SpanTemplate

__all__ = [
    "INT64_END", "KEPT_ALIVE", "CallTemplate", "ClientTemplate", "ReadTemplate", "ServerTemplate", "end_batch",
    "native_plan",
]  # fmt: skip

_READ: Final = "http.client.response.read."
_BOOL: Final = ("false", "true")
_OK: Final = '{"code":0}'
#: the end of an OK span whose last attribute is an intValue: the value's quote, the list, the status
_SERVER_OK: Final = '"}}],"status":{"code":0}}'
#: the end of an OK span whose last attribute is a doubleValue
_READ_OK: Final = '}}],"status":{"code":0}}'
#: the end of a usual proxy or backend span by its ``complete`` flag
_CALL_OK: Final = ('false}}],"status":{"code":0}}', 'true}}],"status":{"code":0}}')
_dumps: Final = orjson.dumps
#: the (method, route) texts a SERVER template keeps (bounded: a client chooses the method)
_ROUTES_MAX: Final = 1024
_RID_HEAD: Final = '{"key":"http.request.id","value":{"stringValue":"'
#: a kept-alive connection's (get-conn, dns, tls) seconds, and their text (written without orjson)
_KEPT_ALIVE: Final = (0.0, 0.0, 0.0)


def _kept_alive() -> tuple[Any, ...]:
    """A boxed tuple object: compiled, a ``tuple[float, float, float]`` global is stored unboxed and
    boxed anew at every read (the identity test below was always false: a dict lookup and a tuple a
    CLIENT span), and a ``Final`` tuple of constants is a literal (an alias of ``_KEPT_ALIVE`` failed
    at import: "value for final name was not set"). ``tuple[Any, ...]`` from a call stays one object."""
    return (0.0, 0.0, 0.0)


#: the same seconds as the one object the client layer records for such a call (told by identity)
KEPT_ALIVE: tuple[Any, ...] = _kept_alive()
_KEPT_ALIVE_TEXT: Final = (
    ',{"key":"get-conn-duration","value":{"doubleValue":0.0}},{"key":"dns-duration","value":{"doubleValue":0.0}},'
    '{"key":"tls-duration","value":{"doubleValue":0.0}}'
)
#: OTLP's intValue is an int64: a larger one (a client's Content-Length) makes the collector refuse
#: the whole batch, so a size out of range is left off the span
INT64_END: Final = 1 << 63


#: the JSON texts of the client strings a batch writes (URL, host, user agent, client address: its
#: requests repeat them; one dict lookup instead of an orjson call and a decode), emptied by
#: :func:`end_batch` once the batch is written: no client text outlives its batch, as in otlptext
_BATCH: Final[dict[str, str]] = {}
#: at most this many kept per batch (a batch has at most 512 spans, five such strings each at most)
_BATCH_MAX: Final = 4096
#: the SERVER span's four client key-values (url.full, server.address, user_agent.original,
#: client.address) as one text by the four strings: a batch's requests repeat them, and one lookup
#: and one f-string piece replace four lookups and seven pieces; emptied with :data:`_BATCH`
_CLIENTS: Final[dict[tuple[str, str, str, str], str]] = {}
#: the texts of the ints below this (status codes, the usual small sizes): a tuple read instead of
#: a conversion with its scratch string (CPython's long_to_decimal for an ``Any``: ~250 instructions)
_INTS_END: Final = 1024
_INTS: Final = tuple(str(i) for i in range(_INTS_END))


#: the protobuf of the layers' per-request attribute keys
_K_METHOD: Final = KeyWire("http.request.method")
_K_ROUTE: Final = KeyWire("http.route")
_K_URL: Final = KeyWire("url.full")
_K_HOST: Final = KeyWire("server.address")
_K_PORT: Final = KeyWire("server.port")
_K_AGENT: Final = KeyWire("user_agent.original")
_K_ADDR: Final = KeyWire("client.address")
_K_BODY: Final = KeyWire("http.request.body.size")
_K_RID: Final = KeyWire("http.request.id")
_K_CODE: Final = KeyWire("http.response.status_code")
_K_SIZE: Final = KeyWire("http.response.body.size")
_K_READ_SIZE: Final = KeyWire(_READ + "size")
_K_READ_TIME: Final = KeyWire(_READ + "time")
_K_GET_CONN: Final = KeyWire("get-conn-duration")
_K_DNS: Final = KeyWire("dns-duration")
_K_TLS: Final = KeyWire("tls-duration")
#: ``complete`` false and true, ``canceled`` true, as whole key-values
_W_COMPLETE: Final = (
    field(b"\x4a", key_head("complete") + b"\x02\x10\x00"),
    field(b"\x4a", key_head("complete") + b"\x02\x10\x01"),
)
_W_CANCELED: Final = field(b"\x4a", key_head("canceled") + b"\x02\x10\x01")
_W_KEPT_ALIVE: Final = _K_GET_CONN.of_double(0.0) + _K_DNS.of_double(0.0) + _K_TLS.of_double(0.0)
#: the same and the empty status: the usual CLIENT span's last piece
_W_KEPT_ALIVE_OK: Final = _W_KEPT_ALIVE + EMPTY_STATUS
#: the first-byte event's head: Span field 11 and its length (fixed: a time and the name); then its
#: time (Event field 1) and its name (field 2): packed in one call (:data:`_FIRST_BYTE_EVENT`), one
#: piece of the span's join (a bytes join of more than ten pieces allocates its buffer list: CPython's
#: ``NB_STATIC_BUFFERS``, the CLIENT span's join ~1.8x as long at twelve, callgrind, 2026-12-02)
_FIRST_BYTE: Final = b"first-byte-time"
_W_EVENT_HEAD: Final = b"\x5a" + varint(9 + 2 + len(_FIRST_BYTE))
_W_EVENT_NAME: Final = b"\x12" + varint(len(_FIRST_BYTE)) + _FIRST_BYTE
_FIRST_BYTE_EVENT: Final = struct.Struct(f"<{len(_W_EVENT_HEAD)}sBQ{len(_W_EVENT_NAME)}s").pack
#: the event's head and its time's tag (Event field 1, a fixed64) as one packed piece: one ``struct``
#: argument fewer a CLIENT span than the tag as a ``B`` of its own (its int converted per span)
_W_EVENT_TIME: Final = _W_EVENT_HEAD + b"\x09"
#: the CLIENT span's times and its first-byte event packed in one call, the event right after the times
#: (a message's fields come in any order): one ``struct`` call and one join piece fewer a span (~0.9 k
#: machine instructions, round 12, ``trace6``); but for the event's name, which the peer's protobuf
#: starts with (``ClientTemplate._peer_wires``: one packed piece fewer a span, round 22, ``trace21``)
_TIMES_FIRST_BYTE: Final = struct.Struct(f"<BQBQ{len(_W_EVENT_TIME)}sQ").pack
#: the same after the raw ids (the ids' head, the span id, the parent's tag and id): the usual CLIENT
#: span's ids, times and event in one call (:func:`~krakenpy.telemetry.trace.otlpproto.ids_times`)
_IDS_TIMES_FIRST_BYTE: Final = struct.Struct(f"<20s8s2s8sBQBQ{len(_W_EVENT_TIME)}sQ").pack
#: the start and end times' tags (Span fields 7 and 8, fixed64) as the usual spans' packs take them:
#: ``c`` fields, a byte copied from each (a ``B`` converted its int per span: ~57 machine instructions
#: a tag, callgrind, round 22, ``trace21``)
_T_START: Final = b"\x39"
_T_END: Final = b"\x41"
#: the SERVER span's four client key-values as protobuf by the four strings (as :data:`_CLIENTS`)
_CLIENT_WIRES: Final[dict[tuple[str, str, str, str], bytes]] = {}
#: the CLIENT span's ``url.full`` key-value by URL, for the batch (a backend's calls repeat it)
_URL_WIRES: Final[dict[str, bytes]] = {}
#: the last SERVER span's four client strings and their key-values (emptied with :data:`_CLIENT_WIRES`)
_NO_CLIENT: Final[tuple[Any, ...]] = ("\0", "", "", "", b"")
_LAST_CLIENT: Final[list[Any]] = list(_NO_CLIENT)


def _name_kind(name: str, kind: int) -> bytes:
    """Span fields 5 and 6: the name and the kind."""
    return field(b"\x2a", utf8(name)) + b"\x30" + varint(kind)


def _framed_pack(fields: str) -> tuple[Any, bytes]:
    """A usual span's ``struct`` pack (little-endian ``fields``) with its ScopeSpans head before it as
    one more bytes field, and that head: the span's length is the pack's, so the head is fixed with the
    pack (what ``spans_proto`` looked up and appended as a piece of its own per span)."""
    head = span_head(struct.calcsize("<" + fields))
    return struct.Struct(f"<{len(head)}s{fields}").pack, head


#: at most this many packs kept per template by their fields' lengths (the last one's apart)
_PACKS_MAX: Final = 256


def _wire(shape: SpanShape | None) -> bytes:
    """The shape's key-values as protobuf (b"" when it has none)."""
    assert shape is not None  # a template without a shape writes its records through span_proto
    found = shape.wire
    if found is None:
        found = shape.wire = attributes_proto(shape.attributes)
    return found


def _json(text: Any) -> str:
    """``text`` as a JSON string, from the batch's cache (orjson's JSONEncodeError for a surrogate
    escape propagates to the template's slow path, as before)."""
    if type(text) is not str:
        return _dumps(text).decode()
    found = _BATCH.get(text)
    if found is None:
        found = _dumps(text).decode()
        if len(_BATCH) < _BATCH_MAX:
            _BATCH[text] = found
    return found


def _time(ns: Any) -> str:
    """A span time as text. Compiled, an ``int`` (what every layer records) is formatted by mypyc as a
    machine word (~540 instructions) where ``str()`` of an ``Any`` took CPython's general conversion
    with a scratch number and signal checks (~700 and more, 11 times a P1 request, 2026-12-02);
    anything else as ``str()`` writes it, in both builds."""
    if type(ns) is int:
        value: int = ns
        return str(value)
    return str(ns)


def _id_text(v: Any) -> str:
    """A span id as JSON's hex text: the layers' raw bytes hexed, a text id as it is."""
    if type(v) is bytes:
        raw: bytes = v
        return raw.hex()
    return str(v)


def _trace_text(v: Any) -> str:
    """A record's trace id as hex text: the layers record their ids' protobuf head (``TraceState.wire``,
    the 16 bytes between the two fields' tags and lengths), a text id as it is."""
    if type(v) is bytes:
        raw: bytes = v
        return raw[2:-2].hex()
    return str(v)


def _int(v: Any) -> str:
    """An int value (a status code, a size) as text: from :data:`_INTS` when small, else as ``str()``
    writes it (any other type too, in both builds)."""
    if type(v) is int:
        n: int = v
        if 0 <= n < _INTS_END:
            return _INTS[n]
        return str(n)
    return str(v)


def _client_texts(target: Any, host: Any, agent: Any, addr: Any) -> str:
    """The SERVER span's four client key-values as one text (kept for the batch when all four are
    plain strings; anything else is written each time, orjson's errors propagating as before)."""
    if type(target) is str and type(host) is str and type(agent) is str and type(addr) is str:
        key = (target, host, agent, addr)
        found = _CLIENTS.get(key)
        if found is not None:
            return found
    else:
        key = None
    found = (
        f'{{"key":"url.full","value":{{"stringValue":{_json(target)}}}}},'
        f'{{"key":"server.address","value":{{"stringValue":{_json(host)}}}}},'
        f'{{"key":"user_agent.original","value":{{"stringValue":{_json(agent)}}}}},'
        f'{{"key":"client.address","value":{{"stringValue":{_json(addr)}}}}},'
    )
    if key is not None and len(_CLIENTS) < _BATCH_MAX:
        _CLIENTS[key] = found
    return found


def _client_wires(target: Any, host: Any, agent: Any, addr: Any) -> bytes:
    """The SERVER span's four client key-values as protobuf (kept for the batch as :func:`_client_texts`)."""
    if type(target) is str and type(host) is str and type(agent) is str and type(addr) is str:
        last = _LAST_CLIENT
        # the last span's four strings first: four string compares where the dict's tuple key took a
        # tuple and four string hashes (~1.2 k machine instructions a span, callgrind, round 12, ``trace6``),
        # typed ``str`` on both sides: mypyc's length and memcmp compare, where ``Any == Any`` went
        # through ``PyObject_RichCompare`` (~120 machine instructions a compare, round 19, ``trace13``)
        t: str = target
        h: str = host
        a: str = agent
        c: str = addr
        t0: str = last[0]
        h0: str = last[1]
        a0: str = last[2]
        c0: str = last[3]
        if t == t0 and h == h0 and a == a0 and c == c0:
            kept: bytes = last[4]
            return kept
        key = (target, host, agent, addr)
        found = _CLIENT_WIRES.get(key)
        if found is None:
            found = _four_wires(target, host, agent, addr)
            if len(_CLIENT_WIRES) < _BATCH_MAX:
                _CLIENT_WIRES[key] = found
        last[:] = (target, host, agent, addr, found)
        return found
    return _four_wires(target, host, agent, addr)


def _four_wires(target: Any, host: Any, agent: Any, addr: Any) -> bytes:
    """The SERVER span's four client key-values as protobuf, written."""
    return b"".join((_K_URL.of_str(target), _K_HOST.of_str(host), _K_AGENT.of_str(agent), _K_ADDR.of_str(addr)))


def end_batch() -> None:
    """Forget the batch's client texts (``spans_body`` and ``spans_proto`` call it when a batch is written)."""
    _BATCH.clear()
    _CLIENTS.clear()
    _CLIENT_WIRES.clear()
    _URL_WIRES.clear()
    _LAST_CLIENT[:] = _NO_CLIENT


def _url_wire(url: Any) -> bytes:
    """The CLIENT span's ``url.full`` key-value, kept for the batch when a plain string."""
    if type(url) is not str:
        return _K_URL.of_str(url)
    found = _URL_WIRES.get(url)
    if found is None:
        found = _K_URL.of_str(url)
        if len(_URL_WIRES) < _BATCH_MAX:
            _URL_WIRES[url] = found
    return found


def _clean(r: Record) -> Record:
    """A record whose strings hold no surrogate escape (a client's bytes that were not UTF-8), each
    written as U+FFFD, and whose ints over 64 bits are text (OTLP's intValue is an int64: a collector
    refuses the whole batch): the templates' slow path when orjson refused one."""
    return tuple(
        valid_text(v) if type(v) is str else str(v) if type(v) is int and not -INT64_END <= v < INT64_END else v
        for v in r
    )


def _retried(template: Any, r: Record) -> str:
    """The slow path of a record orjson refused: a string with a surrogate escape (a client's bytes
    that were not UTF-8), or a value that is no string at all (orjson's JSONEncodeError is a
    TypeError: an int over 64 bits too). Cleaned once and written once more field by field through
    :func:`span_text`, which never calls a template's ``text``: no recursion (it overflowed the C
    stack when compiled). What fails there too propagates: the exporter drops that span and counts it."""
    return span_text(template.span(_clean(r)))


def _fixed(shape: SpanShape | None) -> str:
    """The shape's key-values as text with a trailing comma ("" when it has none)."""
    assert shape is not None  # a template without a shape writes its records through span_text
    found = shape.encoded
    if found is None:
        found = shape.encoded = attributes_text(shape.attributes)
    return found + "," if found else ""


def _made(template: Any, r: Record, name: str, kind: int, attrs: dict[str, Any]) -> Span:
    """A template's span: the shape's attributes apart, or (no shape: a ``static`` key is also
    written per request) everything in one dict where the per-request values win, as before."""
    shape = template.shape
    if shape is None:
        attrs = {**template.base, **attrs}
    return Span.made(r, name, kind, attrs, shape)


class ServerTemplate(SpanTemplate):
    """The edge's SERVER span. Values: method, route label, target (redacted), host, user agent,
    client address, request body size (or None), request id (or ""), status code, response size.
    The attributes that follow from the method and the route (with the shape's) are one text kept
    per pair; the four client texts are JSON-escaped by orjson inline (a helper call each cost
    ~15 opcodes)."""

    def __init__(self, shape: SpanShape) -> None:
        self.shape = shape
        self._routes: dict[tuple[str, str], str] = {}
        #: the same per pair as protobuf: name, kind, the shape's key-values, method and route
        self._wires: dict[tuple[str, str], bytes] = {}
        #: the last span's (method, route label) and its protobuf (compared as ``str``: no rich compare)
        self._last_method = "\0"
        self._last_label = ""
        self._last_route = b""
        #: the usual span's framed pack (:func:`_framed_pack`) and head for its pieces' lengths: the
        #: last one's lengths (ints compared, no tuple made) and the others' by their lengths' tuple
        self._packs: dict[tuple[int, ...], tuple[Any, bytes]] = {}
        self._pack: Any = None
        self._frame = b""
        self._n_parent = -1
        self._n_route = -1
        self._n_client = -1
        self._n_body = -1
        self._n_rid = -1
        self._n_code = -1
        self._n_size = -1

    def _route_wire(self, method: str, label: str) -> bytes:
        if len(self._wires) >= _ROUTES_MAX:
            self._wires.clear()
        found = self._wires[(method, label)] = self._route_bytes(method, label)
        return found

    def _route_bytes(self, method: Any, label: Any) -> bytes:
        """Name, kind, the shape's key-values, method and route, written."""
        return b"".join((
            _name_kind(method + " " + label, SERVER), _wire(self.shape), _K_METHOD.of_str(method),
            _K_ROUTE.of_str(label),
        ))  # fmt: skip

    def _server_pack(self, lengths: tuple[int, ...]) -> None:
        """The usual span's pack for pieces of these lengths (the parent's flag first), kept."""
        found = self._packs.get(lengths)
        if found is None:
            if len(self._packs) >= _PACKS_MAX:
                self._packs.clear()
            ids = "20s8s2s8s" if lengths[0] else "20s8s"
            found = self._packs[lengths] = _framed_pack(ids + "cQcQ" + "".join([f"{n}s" for n in lengths[1:]]) + "2s")
        self._pack, self._frame = found
        (self._n_parent, self._n_route, self._n_client, self._n_body, self._n_rid, self._n_code,
         self._n_size) = lengths  # fmt: skip

    def proto(self, r: Record) -> bytes:
        return unframed(self.framed(r))

    def framed(self, r: Record) -> bytes:
        method = r[8]
        label = r[9]
        # the last span's pair first: two compares where the dict's tuple key took a tuple and its
        # hash (round 12, ``trace6``), typed ``str`` (as :func:`_client_wires`' compares)
        if type(method) is str and type(label) is str:
            m: str = method
            n: str = label
            if m == self._last_method and n == self._last_label:
                route = self._last_route
            else:
                route = self._wires.get((m, n)) or self._route_wire(m, n)
                self._last_method = m
                self._last_label = n
                self._last_route = route
        else:  # written, never kept (see ClientTemplate.framed's peer)
            route = self._route_bytes(method, label)
        trace = r[1]
        own = r[2]
        parent = r[3]
        body = r[14]
        rid = r[15]
        client = _client_wires(r[10], r[11], r[12], r[13])
        sized = _K_BODY.of_int(body) if body is not None and 0 <= body < INT64_END else b""
        rid_kv = _K_RID.of_str(rid) if rid else b""
        code = _K_CODE.of_int(r[16])
        size = _K_SIZE.of_int(r[17])
        if (
            not r[6] and type(own) is bytes and type(trace) is bytes and len(trace) == 20 and len(own) == 8
            and (not parent or (type(parent) is bytes and len(parent) == 8))
        ):  # fmt: skip
            # the usual span (the layers' raw ids, no error): framed in one pack, no join (the same
            # bytes as the join below writes, and its head), the pack kept by its pieces' lengths
            n_parent = 1 if parent else 0
            n_route = len(route)
            n_client = len(client)
            n_body = len(sized)
            n_rid = len(rid_kv)
            n_code = len(code)
            n_size = len(size)
            if (
                n_parent != self._n_parent or n_route != self._n_route or n_client != self._n_client
                or n_body != self._n_body or n_rid != self._n_rid or n_code != self._n_code
                or n_size != self._n_size
            ):  # fmt: skip
                self._server_pack((n_parent, n_route, n_client, n_body, n_rid, n_code, n_size))
            if parent:
                packed: bytes = self._pack(self._frame, trace, own, PARENT_TAG, parent, _T_START, r[4], _T_END, r[5],
                                           route, client, sized, rid_kv, code, size, EMPTY_STATUS)  # fmt: skip
                return packed
            root: bytes = self._pack(self._frame, trace, own, _T_START, r[4], _T_END, r[5], route, client, sized,
                                     rid_kv, code, size, EMPTY_STATUS)  # fmt: skip
            return root
        return framed(b"".join((
            ids_times(r[1], r[2], r[3], r[4], r[5]),
            route,
            client,
            sized,
            rid_kv,
            code,
            size,
            status_proto(r[6], r[7]) if r[6] else EMPTY_STATUS,
        )))  # fmt: skip

    def _route(self, method: str, label: str) -> str:
        """``"name":…,"kind":2,"attributes":[`` and the fixed attributes, method and route first, for
        one pair: one piece of the span's text (the span's name and kind follow its times, so that
        what a route fixes is contiguous; a JSON object's members are unordered)."""
        if len(self._routes) >= _ROUTES_MAX:
            self._routes.clear()
        found = self._routes[(method, label)] = (
            f'"name":{name_text(method + " " + label)},"kind":2,"attributes":[{_fixed(self.shape)}'
            f'{{"key":"http.request.method","value":{{"stringValue":{name_text(method)}}}}},'
            f'{{"key":"http.route","value":{{"stringValue":{name_text(label)}}}}},'
        )
        return found

    def text(self, r: Record) -> str:
        # the values by index, not ``r[8:]`` unpacked (a tuple made and freed per span)
        method = r[8]
        label = r[9]
        route = self._routes.get((method, label)) or self._route(method, label)
        body = r[14]
        extra = ""
        if body is not None and 0 <= body < INT64_END:
            extra = f'{{"key":"http.request.body.size","value":{{"intValue":"{_int(body)}"}}}},'
        # the request id's key-value as three parts of the span's f-string, not a string made apart:
        # an id krakenpy made or one valid_request_id let in (no character JSON escapes)
        rid = r[15]
        rid_head, rid_text, rid_tail = (_RID_HEAD, str(rid), '"}},') if rid else ("", "", "")
        parent = f'"parentSpanId":"{_id_text(r[3])}",' if r[3] else ""
        # out of the try: status_text's TypeError is no JSONEncodeError
        tail = _SERVER_OK if not r[6] else f'"}}}}],"status":{status_text(r[6], r[7])}}}'
        try:
            return (
                f'{{"traceId":"{_trace_text(r[1])}","spanId":"{_id_text(r[2])}",{parent}"startTimeUnixNano":"{_time(r[4])}",'
                f'"endTimeUnixNano":"{_time(r[5])}",{route}{_client_texts(r[10], r[11], r[12], r[13])}{extra}'
                f'{rid_head}{rid_text}{rid_tail}{{"key":"http.response.status_code","value":{{"intValue":"{_int(r[16])}"}}}},'
                f'{{"key":"http.response.body.size","value":{{"intValue":"{_int(r[17])}{tail}'
            )
        except orjson.JSONEncodeError:
            return _retried(self, r)

    def span(self, r: Record) -> Span:
        method, label, target, host, agent, addr, body, rid, code, size = r[8:]
        attrs: dict[str, Any] = {
            "http.request.method": method, "http.route": label, "url.full": target, "server.address": host,
            "user_agent.original": agent, "client.address": addr,
        }  # fmt: skip
        # an int: a size out of int64 is text after _clean (the slow path of a client's invalid text),
        # and left off as the fast path leaves it off (compared with 0, it raised: the span was dropped)
        if isinstance(body, int) and 0 <= body < INT64_END:
            attrs["http.request.body.size"] = body
        if rid:
            attrs["http.request.id"] = rid
        attrs["http.response.status_code"] = code
        attrs["http.response.body.size"] = size
        return Span.made(r, f"{method} {label}", SERVER, attrs, self.shape)


class CallTemplate(SpanTemplate):
    """A proxy or backend INTERNAL span. Values: complete, canceled, status code (None unless the
    call raised)."""

    def __init__(self, name: str, shape: SpanShape | None, base: dict[str, Any]) -> None:
        self.name = name
        self.shape = shape
        self.base = base
        self.head: str | None = None
        #: the usual span (a parent, no error, not canceled): its fixed text between the end time and
        #: the ``complete`` flag (name, kind, the shape's attributes), made on first use, written by one
        #: f-string (a %-format of the same span parses its ~450-character format on every call: the
        #: whole ``text()`` 1.23x the f-string's instructions, pure Python, callgrind, 2026-12-02
        #: review; more when compiled)
        self.usual: str | None = None
        #: name, kind and the shape's key-values as protobuf, made on first use
        self.wire: bytes | None = None
        #: the usual span's protobuf after its times (the wire, ``complete`` false / true, an empty
        #: status) and the pack that writes it framed after the ids and times (and the head it
        #: frames it with: :func:`_framed_pack`): made with the wire
        self._open = b""
        self._done = b""
        self._usual: Any = None
        self._frame = b""

    def _made_wire(self) -> bytes:
        wire = self.wire = _name_kind(self.name, INTERNAL) + _wire(self.shape)
        self._open = wire + _W_COMPLETE[0] + EMPTY_STATUS
        self._done = wire + _W_COMPLETE[1] + EMPTY_STATUS
        self._usual, self._frame = _framed_pack(f"20s8s2s8scQcQ{len(self._done)}s")
        return wire

    def proto(self, r: Record) -> bytes:
        return unframed(self.framed(r))

    def framed(self, r: Record) -> bytes:
        if self.shape is None:
            return framed(span_proto(self.span(r)))
        wire = self.wire
        if wire is None:
            wire = self._made_wire()
        code = r[10]
        trace = r[1]
        own = r[2]
        parent = r[3]
        complete = r[8]
        if (
            code is None and not r[9] and not r[6] and type(complete) is bool
            and type(own) is bytes and type(trace) is bytes and type(parent) is bytes
            and len(trace) == 20 and len(own) == 8 and len(parent) == 8
        ):  # fmt: skip
            # the usual span (the layers' raw ids, a parent, no status code, not canceled, no error):
            # the whole span framed in one pack, no join (the same bytes as the join below writes)
            packed: bytes = self._usual(
                self._frame, trace, own, PARENT_TAG, parent, _T_START, r[4], _T_END, r[5],
                self._done if complete else self._open,
            )  # fmt: skip
            return packed
        return framed(b"".join((
            ids_times(r[1], r[2], r[3], r[4], r[5]),
            wire,
            b"" if code is None else _K_CODE.of_int(code),
            _W_COMPLETE[r[8]],
            _W_CANCELED if r[9] else b"",
            status_proto(r[6], r[7]) if r[6] else EMPTY_STATUS,
        )))  # fmt: skip

    def text(self, r: Record) -> str:
        usual = self.usual
        if usual is not None and r[3] and not r[6] and r[10] is None and not r[9]:
            return (
                f'{{"traceId":"{_trace_text(r[1])}","spanId":"{_id_text(r[2])}","parentSpanId":"{_id_text(r[3])}",'
                f'"startTimeUnixNano":"{_time(r[4])}","endTimeUnixNano":"{_time(r[5])}",{usual}{_CALL_OK[r[8]]}'
            )
        if self.shape is None:
            return span_text(self.span(r))
        head = self.head
        if head is None:
            head = self.head = f'"name":{q(self.name)},"kind":1,'
        if usual is None:
            self.usual = f'{head}"attributes":[{_fixed(self.shape)}{{"key":"complete","value":{{"boolValue":'
        complete = r[8]
        canceled = r[9]
        code = r[10]
        own = f'{{"key":"complete","value":{{"boolValue":{_BOOL[complete]}}}}}'
        if code is not None:
            own = f'{{"key":"http.response.status_code","value":{{"intValue":"{_int(code)}"}}}},' + own
        if canceled:
            own += ',{"key":"canceled","value":{"boolValue":true}}'
        parent = f'"parentSpanId":"{_id_text(r[3])}",' if r[3] else ""
        return (
            f'{{"traceId":"{_trace_text(r[1])}","spanId":"{_id_text(r[2])}",{parent}"startTimeUnixNano":"{_time(r[4])}",'
            f'"endTimeUnixNano":"{_time(r[5])}",{head}"attributes":[{_fixed(self.shape)}{own}],'
            f'"status":{status_text(r[6], r[7]) if r[6] else _OK}}}'
        )

    def span(self, r: Record) -> Span:
        complete, canceled, code = r[8:]
        attrs: dict[str, Any] = {} if code is None else {"http.response.status_code": code}
        attrs["complete"] = complete
        if canceled:
            attrs["canceled"] = True
        return _made(self, r, self.name, INTERNAL, attrs)


class ClientTemplate(SpanTemplate):
    """An HTTP backend's CLIENT span. Values: URL (redacted), host, port, method, request body size,
    status code, response size, ``(get-conn, dns, tls)`` seconds or None, first-byte time or 0."""

    def __init__(self, name: str, shape: SpanShape | None, base: dict[str, Any]) -> None:
        self.name = name
        self.shape = shape
        self.base = base
        self.head: str | None = None
        #: the fixed attributes with server.address, server.port and the method, by (host, port,
        #: method): a backend's calls repeat them (bounded: dynamic routing may vary the host); with
        #: the usual span's piece: name, kind, those attributes and url.full's head, one text
        self._peers: dict[tuple[str, int, str], tuple[str, str]] = {}
        #: the same as protobuf: name, kind, the shape's key-values, address, port and method, after the
        #: first-byte event's name (the usual span's event ends right before them: one packed piece)
        self._peer_wires: dict[tuple[str, int, str], bytes] = {}
        #: the last span's (host, port, method) and its protobuf: three compares where the dict's
        #: tuple key took a tuple and its hash (~0.6 k machine instructions a span, round 12, ``trace6``),
        #: typed (``str``, ``int``, ``str``: no rich compare)
        self._last_host = "\0"
        self._last_port = 0
        self._last_method = ""
        self._last_peer = b""
        #: the usual span's framed pack and head by its pieces' lengths, as :class:`ServerTemplate`'s
        self._packs: dict[tuple[int, ...], tuple[Any, bytes]] = {}
        self._pack: Any = None
        self._frame = b""
        self._n_peer = -1
        self._n_url = -1
        self._n_body = -1
        self._n_code = -1
        self._n_size = -1
        self._n_tail = -1

    def _peer_wire(self, key: tuple[str, int, str]) -> bytes:
        if len(self._peer_wires) >= _ROUTES_MAX:
            self._peer_wires.clear()
        found = self._peer_wires[key] = self._peer_bytes(*key)
        return found

    def _peer_bytes(self, host: Any, port: Any, method: Any) -> bytes:
        """The event's name, name, kind, the shape's key-values, host, port and method, written."""
        return b"".join((
            _W_EVENT_NAME, _name_kind(self.name, CLIENT), _wire(self.shape), _K_HOST.of_str(host), _K_PORT.of_int(port),
            _K_METHOD.of_str(method),
        ))  # fmt: skip

    def _client_pack(self, lengths: tuple[int, ...]) -> None:
        """The usual span's pack for pieces of these lengths, kept."""
        found = self._packs.get(lengths)
        if found is None:
            if len(self._packs) >= _PACKS_MAX:
                self._packs.clear()
            found = self._packs[lengths] = _framed_pack(
                f"20s8s2s8scQcQ{len(_W_EVENT_TIME)}sQ" + "".join([f"{n}s" for n in lengths])
            )
        self._pack, self._frame = found
        self._n_peer, self._n_url, self._n_body, self._n_code, self._n_size, self._n_tail = lengths

    def proto(self, r: Record) -> bytes:
        return unframed(self.framed(r))

    def framed(self, r: Record) -> bytes:
        if self.shape is None:
            return framed(span_proto(self.span(r)))
        host = r[9]
        port = r[10]
        method = r[11]
        if type(host) is str and type(port) is int and type(method) is str:
            h: str = host
            p: int = port
            m: str = method
            if h == self._last_host and p == self._last_port and m == self._last_method:
                peer = self._last_peer
            else:
                key = (h, p, m)
                peer = self._peer_wires.get(key) or self._peer_wire(key)
                self._last_host = h
                self._last_port = p
                self._last_method = m
                self._last_peer = peer
        else:
            # written, never kept: a key of other types compares equal to a usual one (80.0 == 80, a
            # str subclass) and would hand the usual record this one's bytes (round 25 review)
            peer = self._peer_bytes(host, port, method)
        conn = r[15]
        extra = b""
        tail = EMPTY_STATUS
        if conn is not None:
            # the client layer records the kept-alive tuple itself (an identity test, no float compares)
            if conn is KEPT_ALIVE or conn == _KEPT_ALIVE:
                extra = _W_KEPT_ALIVE
                tail = _W_KEPT_ALIVE_OK
            else:
                get_conn, dns, tls = conn
                extra = _K_GET_CONN.of_double(get_conn) + _K_DNS.of_double(dns) + _K_TLS.of_double(tls)
                tail = extra + EMPTY_STATUS
        first_byte = r[16]
        trace = r[1]
        own = r[2]
        parent = r[3]
        url = _url_wire(r[8])
        body = _K_BODY.of_int(r[12])
        code = _K_CODE.of_int(r[13])
        size = _K_SIZE.of_int(r[14])
        if (
            first_byte and not r[6] and type(own) is bytes and type(trace) is bytes and type(parent) is bytes
            and len(trace) == 20 and len(own) == 8 and len(parent) == 8
        ):  # fmt: skip
            # the usual span (the layers' raw ids, a parent, a first byte, no error): framed in one
            # pack, no join (the same bytes as the join below writes, and its head)
            n_peer = len(peer)
            n_url = len(url)
            n_body = len(body)
            n_code = len(code)
            n_size = len(size)
            n_tail = len(tail)
            if (
                n_peer != self._n_peer or n_url != self._n_url or n_body != self._n_body or n_code != self._n_code
                or n_size != self._n_size or n_tail != self._n_tail
            ):  # fmt: skip
                self._client_pack((n_peer, n_url, n_body, n_code, n_size, n_tail))
            packed: bytes = self._pack(self._frame, trace, own, PARENT_TAG, parent, _T_START, r[4], _T_END, r[5],
                                       _W_EVENT_TIME, first_byte, peer, url, body, code, size,
                                       tail)  # fmt: skip
            return packed
        if (
            first_byte and type(own) is bytes and type(trace) is bytes and type(parent) is bytes
            and len(trace) == 20 and len(own) == 8 and len(parent) == 8
        ):  # fmt: skip
            # raw ids, a parent, a first byte (and an error): ids, times and event in one call
            head = _IDS_TIMES_FIRST_BYTE(trace, own, PARENT_TAG, parent, 0x39, r[4], 0x41, r[5], _W_EVENT_TIME,
                                         first_byte)  # fmt: skip
        elif first_byte:
            head = ids_wire(trace, own, parent) + _TIMES_FIRST_BYTE(0x39, r[4], 0x41, r[5], _W_EVENT_TIME, first_byte)
        else:  # no event: the peer's protobuf without the event's name
            head = ids_times(trace, own, parent, r[4], r[5])
            peer = peer[len(_W_EVENT_NAME) :]
        return framed(b"".join((
            head,
            peer,
            url,
            body,
            code,
            size,
            extra,
            status_proto(r[6], r[7]) if r[6] else EMPTY_STATUS,
        )))  # fmt: skip

    def _peer(self, key: tuple[str, int, str]) -> tuple[str, str]:
        if len(self._peers) >= _ROUTES_MAX:
            self._peers.clear()
        host, port, method = key
        head = self.head
        if head is None:
            head = self.head = f'"name":{q(self.name)},"kind":3,'
        fixed = (
            f'{_fixed(self.shape)}{{"key":"server.address","value":{{"stringValue":{q(host)}}}}},'
            f'{{"key":"server.port","value":{{"intValue":"{str(port)}"}}}},'
            f'{{"key":"http.request.method","value":{{"stringValue":{name_text(method)}}}}},'
        )
        found = self._peers[key] = (fixed, f'{head}"attributes":[{fixed}{{"key":"url.full","value":{{"stringValue":')
        return found

    def text(self, r: Record) -> str:
        if self.shape is None:
            return span_text(self.span(r))
        key = (r[9], r[10], r[11])  # host, port, method
        fixed, usual = self._peers.get(key) or self._peer(key)
        head = self.head
        assert head is not None  # set with the first peer
        conn = r[15]
        first_byte = r[16]
        status = status_text(r[6], r[7]) if r[6] else _OK  # out of the try: its TypeError is no JSONEncodeError
        try:
            extra = ""
            if conn is not None:
                if conn == _KEPT_ALIVE:  # a kept-alive connection's: no wait, no DNS, no TLS (the usual call)
                    extra = _KEPT_ALIVE_TEXT
                else:
                    # the three in one orjson call ("[a,b,c]": ryu's shortest text, no comma in a
                    # number) where repr() ran CPython's dtoa per float (~1.2 µs for 15 digits, 2026-12-02)
                    get_conn, dns, tls = _dumps(conn).decode()[1:-1].split(",")
                    extra = (
                        f',{{"key":"get-conn-duration","value":{{"doubleValue":{get_conn}}}}},'
                        f'{{"key":"dns-duration","value":{{"doubleValue":{dns}}}}},'
                        f'{{"key":"tls-duration","value":{{"doubleValue":{tls}}}}}'
                    )
            if r[3] and first_byte and not r[6]:
                # the usual span (a parent, a first byte, no error): one f-string, its times before the
                # name, so that what the backend and peer fix is one piece (a JSON object's members
                # are unordered)
                return (
                    f'{{"traceId":"{_trace_text(r[1])}","spanId":"{_id_text(r[2])}","parentSpanId":"{_id_text(r[3])}",'
                    f'"startTimeUnixNano":"{_time(r[4])}","endTimeUnixNano":"{_time(r[5])}",{usual}{_json(r[8])}}}}},'
                    f'{{"key":"http.request.body.size","value":{{"intValue":"{_int(r[12])}"}}}},'
                    f'{{"key":"http.response.status_code","value":{{"intValue":"{_int(r[13])}"}}}},'
                    f'{{"key":"http.response.body.size","value":{{"intValue":"{_int(r[14])}"}}}}{extra}],'
                    f'"status":{{"code":0}},"events":[{{"name":"first-byte-time","timeUnixNano":"{_time(first_byte)}",'
                    '"attributes":[]}]}'
                )
            parent = f'"parentSpanId":"{_id_text(r[3])}",' if r[3] else ""
            events = ""
            if first_byte:
                at = _time(first_byte)
                events = f',"events":[{{"name":"first-byte-time","timeUnixNano":"{at}","attributes":[]}}]'
            return (
                f'{{"traceId":"{_trace_text(r[1])}","spanId":"{_id_text(r[2])}",{parent}"startTimeUnixNano":"{_time(r[4])}",'
                f'"endTimeUnixNano":"{_time(r[5])}",{head}"attributes":[{fixed}'
                f'{{"key":"url.full","value":{{"stringValue":{_json(r[8])}}}}},'
                f'{{"key":"http.request.body.size","value":{{"intValue":"{_int(r[12])}"}}}},'
                f'{{"key":"http.response.status_code","value":{{"intValue":"{_int(r[13])}"}}}},'
                f'{{"key":"http.response.body.size","value":{{"intValue":"{_int(r[14])}"}}}}{extra}],'
                f'"status":{status}{events}}}'
            )
        except orjson.JSONEncodeError:
            return _retried(self, r)

    def span(self, r: Record) -> Span:
        url, host, port, method, body, code, size, conn, first_byte = r[8:]
        attrs: dict[str, Any] = {
            "server.address": host, "server.port": port, "http.request.method": method, "url.full": url,
            "http.request.body.size": body, "http.response.status_code": code, "http.response.body.size": size,
        }  # fmt: skip
        if conn is not None:
            attrs["get-conn-duration"], attrs["dns-duration"], attrs["tls-duration"] = conn
        span = _made(self, r, self.name, CLIENT, attrs)
        if first_byte:
            span.events = [("first-byte-time", first_byte, {})]
        return span


class ReadTemplate(SpanTemplate):
    """The body-read span (``read_payload``). Values: bytes read, seconds."""

    def __init__(self, shape: SpanShape | None, base: dict[str, Any]) -> None:
        self.shape = shape
        self.base = base
        #: name, kind, the shape's attributes and the size's head: one piece after the span's times
        self.usual: str | None = None
        #: name, kind and the shape's key-values as protobuf, made on first use
        self.wire: bytes | None = None
        #: the usual span's pack (ids, times, the wire, the size's key-value, the seconds' key-value
        #: head and the double, an empty status) for the size's key-value of ``_size_len`` bytes
        self._size_len = -1
        self._usual: Any = None
        #: the head the pack frames the span with (:func:`_framed_pack`)
        self._frame = b""
        self._time_head = _K_READ_TIME.of_double(0.0)[:-8]

    def _pack(self, wire: bytes, n: int) -> Any:
        """The usual span's pack for a size key-value of ``n`` bytes (kept for the next span)."""
        self._usual, self._frame = _framed_pack(f"20s8s2s8scQcQ{len(wire)}s{n}s{len(self._time_head)}sd2s")
        self._size_len = n
        return self._usual

    def proto(self, r: Record) -> bytes:
        return unframed(self.framed(r))

    def framed(self, r: Record) -> bytes:
        if self.shape is None:
            return framed(span_proto(self.span(r)))
        wire = self.wire
        if wire is None:
            wire = self.wire = _name_kind(_READ + "tracker", INTERNAL) + _wire(self.shape)
        trace = r[1]
        own = r[2]
        parent = r[3]
        seconds = r[9]
        if (
            not r[6] and type(seconds) is float and type(own) is bytes and type(trace) is bytes
            and type(parent) is bytes and len(trace) == 20 and len(own) == 8 and len(parent) == 8
        ):  # fmt: skip
            # the usual span (the layers' raw ids, a parent, no error): one pack, no join and no
            # double packed apart (the same bytes as the join below writes)
            size = _K_READ_SIZE.of_int(r[8])
            n = len(size)
            pack = self._usual if n == self._size_len else self._pack(wire, n)
            packed: bytes = pack(
                self._frame, trace, own, PARENT_TAG, parent, _T_START, r[4], _T_END, r[5], wire, size, self._time_head,
                seconds, EMPTY_STATUS,
            )  # fmt: skip
            return packed
        return framed(b"".join((
            ids_times(r[1], r[2], r[3], r[4], r[5]),
            wire,
            _K_READ_SIZE.of_int(r[8]),
            _K_READ_TIME.of_double(r[9]),
            status_proto(r[6], r[7]) if r[6] else EMPTY_STATUS,
        )))  # fmt: skip

    def text(self, r: Record) -> str:
        if self.shape is None:
            return span_text(self.span(r))
        usual = self.usual
        if usual is None:
            usual = self.usual = (
                f'"name":"{_READ}tracker","kind":1,"attributes":[{_fixed(self.shape)}'
                f'{{"key":"{_READ}size","value":{{"intValue":"'
            )
        parent = f'"parentSpanId":"{_id_text(r[3])}",' if r[3] else ""
        # out of the try: status_text's TypeError is no JSONEncodeError
        tail = _READ_OK if not r[6] else f'}}}}],"status":{status_text(r[6], r[7])}}}'
        try:
            # the seconds by orjson (ryu's shortest text; repr() ran CPython's dtoa: ~4x as long)
            return (
                f'{{"traceId":"{_trace_text(r[1])}","spanId":"{_id_text(r[2])}",{parent}"startTimeUnixNano":"{_time(r[4])}",'
                f'"endTimeUnixNano":"{_time(r[5])}",{usual}{_int(r[8])}"}}}},'
                f'{{"key":"{_READ}time","value":{{"doubleValue":{_dumps(r[9]).decode()}{tail}'
            )
        except orjson.JSONEncodeError:
            return _retried(self, r)

    def span(self, r: Record) -> Span:
        size, seconds = r[8:]
        return _made(self, r, _READ + "tracker", INTERNAL, {_READ + "size": size, _READ + "time": seconds})


#: the kinds of :func:`native_plan` (the native encoder's, ``_spanwire.c``)
_PLAN_SERVER: Final = 1
_PLAN_CALL: Final = 2
_PLAN_CLIENT: Final = 3
_PLAN_READ: Final = 4


def native_plan(template: Any) -> tuple[Any, ...] | None:
    """What the native batch encoder (:mod:`krakenpy.telemetry.trace._spanwire`, when built) needs of a
    template to write its usual spans itself, asked once per template and kept by it: ``(kind, the
    template's constant protobuf…)``, or None for a template it leaves to ``framed`` (another class, no
    shape). The pieces are the ones this module's packs copy: the SERVER span's shape key-values (the
    name, kind, method, route and client key-values are written from the record), the proxy or backend
    span's end when not complete and when complete, the CLIENT span's event name, name, kind and shape
    key-values, the body-read span's name, kind and shape key-values."""
    kind = type(template)
    if kind is ServerTemplate:
        server: ServerTemplate = template
        return (_PLAN_SERVER, _wire(server.shape))
    if kind is CallTemplate:
        call: CallTemplate = template
        if call.shape is None:
            return None
        if call.wire is None:
            call._made_wire()
        return (_PLAN_CALL, call._open, call._done)
    if kind is ClientTemplate:
        client: ClientTemplate = template
        if client.shape is None:
            return None
        return (_PLAN_CLIENT, _W_EVENT_NAME + _name_kind(client.name, CLIENT) + _wire(client.shape))
    if kind is ReadTemplate:
        read: ReadTemplate = template
        if read.shape is None:
            return None
        wire = read.wire
        if wire is None:
            wire = read.wire = _name_kind(_READ + "tracker", INTERNAL) + _wire(read.shape)
        return (_PLAN_READ, wire)
    return None
