"""Which body the OTLP exporter sends spans as: protobuf written directly by default (OTLP/HTTP
``application/x-protobuf``, as KrakenD's exporter and the OpenTelemetry default), with no
``opentelemetry-proto`` importable; JSON when ``OTEL_EXPORTER_OTLP_PROTOCOL`` (or the traces' own
variable) is ``http/json``; and the same protobuf bytes to an OTLP/gRPC collector (a real gRPC
server on 127.0.0.1 taking the raw request), alongside an OTLP/HTTP JSON one."""

from __future__ import annotations

import sys
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from krakenpy.telemetry.export import OtlpExporter, OtlpTarget
from krakenpy.telemetry.trace.spans import Record, SpanBuffer, SpanShape
from krakenpy.telemetry.trace.templates import CallTemplate, ServerTemplate
from tests.components.telemetry.otlp_receiver import Receiver, attrs

TRACE = "0af7651916cd43dd8448eb211c80319c"
RESOURCE = {"service.name": "gw", "workers": 2}


def _records() -> list[Record]:
    server = ServerTemplate(SpanShape({"krakend.stage": "global"}))
    proxy = CallTemplate("/a/:id", SpanShape({"krakend.stage": "proxy"}), {})
    times = (1_700_000_000_000_000_001, 1_700_000_000_000_000_999)
    return [
        (server, TRACE, "00000000000000a1", None, *times, 0, "", "GET", "/a/:id", "/a/1", "gw", "ua é", "10.0.0.1",
         None, "rid-1", 200, 7),
        (proxy, TRACE, "00000000000000a2", "00000000000000a1", *times, 2, "HTTP 502", False, True, 502),
    ]  # fmt: skip


def _check(spans: list[dict[str, Any]]) -> None:
    by_id = {s["spanId"]: s for s in spans}
    assert set(by_id) == {"00000000000000a1", "00000000000000a2"}
    server, proxy = by_id["00000000000000a1"], by_id["00000000000000a2"]
    assert server["traceId"] == TRACE and server["startTimeUnixNano"] == "1700000000000000001"
    assert attrs(server)["user_agent.original"] == "ua é" and attrs(server)["http.response.status_code"] == "200"
    assert proxy["parentSpanId"] == "00000000000000a1" and proxy["status"] == {"code": "STATUS_CODE_ERROR",
                                                                              "message": "HTTP 502"}  # fmt: skip
    assert attrs(proxy)["canceled"] is True and attrs(proxy)["complete"] is False


async def _posted(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Receiver:
    for name in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    buffer = SpanBuffer()
    exporter = OtlpExporter((OtlpTarget("r", "127.0.0.1", server.port, use_http=True),), buffer, None, RESOURCE)
    await exporter.start()
    try:
        for record in _records():
            buffer.add(record)
        await exporter.flush()
    finally:
        await exporter.stop()
        await server.close()
    assert exporter.exported_spans == 2
    _check(receiver.spans())
    return receiver


async def test_spans_go_as_protobuf_by_default_without_opentelemetry_proto(monkeypatch: pytest.MonkeyPatch) -> None:
    # the library made unimportable for the exporter (the receiver decodes with what it imported)
    for name in [m for m in sys.modules if m.startswith("opentelemetry")] + ["opentelemetry"]:
        monkeypatch.setitem(sys.modules, name, None)
    receiver = await _posted(monkeypatch, {})
    assert receiver.content_types == ["application/x-protobuf"]
    message = ExportTraceServiceRequest()
    message.ParseFromString(receiver.bodies[0])
    resource = {a.key: a.value for a in message.resource_spans[0].resource.attributes}
    assert resource["service.name"].string_value == "gw" and resource["workers"].int_value == 2


@pytest.mark.parametrize(
    ("env", "ctype"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "application/json"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "application/x-protobuf"),
        # the traces' own variable wins over the general one (the specification's order)
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
         "application/json"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
         "application/x-protobuf"),
    ],
)  # fmt: skip
async def test_the_protocol_variables_choose_the_body(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], ctype: str
) -> None:
    receiver = await _posted(monkeypatch, env)
    assert receiver.content_types == [ctype]
    if ctype == "application/json":
        assert receiver.bodies[0].startswith(b'{"resourceSpans":[')


async def test_a_grpc_collector_gets_the_written_protobuf_beside_a_json_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """http/json for the OTLP/HTTP target; the gRPC target still gets protobuf, the writer's bytes as
    they are (no serializer), which the collector's schema decodes."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    got: list[bytes] = []

    async def export(request: bytes, context: Any) -> bytes:
        got.append(request)
        return b""  # an empty ExportTraceServiceResponse

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)},  # no deserializer: the raw request
    )
    grpc_server = grpc.aio.server()
    grpc_server.add_generic_rpc_handlers((handler,))
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    await grpc_server.start()
    receiver = Receiver()
    http_server = TestServer(receiver.app(), host="127.0.0.1")
    await http_server.start_server()
    assert http_server.port is not None
    targets = (OtlpTarget("g", "127.0.0.1", grpc_port), OtlpTarget("h", "127.0.0.1", http_server.port, use_http=True))
    buffer = SpanBuffer()
    exporter = OtlpExporter(targets, buffer, None, RESOURCE)
    await exporter.start()
    try:
        for record in _records():
            buffer.add(record)
        await exporter.flush()
    finally:
        await exporter.stop()
        await http_server.close()
        await grpc_server.stop(None)
    assert receiver.content_types == ["application/json"]
    assert len(got) == 1
    from google.protobuf import json_format

    message = ExportTraceServiceRequest()
    message.ParseFromString(got[0])
    decoded = receiver._decode(got[0], "application/x-protobuf", ExportTraceServiceRequest())
    _check([s for rs in decoded["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]])
    # the same spans as the JSON collector got
    assert decoded == receiver.traces[0]
    assert json_format.MessageToDict(message)["resourceSpans"][0]["scopeSpans"][0]["scope"]["version"] == "0.14.4"


async def test_a_span_exporter_never_imports_opentelemetry_proto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans need no library: without metrics, the exporter never asks for opentelemetry-proto
    (asking imports it: ~45 M instructions at start-up)."""
    from krakenpy.telemetry import export

    asked: list[bool] = []
    monkeypatch.setattr(export, "protobuf_available", lambda: asked.append(True) or True)
    await _posted(monkeypatch, {})
    assert asked == []
