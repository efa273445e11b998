"""OTLP/JSON written as text (ids hex, 64-bit ints as decimal strings, enums as numbers): key-values
from bounded text caches, JSON strings, statuses, and a :class:`~krakenpy.telemetry.trace.spans.Span`
written field by field (the generic record's encoding; the layers' templates write theirs from
pre-encoded parts, :mod:`krakenpy.telemetry.trace.templates`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson

from krakenpy.gojson import text_json

if TYPE_CHECKING:
    from krakenpy.telemetry.trace.spans import Span

__all__ = ["attributes_text", "kv_text", "name_text", "q", "span_text", "status_text", "value_json"]

#: encoded items are kept in bounded caches: emptied when full, so values that still differ per
#: request cannot keep the usual ones of a later reload out, and the memory held stays small
ENCODED_MAX: Final = 2048
#: values longer than this are encoded each time (a long URL would pin its text in the cache)
ENCODED_LEN: Final = 256
#: keys whose value is unique per request or comes from the client (a URL path may carry a token, a
#: user agent or address is one-off): never kept, so no client text outlives its batch
PER_REQUEST: Final = frozenset({
    "http.request.id", "url.full", "url.path", "url.query", "http.url", "http.path", "http.target", "http.host",
    "user_agent.original", "http.user_agent", "client.address", "client.port", "network.peer.address",
    "http.request.body.size", "http.response.body.size", "http.client.response.read.time",
    "http.client.response.read.size", "get-conn-duration", "dns-duration", "tls-duration",
})  # fmt: skip
#: header attributes (``report_headers``) name keys after client header names: their heads are never kept
CLIENT_KEYS: Final = ("http.request.header.", "http.response.header.")

_dumps = orjson.dumps


def value_json(value: Any) -> dict[str, Any]:
    """An OTLP ``AnyValue`` as a dict."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [value_json(v) for v in value]}}
    return {"stringValue": str(value)}


def q(text: str) -> str:
    """``text`` as a JSON string (surrogate escapes, a client's bytes that were not UTF-8, as U+FFFD)."""
    try:
        return _dumps(text).decode()
    except orjson.JSONEncodeError:
        return text_json(text).decode()


def _json_text(value: Any) -> str:
    return text_json(value).decode()


#: OTLP/JSON texts of key-values by ``(key, value, type)`` (the type keeps ``True``, ``1`` and
#: ``1.0`` apart), bounded, no per-request keys, no long values
_TEXTS: dict[tuple[str, Any, type], str] = {}
#: ``{"key":"<key>","value":`` by key (header attributes make keys from client header names: bounded)
_HEADS: dict[str, str] = {}
#: span names as JSON strings (a route or a method and a route; bounded as the others)
_NAMES: dict[str, str] = {}


def kv_text(k: str, v: Any) -> str:
    """One OTLP/JSON key-value as text, kept in :data:`_TEXTS` unless per request or long."""
    head = _HEADS.get(k)
    if head is None:
        head = '{"key":' + _json_text(k) + ',"value":'
        if len(k) <= ENCODED_LEN and not k.startswith(CLIENT_KEYS):  # no client text outlives its batch
            if len(_HEADS) >= ENCODED_MAX:
                _HEADS.clear()
            _HEADS[k] = head
    kind = type(v)
    if kind is str:
        text = head + '{"stringValue":' + _json_text(v) + "}}"
        if len(v) > ENCODED_LEN:
            return text
    elif kind is int:
        text = head + '{"intValue":"' + str(v) + '"}}'
    elif kind is bool:
        text = head + ('{"boolValue":true}}' if v else '{"boolValue":false}}')
    elif kind is float:  # durations, kept as the others (a kept-alive call's zeros repeat): ~4k fewer
        text = head + '{"doubleValue":' + _json_text(v) + "}}"  # instructions per request (2026-12-01)
    else:
        return head + _json_text(value_json(v)) + "}"
    if k in PER_REQUEST:
        return text
    if len(_TEXTS) >= ENCODED_MAX:
        _TEXTS.clear()
    _TEXTS[(k, v, kind)] = text
    return text


def attributes_text(attrs: Mapping[str, Any]) -> str:
    """OTLP/JSON key-values as comma-separated text (the inside of an ``attributes`` array)."""
    get = _TEXTS.get
    try:
        return ",".join([get((k, v, type(v))) or kv_text(k, v) for k, v in attrs.items()])
    except TypeError:  # an unhashable value (a header's list of values): no lookups
        return ",".join([kv_text(k, v) for k, v in attrs.items()])


def name_text(name: str) -> str:
    """A span or event name as a JSON string, from a bounded cache."""
    found = _NAMES.get(name)
    if found is None:
        if len(_NAMES) >= ENCODED_MAX:
            _NAMES.clear()
        found = _NAMES[name] = _json_text(name)
    return found


#: a status without a message, by code
_STATUS_TEXT: Final = ('{"code":0}', '{"code":1}', '{"code":2}')


def status_text(status: int, message: str) -> str:
    """An OTLP status object as text."""
    if message:
        return f'{{"code":{status},"message":{_json_text(message)}}}'
    return _STATUS_TEXT[status] if 0 <= status <= 2 else f'{{"code":{status}}}'


def span_text(span: Span) -> str:
    """One :class:`Span` as OTLP/JSON text: its shape's key-values encoded once per layer, its own
    values from the text cache; one f-string per span."""
    attrs = span.attributes
    shape = span.static
    own = attributes_text(attrs) if attrs else ""
    if shape is not None:
        fixed = shape.encoded
        if fixed is None:
            fixed = shape.encoded = attributes_text(shape.attributes)
        own = (fixed + "," + own if own else fixed) if fixed else own
    events = ""
    if span.events:
        listed = ",".join(
            f'{{"name":{name_text(name)},"timeUnixNano":"{ts}","attributes":[{attributes_text(ev)}]}}'
            for name, ts, ev in span.events
        )
        events = f',"events":[{listed}]'
    parent = f'"parentSpanId":"{span.parent_id}",' if span.parent_id else ""
    return (
        f'{{"traceId":"{span.trace_id}","spanId":"{span.span_id}",{parent}"name":{name_text(span.name)},'
        f'"kind":{span.kind},"startTimeUnixNano":"{span.start_ns}","endTimeUnixNano":"{span.end_ns}",'
        f'"attributes":[{own}],"status":{status_text(span.status, span.status_message)}{events}}}'
    )
