"""The layers' span templates: per layer, the OTLP/JSON text of what is fixed (name, kind, the
shape's attributes, the keys of the per-request ones) made once, so writing a record is one
f-string with its values. Each template can also make a :class:`Span` of a record (OpenCensus).

A record is ``(template, trace_id, span_id, parent_id, start_ns, end_ns, status, message, *values)``;
the values each template takes are listed on it. Replaced per-attribute cache lookups and joins:
(see bench/README.md, "round 7: branch spanrec")."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.telemetry.trace.otlptext import attributes_text, name_text, q, span_text, status_text
from krakenpy.telemetry.trace.spans import CLIENT, INTERNAL, SERVER, Record, Span, SpanShape, SpanTemplate

__all__ = ["CallTemplate", "ClientTemplate", "ReadTemplate", "ServerTemplate"]

_READ: Final = "http.client.response.read."
_BOOL: Final = ("false", "true")


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


def _ids(r: Record) -> str:
    parent = r[3]
    if parent:
        return f'{{"traceId":"{r[1]}","spanId":"{r[2]}","parentSpanId":"{parent}",'
    return f'{{"traceId":"{r[1]}","spanId":"{r[2]}",'


class ServerTemplate(SpanTemplate):
    """The edge's SERVER span. Values: method, route label, target (redacted), host, user agent,
    client address, request body size (or None), request id (or ""), status code, response size."""

    __slots__ = ("fixed", "shape")

    def __init__(self, shape: SpanShape) -> None:
        self.shape = shape
        self.fixed: str | None = None

    def text(self, r: Record) -> str:
        fixed = self.fixed
        if fixed is None:
            fixed = self.fixed = _fixed(self.shape)
        method, label, target, host, agent, addr, body, rid, code, size = r[8:]
        extra = ""
        if body is not None:
            extra = f'{{"key":"http.request.body.size","value":{{"intValue":"{body}"}}}},'
        if rid:  # an id krakenpy made or one valid_request_id let in: no character JSON escapes
            extra += f'{{"key":"http.request.id","value":{{"stringValue":"{rid}"}}}},'
        return (
            f'{_ids(r)}"name":{name_text(method + " " + label)},"kind":2,"startTimeUnixNano":"{r[4]}",'
            f'"endTimeUnixNano":"{r[5]}","attributes":[{fixed}'
            f'{{"key":"url.full","value":{{"stringValue":{q(target)}}}}},'
            f'{{"key":"server.address","value":{{"stringValue":{q(host)}}}}},'
            f'{{"key":"http.request.method","value":{{"stringValue":{name_text(method)}}}}},'
            f'{{"key":"user_agent.original","value":{{"stringValue":{q(agent)}}}}},'
            f'{{"key":"client.address","value":{{"stringValue":{q(addr)}}}}},{extra}'
            f'{{"key":"http.route","value":{{"stringValue":{name_text(label)}}}}},'
            f'{{"key":"http.response.status_code","value":{{"intValue":"{code}"}}}},'
            f'{{"key":"http.response.body.size","value":{{"intValue":"{size}"}}}}],'
            f'"status":{status_text(r[6], r[7])}}}'
        )

    def span(self, r: Record) -> Span:
        method, label, target, host, agent, addr, body, rid, code, size = r[8:]
        attrs: dict[str, Any] = {
            "url.full": target, "server.address": host, "http.request.method": method,
            "user_agent.original": agent, "client.address": addr,
        }  # fmt: skip
        if body is not None:
            attrs["http.request.body.size"] = body
        if rid:
            attrs["http.request.id"] = rid
        attrs["http.route"] = label
        attrs["http.response.status_code"] = code
        attrs["http.response.body.size"] = size
        return Span.made(r, f"{method} {label}", SERVER, attrs, self.shape)


class CallTemplate(SpanTemplate):
    """A proxy or backend INTERNAL span. Values: complete, canceled, status code (None unless the
    call raised)."""

    __slots__ = ("base", "head", "name", "shape")

    def __init__(self, name: str, shape: SpanShape | None, base: dict[str, Any]) -> None:
        self.name = name
        self.shape = shape
        self.base = base
        self.head: str | None = None

    def text(self, r: Record) -> str:
        if self.shape is None:
            return span_text(self.span(r))
        head = self.head
        if head is None:
            head = self.head = f'"name":{q(self.name)},"kind":1,'
        complete, canceled, code = r[8:]
        own = f'{{"key":"complete","value":{{"boolValue":{_BOOL[complete]}}}}}'
        if code is not None:
            own = f'{{"key":"http.response.status_code","value":{{"intValue":"{code}"}}}},' + own
        if canceled:
            own += ',{"key":"canceled","value":{"boolValue":true}}'
        return (
            f'{_ids(r)}{head}"startTimeUnixNano":"{r[4]}","endTimeUnixNano":"{r[5]}",'
            f'"attributes":[{_fixed(self.shape)}{own}],"status":{status_text(r[6], r[7])}}}'
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

    __slots__ = ("_host", "_host_text", "base", "head", "name", "shape")

    def __init__(self, name: str, shape: SpanShape | None, base: dict[str, Any]) -> None:
        self.name = name
        self.shape = shape
        self.base = base
        self.head: str | None = None
        # the last host and its JSON text: the client layer hands the same string object back while
        # the backend's host stays the same (its peer cache), so one identity test replaces the escape
        self._host: str | None = None
        self._host_text = ""

    def text(self, r: Record) -> str:
        if self.shape is None:
            return span_text(self.span(r))
        head = self.head
        if head is None:
            head = self.head = f'"name":{q(self.name)},"kind":3,'
        url, host, port, method, body, code, size, conn, first_byte = r[8:]
        if host is not self._host:
            self._host, self._host_text = host, q(host)
        extra = events = ""
        if conn is not None:
            get_conn, dns, tls = conn
            extra = (
                f',{{"key":"get-conn-duration","value":{{"doubleValue":{get_conn!r}}}}},'
                f'{{"key":"dns-duration","value":{{"doubleValue":{dns!r}}}}},'
                f'{{"key":"tls-duration","value":{{"doubleValue":{tls!r}}}}}'
            )
        if first_byte:
            events = f',"events":[{{"name":"first-byte-time","timeUnixNano":"{first_byte}","attributes":[]}}]'
        return (
            f'{_ids(r)}{head}"startTimeUnixNano":"{r[4]}","endTimeUnixNano":"{r[5]}","attributes":[{_fixed(self.shape)}'
            f'{{"key":"url.full","value":{{"stringValue":{q(url)}}}}},'
            f'{{"key":"server.address","value":{{"stringValue":{self._host_text}}}}},'
            f'{{"key":"server.port","value":{{"intValue":"{port}"}}}},'
            f'{{"key":"http.request.method","value":{{"stringValue":{name_text(method)}}}}},'
            f'{{"key":"http.request.body.size","value":{{"intValue":"{body}"}}}},'
            f'{{"key":"http.response.status_code","value":{{"intValue":"{code}"}}}},'
            f'{{"key":"http.response.body.size","value":{{"intValue":"{size}"}}}}{extra}],'
            f'"status":{status_text(r[6], r[7])}{events}}}'
        )

    def span(self, r: Record) -> Span:
        url, host, port, method, body, code, size, conn, first_byte = r[8:]
        attrs: dict[str, Any] = {
            "url.full": url, "server.address": host, "server.port": port, "http.request.method": method,
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

    __slots__ = ("base", "shape")

    def __init__(self, shape: SpanShape | None, base: dict[str, Any]) -> None:
        self.shape = shape
        self.base = base

    def text(self, r: Record) -> str:
        if self.shape is None:
            return span_text(self.span(r))
        size, seconds = r[8:]
        return (
            f'{_ids(r)}"name":"{_READ}tracker","kind":1,"startTimeUnixNano":"{r[4]}","endTimeUnixNano":"{r[5]}",'
            f'"attributes":[{_fixed(self.shape)}{{"key":"{_READ}size","value":{{"intValue":"{size}"}}}},'
            f'{{"key":"{_READ}time","value":{{"doubleValue":{seconds!r}}}}}],"status":{status_text(r[6], r[7])}}}'
        )

    def span(self, r: Record) -> Span:
        size, seconds = r[8:]
        return _made(self, r, _READ + "tracker", INTERNAL, {_READ + "size": size, _READ + "time": seconds})
