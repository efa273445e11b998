"""The layers' span templates: per layer, the OTLP/JSON text of what is fixed (name, kind, the
shape's attributes, the keys of the per-request ones) made once, so writing a record is one
f-string with its values. Each template can also make a :class:`Span` of a record (OpenCensus).

A record is ``(template, trace_id, span_id, parent_id, start_ns, end_ns, status, message, *values)``;
the values each template takes are listed on it. A record's values are ``Any`` to mypyc, which writes
an f-string placeholder of an ``Any`` value as a ``str.format`` call (~2k machine instructions each,
12 in the body-read span: 21k of its 30k, 2026-12-02): the placeholders say ``str(…)``, which it
writes as one C call each (what the interpreter's f-string does without saying so). Durations are
written by orjson (ryu's shortest text, the same double as ``repr``'s, ~4x cheaper than CPython's
dtoa), a batch's client strings are JSON-encoded once per batch (:func:`end_batch`), and span times
go through :func:`_time` (an ``int`` formatted as a machine word when compiled).
Replaced per-attribute cache lookups and joins:
(see bench/README.md, "round 7: branch spanrec" and "round 9: branch tracecut")."""

from __future__ import annotations

from typing import Any, Final

import orjson

from krakenpy.gojson import valid_text
from krakenpy.telemetry.trace.otlptext import attributes_text, name_text, q, span_text, status_text
from krakenpy.telemetry.trace.spans import CLIENT, INTERNAL, SERVER, Record, Span, SpanShape, SpanTemplate

__all__ = ["INT64_END", "CallTemplate", "ClientTemplate", "ReadTemplate", "ServerTemplate", "end_batch"]

_READ: Final = "http.client.response.read."
_BOOL: Final = ("false", "true")
_OK: Final = '{"code":0}'
_dumps: Final = orjson.dumps
#: the (method, route) texts a SERVER template keeps (bounded: a client chooses the method)
_ROUTES_MAX: Final = 1024
_RID_HEAD: Final = '{"key":"http.request.id","value":{"stringValue":"'
#: a kept-alive connection's (get-conn, dns, tls) seconds, and their text (written without orjson)
_KEPT_ALIVE: Final = (0.0, 0.0, 0.0)
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


