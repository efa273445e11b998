"""A real OTLP/HTTP receiver on 127.0.0.1: decodes JSON (hex ids) and protobuf bodies with the
real ``opentelemetry-proto`` schema, and keeps what it got."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from aiohttp import web
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _b64_to_hex(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {
            k: base64.b64decode(v).hex()
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
            else _b64_to_hex(v)
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [_b64_to_hex(v) for v in doc]
    return doc


def _hex_to_b64(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
            else _hex_to_b64(v)
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [_hex_to_b64(v) for v in doc]
    return doc


class Receiver:
    def __init__(self) -> None:
        self.traces: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []
        #: each export's request headers, by signal
        self.export_headers: dict[str, list[dict[str, str]]] = {"traces": [], "metrics": []}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._metrics)
        return app

    def _decode(self, body: bytes, ctype: str, message: Any) -> dict[str, Any]:
        if ctype.startswith("application/x-protobuf"):
            message.ParseFromString(body)
        else:  # validate the JSON against the real schema too (ids: hex in OTLP JSON)
            json_format.Parse(orjson.dumps(_hex_to_b64(orjson.loads(body))), message)
        decoded: dict[str, Any] = _b64_to_hex(json_format.MessageToDict(message))
        return decoded

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        self.content_types.append(request.content_type)
        self.export_headers["traces"].append(dict(request.headers))
        self.traces.append(self._decode(body, request.content_type, ExportTraceServiceRequest()))
        return web.json_response({})

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        self.export_headers["metrics"].append(dict(request.headers))
        self.metrics.append(self._decode(body, request.content_type, ExportMetricsServiceRequest()))
        return web.json_response({})

    def spans(self) -> list[dict[str, Any]]:
        return [
            span
            for export in self.traces
            for rs in export.get("resourceSpans", [])
            for ss in rs.get("scopeSpans", [])
            for span in ss.get("spans", [])
        ]


def attrs(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in item.get("attributes", []):
        value = a["value"]
        key, inner = next(iter(value.items()))
        if key == "arrayValue":
            out[a["key"]] = [next(iter(v.values())) for v in inner.get("values", [])]
        else:
            out[a["key"]] = inner
    return out


def otlp_traces_exporter(collector: str) -> dict[str, Any]:
    """A ``telemetry/opentelemetry`` OTLP/HTTP exporter of traces only, to the :class:`Receiver`
    served at ``collector`` (``http://127.0.0.1:PORT``)."""
    return {
        "name": "o",
        "host": "http://127.0.0.1",
        "port": int(collector.rsplit(":", 1)[1]),
        "use_http": True,
        "disable_metrics": True,
    }
