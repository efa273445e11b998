"""OTLP encodings: spans as protobuf written directly (OTLP/HTTP ``application/x-protobuf``, the
default, and OTLP/gRPC: :func:`spans_proto`, no library) or as JSON (``application/json``: ids as hex,
64-bit ints as decimal strings, enums as numbers: :func:`spans_body`); metrics as JSON by orjson, and
as protobuf through ``opentelemetry-proto`` when it is installed (:func:`to_protobuf`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

from krakenpy.gojson import text_json
from krakenpy.telemetry.metrics.registry import Family, Histogram, Registry
from krakenpy.telemetry.trace.otlpproto import field, key_values, utf8, varint
from krakenpy.telemetry.trace.otlptext import ENCODED_LEN, ENCODED_MAX, PER_REQUEST, attributes_text, value_json
from krakenpy.telemetry.trace.spans import Record, SpanTemplate
from krakenpy.telemetry.trace.templates import end_batch, native_plan

__all__ = [
    "SCOPE", "DeltaState", "attributes", "attributes_text", "metrics_json", "protobuf_available", "resource_proto",
    "spans_body", "spans_json", "spans_proto", "spans_proto_py", "to_protobuf",
]  # fmt: skip

SCOPE: Final = {"name": "io.krakend.krakend-otel", "version": "0.14.4"}
_CUMULATIVE: Final = 2
_DELTA: Final = 1


#: encoded items by ``(key, value, type)`` (the type keeps ``True``, ``1`` and ``1.0`` apart), shared
#: between exports and read-only (orjson and the protobuf path only read them): the usual attributes
#: repeat on every export, and one dict lookup costs a fraction of building two dicts per attribute
_ENCODED: dict[tuple[str, Any, type], dict[str, Any]] = {}


def _encoded(k: str, v: Any) -> dict[str, Any]:
    """One OTLP key-value, kept in :data:`_ENCODED` (the text caches' rules) when its value is a
    ``str``, ``int`` or ``bool``."""
    kind = type(v)
    if kind is str:
        found = {"key": k, "value": {"stringValue": v}}
        if len(v) > ENCODED_LEN:
            return found
    elif kind is int:
        found = {"key": k, "value": {"intValue": str(v)}}
    elif kind is bool:
        found = {"key": k, "value": {"boolValue": v}}
    else:
        return {"key": k, "value": value_json(v)}
    if k in PER_REQUEST:
        return found
    if len(_ENCODED) >= ENCODED_MAX:
        _ENCODED.clear()
    _ENCODED[(k, v, kind)] = found
    return found


def attributes(attrs: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    """OTLP key-values as dicts, the usual ones from :data:`_ENCODED` (metric points)."""
    items = attrs.items() if isinstance(attrs, Mapping) else tuple(attrs)
    get = _ENCODED.get
    try:
        return [get((k, v, type(v))) or _encoded(k, v) for k, v in items]
    except TypeError:  # an unhashable value (a header's list of values): no lookups
        return [_encoded(k, v) for k, v in items]


_SCOPE_TEXT: Final = text_json(SCOPE).decode()


def spans_body(records: Sequence[Record], resource: str) -> bytes:
    """An ``ExportTraceServiceRequest`` as OTLP/JSON bytes, each record written by its template (one
    format call per span); ``resource`` is :func:`attributes_text` of the resource, made once per
    exporter."""
    texts: list[str] = []
    try:
        for r in records:
            # typed: a native (vtable) call when compiled, where ``r[0].text(r)`` on an ``Any`` looked
            # the method up by name and went through its Python-level wrapper per span
            template: SpanTemplate = r[0]
            texts.append(template.text(r))
    finally:
        end_batch()  # the client texts kept while writing the batch
    head = (
        f'{{"resourceSpans":[{{"resource":{{"attributes":[{resource}]}},"scopeSpans":[{{"scope":{_SCOPE_TEXT},"spans":['
    )
    if not texts:
        return (head + "]}]}]}").encode()
    # the document's head and tail joined to the first and last span: the batch's text is copied once
    # by the join (and once more by encode), not again into an enclosing f-string
    texts[0] = head + texts[0]
    texts[-1] += "]}]}]}"
    return ",".join(texts).encode()


#: ScopeSpans field 1: the InstrumentationScope (name field 1, version field 2)
_SCOPE_PROTO: Final = field(b"\x0a", field(b"\x0a", utf8(SCOPE["name"])) + field(b"\x12", utf8(SCOPE["version"])))


def resource_proto(resource: Mapping[str, Any]) -> bytes:
    """ResourceSpans field 1: the Resource and its attributes (made once per exporter)."""
    return field(b"\x0a", key_values(resource, b"\x0a"))


def _native_spans() -> Callable[[Sequence[Record], bytes, bytes, Callable[[Any], Any]], bytes] | None:
    """The native batch encoder (``trace/_spanwire.c``), when it was built (beside the mypyc hot path:
    a wheel built with a C compiler, ``make compile``), else None: the Python path."""
    try:
        from krakenpy.telemetry.trace._spanwire import spans
    except ImportError:
        return None
    return spans


#: resolved once, at import
_NATIVE: Final = _native_spans()


def spans_proto(records: Sequence[Record], resource: bytes) -> bytes:
    """An ``ExportTraceServiceRequest`` as OTLP protobuf; ``resource`` is :func:`resource_proto`'s.
    Written by the native encoder when it is built (the templates' usual spans into one buffer, any
    other record by its template's ``framed``: the same bytes), else by :func:`spans_proto_py`."""
    native = _NATIVE
    if native is None:
        return spans_proto_py(records, resource)
    try:
        return native(records, resource, _SCOPE_PROTO, native_plan)
    finally:
        end_batch()  # the client bytes the templates kept while writing the batch


def spans_proto_py(records: Sequence[Record], resource: bytes) -> bytes:
    """:func:`spans_proto` in Python (the native encoder's reference), each record written by its
    template with its ScopeSpans tag and length (``framed``: the usual spans in one ``struct`` pack,
    head included). The envelope's lengths are summed as the spans are written, so the batch is copied
    once, by the join."""
    out: list[bytes] = [b"", b"", b"", b""]  # the envelope's head, filled at the end
    size = len(_SCOPE_PROTO)
    try:
        for r in records:
            template: SpanTemplate = r[0]  # typed: a native (vtable) call when compiled
            span = template.framed(r)
            out.append(span)
            size += len(span)
    finally:
        end_batch()  # the client bytes kept while writing the batch
    # ExportTraceServiceRequest field 1: ResourceSpans (field 1 the Resource, field 2 the ScopeSpans)
    scope_head = b"\x12" + varint(size)
    inner = len(resource) + len(scope_head) + size
    out[0] = b"\x0a" + varint(inner)
    out[1] = resource
    out[2] = scope_head
    out[3] = _SCOPE_PROTO
    return b"".join(out)


def spans_json(records: Sequence[Record], resource: Mapping[str, Any]) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` as a JSON-ready dict (what :func:`spans_body` writes)."""
    doc: dict[str, Any] = orjson.loads(spans_body(records, attributes_text(resource)))
    return doc


#: labels held as text (Prometheus' label values) whose OTLP attribute is an int, as krakend-otel's
#: ``semconv.HTTPResponseStatusCode`` / ``semconv.ServerPort`` and as the spans send them
_INT_LABELS: Final = frozenset({"http.response.status_code", "server.port"})


def _typed(name: str, value: str) -> str | int:
    return int(value) if name in _INT_LABELS and value.isdigit() else value


class DeltaState:
    """One collector's delta exports (``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta``): the
    cumulative values its last export read, by series, and that export's time (the next points'
    start). The registry stays cumulative (Prometheus scrapes read it too); each export sends what
    grew since the one before, and leaves out the series that did not."""

    __slots__ = ("last", "since_ns")

    def __init__(self, start_ns: int) -> None:
        self.last: dict[tuple[str, tuple[str, ...]], tuple[float, float, tuple[int, ...]]] = {}
        self.since_ns = start_ns


def _points(family: Family, start_ns: int, now_ns: int, delta: DeltaState | None = None) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    names = family.label_names
    typed = not _INT_LABELS.isdisjoint(names)
    for values, series in family.items():
        count: float
        total: float
        buckets: list[int] | tuple[int, ...]
        if isinstance(series, Histogram):
            series.fold()
            # one representation for both kinds (mypyc: an int is no float)
            count, total, buckets = float(series.count), series.sum, series.buckets
        else:  # a Counter (a Gauge is one): the family holds no other series
            count, total, buckets = series.value, 0.0, ()
        start = start_ns
        if delta is not None and family.kind != "gauge":
            key = (family.name, values)
            now = (count, total, tuple(buckets))
            before = delta.last.get(key)
            delta.last[key] = now
            if before is not None and before[0] <= count:  # what grew since (a smaller count: a new series)
                if count == before[0]:
                    continue  # nothing recorded since the last export: no point (as otel-go's delta)
                count, total = count - before[0], total - before[1]
                buckets = [n - b for n, b in zip(buckets, before[2], strict=True)]
            start = delta.since_ns
        if typed:
            attrs = attributes([(n, _typed(n, v)) for n, v in zip(names, values, strict=True)])
        else:
            attrs = attributes(zip(names, values, strict=True))
        if isinstance(series, Histogram):
            points.append(
                {
                    "attributes": attrs,
                    "startTimeUnixNano": str(start),
                    "timeUnixNano": str(now_ns),
                    "count": str(int(count)),
                    "sum": total,
                    "bucketCounts": [str(n) for n in buckets],
                    "explicitBounds": list(series.bounds),
                }
            )
        else:
            point: dict[str, Any] = {
                "attributes": attrs,
                "startTimeUnixNano": str(start),
                "timeUnixNano": str(now_ns),
            }
            if isinstance(count, int) or float(count).is_integer():
                point["asInt"] = str(int(count))
            else:
                point["asDouble"] = float(count)
            points.append(point)
    return points


def metrics_json(
    registry: Registry, resource: Mapping[str, Any], start_ns: int, delta: DeltaState | None = None
) -> dict[str, Any]:
    """An ``ExportMetricsServiceRequest`` as a JSON-ready dict: cumulative temporality, or with
    ``delta`` (one collector's :class:`DeltaState`, updated here) delta for counters and histograms
    (the specification's ``delta`` and ``lowmemory`` preferences agree on them; gauges stay gauges)."""
    now_ns = time.time_ns()
    temporality = _CUMULATIVE if delta is None else _DELTA
    metrics: list[dict[str, Any]] = []
    for family in registry.families():
        points = _points(family, start_ns, now_ns, delta)
        if not points:
            continue
        metric: dict[str, Any] = {"name": family.name, "description": family.help, "unit": family.unit}
        if family.kind == "histogram":
            metric["histogram"] = {"dataPoints": points, "aggregationTemporality": temporality}
        elif family.kind == "counter":
            metric["sum"] = {"dataPoints": points, "aggregationTemporality": temporality, "isMonotonic": True}
        else:
            metric["gauge"] = {"dataPoints": points}
        metrics.append(metric)
    if delta is not None:
        delta.since_ns = now_ns
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
