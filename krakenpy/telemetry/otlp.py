"""OTLP encodings: JSON (OTLP/HTTP ``application/json``: ids as hex, 64-bit ints as decimal strings,
enums as numbers) by orjson, and protobuf through ``opentelemetry-proto`` when it is installed."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

from krakenpy.gojson import text_json
from krakenpy.telemetry.metrics.registry import Counter, Family, Histogram, Registry
from krakenpy.telemetry.trace.spans import Span

__all__ = [
    "SCOPE", "attributes", "attributes_text", "metrics_json", "protobuf_available", "spans_body", "spans_json",
    "to_protobuf",
]  # fmt: skip

SCOPE: Final = {"name": "io.krakend.krakend-otel", "version": "0.14.4"}
_CUMULATIVE: Final = 2


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


#: encoded items by ``(key, value, type)`` (the type keeps ``True``, ``1`` and ``1.0`` apart), shared
#: between batches and read-only (orjson and the protobuf path only read them): the usual attributes
#: (stage, method, route, host, backend URL, status, sizes) repeat on every request, and one dict
#: lookup costs a fraction of building two dicts per attribute
_ENCODED: dict[tuple[str, Any, type], dict[str, Any]] = {}
#: bounded: emptied when full, so values that still differ per request (body sizes) cannot keep the
#: usual ones of a later reload out, and the memory it holds stays small
_ENCODED_MAX: Final = 2048
#: values longer than this are encoded each time (a long URL would pin its text in the cache)
_ENCODED_LEN: Final = 256
#: keys whose value is unique per request or comes from the client (a URL path may carry a token, a
#: user agent or address is one-off): never kept, so no client text outlives its batch
_PER_REQUEST: Final = frozenset({
    "http.request.id", "url.full", "url.path", "url.query", "http.url", "http.path", "http.target", "http.host",
    "user_agent.original", "http.user_agent", "client.address", "client.port", "network.peer.address",
    "http.request.body.size", "http.response.body.size", "http.client.response.read.time",
    "http.client.response.read.size", "get-conn-duration", "dns-duration", "tls-duration",
})  # fmt: skip
#: header attributes (``report_headers``) name keys after client header names: their heads are never kept
_CLIENT_KEYS: Final = ("http.request.header.", "http.response.header.")


def _encoded(k: str, v: Any) -> dict[str, Any]:
    """One OTLP key-value, kept in :data:`_ENCODED` when its value is a ``str``, ``int`` or ``bool``."""
    kind = type(v)
    if kind is str:
        found = {"key": k, "value": {"stringValue": v}}
        if len(v) > _ENCODED_LEN:
            return found
    elif kind is int:
        found = {"key": k, "value": {"intValue": str(v)}}
    elif kind is bool:
        found = {"key": k, "value": {"boolValue": v}}
    else:
        return {"key": k, "value": _value(v)}
    if k in _PER_REQUEST:
        return found
    if len(_ENCODED) >= _ENCODED_MAX:
        _ENCODED.clear()
    _ENCODED[(k, v, kind)] = found
    return found


def attributes(attrs: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    """OTLP key-values, the usual ones from :data:`_ENCODED` (a span has ~10 attributes and a
    sampled request ~4 spans: building two dicts per attribute was the exporter's largest cost)."""
    items = attrs.items() if isinstance(attrs, Mapping) else tuple(attrs)
    get = _ENCODED.get
    try:
        return [get((k, v, type(v))) or _encoded(k, v) for k, v in items]
    except TypeError:  # an unhashable value (a header's list of values): no lookups
        return [_encoded(k, v) for k, v in items]


#: OTLP/JSON texts of key-values, by ``(key, value, type)``, with the same rules as :data:`_ENCODED`
#: (bounded, no per-request keys, no long values): spans are written as text, not dicts
_TEXTS: dict[tuple[str, Any, type], str] = {}
#: ``{"key":"<key>","value":`` by key (header attributes make keys from client header names: bounded)
_HEADS: dict[str, str] = {}
#: span names as JSON strings (a route or a method and a route; bounded as the others)
_NAMES: dict[str, str] = {}


def _json_text(value: Any) -> str:
    return text_json(value).decode()


def _kv_text(k: str, v: Any) -> str:
    """One OTLP/JSON key-value as text, kept in :data:`_TEXTS` as :func:`_encoded` keeps its dicts."""
    head = _HEADS.get(k)
    if head is None:
        head = '{"key":' + _json_text(k) + ',"value":'
        if len(k) <= _ENCODED_LEN and not k.startswith(_CLIENT_KEYS):  # no client text outlives its batch
            if len(_HEADS) >= _ENCODED_MAX:
                _HEADS.clear()
            _HEADS[k] = head
    kind = type(v)
    if kind is str:
        text = head + '{"stringValue":' + _json_text(v) + "}}"
        if len(v) > _ENCODED_LEN:
            return text
    elif kind is int:
        text = head + '{"intValue":"' + str(v) + '"}}'
    elif kind is bool:
        text = head + ('{"boolValue":true}}' if v else '{"boolValue":false}}')
    elif kind is float:  # durations, kept as the others (a kept-alive call's zeros repeat): ~4k fewer
        text = head + '{"doubleValue":' + _json_text(v) + "}}"  # instructions per request (2026-12-01)
    else:
        return head + _json_text(_value(v)) + "}"
    if k in _PER_REQUEST:
        return text
    if len(_TEXTS) >= _ENCODED_MAX:
        _TEXTS.clear()
    _TEXTS[(k, v, kind)] = text
    return text


def attributes_text(attrs: Mapping[str, Any]) -> str:
    """OTLP/JSON key-values as comma-separated text (the inside of an ``attributes`` array)."""
    get = _TEXTS.get
    try:
        return ",".join([get((k, v, type(v))) or _kv_text(k, v) for k, v in attrs.items()])
    except TypeError:  # an unhashable value (a header's list of values): no lookups
        return ",".join([_kv_text(k, v) for k, v in attrs.items()])


def _name_text(name: str) -> str:
    found = _NAMES.get(name)
    if found is None:
        if len(_NAMES) >= _ENCODED_MAX:
            _NAMES.clear()
        found = _NAMES[name] = _json_text(name)
    return found


#: a status without a message, by code
_STATUS_TEXT: Final = ('{"code":0}', '{"code":1}', '{"code":2}')


def _span_text(span: Span) -> str:
    """One span as OTLP/JSON text (ids hex, 64-bit ints as decimal strings, enums as numbers): its
    shape's key-values encoded once per layer, its own values from the text cache; one f-string per
    span where a dict per span and two per attribute were built and then serialised."""
    attrs = span.attributes
    shape = span.static
    own = attributes_text(attrs) if attrs else ""
    if shape is not None:
        fixed = shape.encoded
        if fixed is None:
            fixed = shape.encoded = attributes_text(shape.attributes)
        own = (fixed + "," + own if own else fixed) if fixed else own
    status = span.status
    if span.status_message:
        status_text = f'{{"code":{status},"message":{_json_text(span.status_message)}}}'
    else:
        status_text = _STATUS_TEXT[status] if 0 <= status <= 2 else f'{{"code":{status}}}'
    events = ""
    if span.events:
        listed = ",".join(
            f'{{"name":{_name_text(name)},"timeUnixNano":"{ts}","attributes":[{attributes_text(ev)}]}}'
            for name, ts, ev in span.events
        )
        events = f',"events":[{listed}]'
    parent = f'"parentSpanId":"{span.parent_id}",' if span.parent_id else ""
    return (
        f'{{"traceId":"{span.trace_id}","spanId":"{span.span_id}",{parent}"name":{_name_text(span.name)},'
        f'"kind":{span.kind},"startTimeUnixNano":"{span.start_ns}","endTimeUnixNano":"{span.end_ns}",'
        f'"attributes":[{own}],"status":{status_text}{events}}}'
    )


_SCOPE_TEXT: Final = _json_text(SCOPE)


def spans_body(spans: Sequence[Span], resource: str) -> bytes:
    """An ``ExportTraceServiceRequest`` as OTLP/JSON bytes; ``resource`` is :func:`attributes_text`
    of the resource, made once per exporter."""
    listed = ",".join([_span_text(s) for s in spans])
    return (
        f'{{"resourceSpans":[{{"resource":{{"attributes":[{resource}]}},'
        f'"scopeSpans":[{{"scope":{_SCOPE_TEXT},"spans":[{listed}]}}]}}]}}'
    ).encode()


def spans_json(spans: Sequence[Span], resource: Mapping[str, Any]) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` as a JSON-ready dict (what :func:`spans_body` writes)."""
    doc: dict[str, Any] = orjson.loads(spans_body(spans, attributes_text(resource)))
    return doc


def _points(family: Family, start_ns: int, now_ns: int) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    for values, series in family.items():
        attrs = attributes(zip(family.label_names, values, strict=True))
        if isinstance(series, Histogram):
            series.fold()
            points.append(
                {
                    "attributes": attrs,
                    "startTimeUnixNano": str(start_ns),
                    "timeUnixNano": str(now_ns),
                    "count": str(series.count),
                    "sum": series.sum,
                    "bucketCounts": [str(n) for n in series.buckets],
                    "explicitBounds": list(series.bounds),
                }
            )
        elif isinstance(series, Counter):
            value = series.value
            point: dict[str, Any] = {
                "attributes": attrs,
                "startTimeUnixNano": str(start_ns),
                "timeUnixNano": str(now_ns),
            }
            if isinstance(value, int) or float(value).is_integer():
                point["asInt"] = str(int(value))
            else:
                point["asDouble"] = float(value)
            points.append(point)
    return points


def metrics_json(registry: Registry, resource: Mapping[str, Any], start_ns: int) -> dict[str, Any]:
    """An ``ExportMetricsServiceRequest`` (cumulative temporality) as a JSON-ready dict."""
    now_ns = time.time_ns()
    metrics: list[dict[str, Any]] = []
    for family in registry.families():
        points = _points(family, start_ns, now_ns)
        if not points:
            continue
        metric: dict[str, Any] = {"name": family.name, "description": family.help, "unit": family.unit}
        if family.kind == "histogram":
            metric["histogram"] = {"dataPoints": points, "aggregationTemporality": _CUMULATIVE}
        elif family.kind == "counter":
            metric["sum"] = {"dataPoints": points, "aggregationTemporality": _CUMULATIVE, "isMonotonic": True}
        else:
            metric["gauge"] = {"dataPoints": points}
        metrics.append(metric)
    return {
        "resourceMetrics": [
            {"resource": {"attributes": attributes(resource)}, "scopeMetrics": [{"scope": SCOPE, "metrics": metrics}]}
        ]
    }


def protobuf_available() -> bool:
    """``opentelemetry-proto`` (the ``otlp-protobuf`` / ``otlp-grpc`` extras) is importable."""
    try:
        import opentelemetry.proto.collector.trace.v1.trace_service_pb2  # noqa: F401
    except ImportError:
        return False
    return True


def _hex_to_b64(doc: Any) -> Any:
    """OTLP JSON ids are hex; the proto3 JSON mapping of ``bytes`` is base64."""
    import base64

    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                out[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                out[k] = _hex_to_b64(v)
        return out
    if isinstance(doc, list):
        return [_hex_to_b64(v) for v in doc]
    return doc


def to_protobuf(doc: dict[str, Any], kind: str) -> bytes:
    """Serialise an export request built by :func:`spans_json` / :func:`metrics_json` as protobuf."""
    from google.protobuf import json_format

    if kind == "traces":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        message: Any = ExportTraceServiceRequest()
    else:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

        message = ExportMetricsServiceRequest()
    json_format.Parse(text_json(_hex_to_b64(doc)), message)
    data: bytes = message.SerializeToString()
    return data