def end_batch() -> None:
    """Forget the batch's client texts (``spans_body`` calls it when a batch is written)."""
    _BATCH.clear()


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
        self._routes: dict[tuple[str, str], tuple[str, str]] = {}

    def _route(self, method: str, label: str) -> tuple[str, str]:
        """``"name":…,"kind":2,`` and the fixed attributes, method and route first, for one pair."""
        if len(self._routes) >= _ROUTES_MAX:
            self._routes.clear()
        found = self._routes[(method, label)] = (
            f'"name":{name_text(method + " " + label)},"kind":2,',
            f'{_fixed(self.shape)}{{"key":"http.request.method","value":{{"stringValue":{name_text(method)}}}}},'
            f'{{"key":"http.route","value":{{"stringValue":{name_text(label)}}}}},',
        )
        return found

    def text(self, r: Record) -> str:
        method, label, target, host, agent, addr, body, rid, code, size = r[8:]
        head, fixed = self._routes.get((method, label)) or self._route(method, label)
        extra = ""
        if body is not None and 0 <= body < INT64_END:
            extra = f'{{"key":"http.request.body.size","value":{{"intValue":"{str(body)}"}}}},'
        # the request id's key-value as three parts of the span's f-string, not a string made apart:
        # an id krakenpy made or one valid_request_id let in (no character JSON escapes)
        rid_head, rid_text, rid_tail = (_RID_HEAD, str(rid), '"}},') if rid else ("", "", "")
        parent = f'"parentSpanId":"{str(r[3])}",' if r[3] else ""
        status = status_text(r[6], r[7]) if r[6] else _OK  # out of the try: its TypeError is no JSONEncodeError
        try:
            return (
                f'{{"traceId":"{str(r[1])}","spanId":"{str(r[2])}",{parent}{head}"startTimeUnixNano":"{_time(r[4])}","endTimeUnixNano":"{_time(r[5])}","attributes":[{fixed}'
                f'{{"key":"url.full","value":{{"stringValue":{_json(target)}}}}},'
                f'{{"key":"server.address","value":{{"stringValue":{_json(host)}}}}},'
                f'{{"key":"user_agent.original","value":{{"stringValue":{_json(agent)}}}}},'
                f'{{"key":"client.address","value":{{"stringValue":{_json(addr)}}}}},{extra}{rid_head}{rid_text}{rid_tail}'
                f'{{"key":"http.response.status_code","value":{{"intValue":"{str(code)}"}}}},'
                f'{{"key":"http.response.body.size","value":{{"intValue":"{str(size)}"}}}}],'
                f'"status":{status}}}'
            )
        except orjson.JSONEncodeError:
            return _retried(self, r)

    def span(self, r: Record) -> Span:
        method, label, target, host, agent, addr, body, rid, code, size = r[8:]
        attrs: dict[str, Any] = {
            "http.request.method": method, "http.route": label, "url.full": target, "server.address": host,
            "user_agent.original": agent, "client.address": addr,
        }  # fmt: skip
        if body is not None and 0 <= body < INT64_END:
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
        #: ``head`` (the usual path's copy: set with ``usual``)
        self.name_kind = ""
        #: the usual span (a parent, no error, not canceled): its fixed text between the start time
        #: and the ``complete`` flag, made on first use, written by one f-string (a %-format of the
        #: same span parses its ~450-character format on every call: the whole ``text()`` 1.23x the
        #: f-string's instructions, pure Python, callgrind, 2026-12-02 review; more when compiled)
        self.usual: str | None = None

    def text(self, r: Record) -> str:
        usual = self.usual
        if usual is not None and r[3] and not r[6] and r[10] is None and not r[9]:
            return (
                f'{{"traceId":"{str(r[1])}","spanId":"{str(r[2])}","parentSpanId":"{str(r[3])}",{self.name_kind}'
                f'"startTimeUnixNano":"{_time(r[4])}","endTimeUnixNano":"{_time(r[5])}",{usual}{_BOOL[r[8]]}}}}}],'
                '"status":{"code":0}}'
            )
        if self.shape is None:
            return span_text(self.span(r))
        head = self.head
        if head is None:
            head = self.head = f'"name":{q(self.name)},"kind":1,'
        if usual is None:
            self.name_kind = head
            self.usual = f'"attributes":[{_fixed(self.shape)}{{"key":"complete","value":{{"boolValue":'
        complete, canceled, code = r[8:]
        own = f'{{"key":"complete","value":{{"boolValue":{_BOOL[complete]}}}}}'
        if code is not None:
            own = f'{{"key":"http.response.status_code","value":{{"intValue":"{str(code)}"}}}},' + own
        if canceled:
            own += ',{"key":"canceled","value":{"boolValue":true}}'
        parent = f'"parentSpanId":"{str(r[3])}",' if r[3] else ""
        return (
            f'{{"traceId":"{str(r[1])}","spanId":"{str(r[2])}",{parent}{head}"startTimeUnixNano":"{_time(r[4])}",'
            f'"endTimeUnixNano":"{_time(r[5])}","attributes":[{_fixed(self.shape)}{own}],'
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
        #: method): a backend's calls repeat them (bounded: dynamic routing may vary the host)
        self._peers: dict[tuple[str, int, str], str] = {}

    def _peer(self, key: tuple[str, int, str]) -> str:
        if len(self._peers) >= _ROUTES_MAX:
            self._peers.clear()
        host, port, method = key
        found = self._peers[key] = (
            f'{_fixed(self.shape)}{{"key":"server.address","value":{{"stringValue":{q(host)}}}}},'
            f'{{"key":"server.port","value":{{"intValue":"{str(port)}"}}}},'
            f'{{"key":"http.request.method","value":{{"stringValue":{name_text(method)}}}}},'
        )
        return found

    def text(self, r: Record) -> str:
        if self.shape is None:
            return span_text(self.span(r))
        head = self.head
        if head is None:
            head = self.head = f'"name":{q(self.name)},"kind":3,'
        url, host, port, method, body, code, size, conn, first_byte = r[8:]
        key = (host, port, method)
        fixed = self._peers.get(key) or self._peer(key)
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
            if r[3] and first_byte:  # the usual span (a parent, a first byte): one f-string, no parts made apart
                return (
                    f'{{"traceId":"{str(r[1])}","spanId":"{str(r[2])}","parentSpanId":"{str(r[3])}",{head}'
                    f'"startTimeUnixNano":"{_time(r[4])}","endTimeUnixNano":"{_time(r[5])}","attributes":[{fixed}'
                    f'{{"key":"url.full","value":{{"stringValue":{_json(url)}}}}},'
                    f'{{"key":"http.request.body.size","value":{{"intValue":"{str(body)}"}}}},'
                    f'{{"key":"http.response.status_code","value":{{"intValue":"{str(code)}"}}}},'
                    f'{{"key":"http.response.body.size","value":{{"intValue":"{str(size)}"}}}}{extra}],'
                    f'"status":{status},"events":[{{"name":"first-byte-time","timeUnixNano":"{_time(first_byte)}",'
                    '"attributes":[]}]}'
                )
            parent = f'"parentSpanId":"{str(r[3])}",' if r[3] else ""
            events = ""
            if first_byte:
                at = _time(first_byte)
                events = f',"events":[{{"name":"first-byte-time","timeUnixNano":"{at}","attributes":[]}}]'
            return (
                f'{{"traceId":"{str(r[1])}","spanId":"{str(r[2])}",{parent}{head}"startTimeUnixNano":"{_time(r[4])}",'
                f'"endTimeUnixNano":"{_time(r[5])}","attributes":[{fixed}'
                f'{{"key":"url.full","value":{{"stringValue":{_json(url)}}}}},'
                f'{{"key":"http.request.body.size","value":{{"intValue":"{str(body)}"}}}},'
                f'{{"key":"http.response.status_code","value":{{"intValue":"{str(code)}"}}}},'
                f'{{"key":"http.response.body.size","value":{{"intValue":"{str(size)}"}}}}{extra}],'
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

    def text(self, r: Record) -> str:
        if self.shape is None:
            return span_text(self.span(r))
        size, seconds = r[8:]
        parent = f'"parentSpanId":"{str(r[3])}",' if r[3] else ""
        status = status_text(r[6], r[7]) if r[6] else _OK  # out of the try: its TypeError is no JSONEncodeError
        try:
            # the seconds by orjson (ryu's shortest text; repr() ran CPython's dtoa: ~4x as long)
            return (
                f'{{"traceId":"{str(r[1])}","spanId":"{str(r[2])}",{parent}"name":"{_READ}tracker","kind":1,'
                f'"startTimeUnixNano":"{_time(r[4])}","endTimeUnixNano":"{_time(r[5])}","attributes":[{_fixed(self.shape)}'
                f'{{"key":"{_READ}size","value":{{"intValue":"{str(size)}"}}}},'
                f'{{"key":"{_READ}time","value":{{"doubleValue":{_dumps(seconds).decode()}}}}}],'
                f'"status":{status}}}'
            )
        except orjson.JSONEncodeError:
            return _retried(self, r)

    def span(self, r: Record) -> Span:
        size, seconds = r[8:]
        return _made(self, r, _READ + "tracker", INTERNAL, {_READ + "size": size, _READ + "time": seconds})
