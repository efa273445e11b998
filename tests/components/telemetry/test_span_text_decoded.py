"""Sampled requests through a real gateway, their spans at a real OTLP/HTTP receiver decoded with
``opentelemetry-proto``: every span is the one its record stands for written field by field (the
dict encoding of ``span_of(record)``: names, kinds, ids and parents, attributes, status, times to
the nanosecond, events), across routes, methods, statuses, a backend error, an unreachable backend,
an unknown route and header attributes; and the spans of a request nest in time (the layers' span
times come from one wall-clock reading at the edge and their own ``perf_counter`` readings)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from krakenpy.telemetry import export, otlp
from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.trace.spans import Record, span_of
from tests.components.telemetry.conftest import doc
from tests.components.telemetry.otlp_receiver import Receiver
from tests.components.telemetry.test_opentelemetry import _otel
from tests.conftest import refusing_port
from tests.telemetry.test_otlp_spans import _expected

_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
#: (method, path, headers, body): two routes of one backend host, a POST to another host, a 500 from
#: the backend, an unreachable backend, an unknown route; a caller's trace, a request id, agents
_REQUESTS: tuple[tuple[str, str, dict[str, str], bytes | None], ...] = (
    ("GET", "/users/1?access_token=secret&x=1", {"User-Agent": "ua/1", "X-Request-Id": "rid-1"}, None),
    ("GET", "/users/2", {"traceparent": _PARENT, "User-Agent": "ua/2", "X-Trace": "t"}, None),
    ("GET", "/users/2/card", {"User-Agent": "ua/1"}, None),
    ("POST", "/orders/7", {"Content-Type": "application/json", "User-Agent": "ua é"}, b'{"n":1}'),
    ("GET", "/boom", {"User-Agent": "ua/1"}, None),
    ("GET", "/down", {}, None),
    ("GET", "/nowhere", {"User-Agent": "ua/3"}, None),
    ("GET", "/users/3?x=%22q%22", {"User-Agent": "ua/1"}, None),
)


def _app(status: int = 200) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"path": request.path, "n": 1}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _decoded(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``spans`` (OTLP/JSON dicts) as the receiver decodes them, through the same schema."""
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    out: list[dict[str, Any]] = Receiver()._decode(body, "application/json", ExportTraceServiceRequest())[
        "resourceSpans"
    ][0]["scopeSpans"][0]["spans"]
    return out


def _key(span: dict[str, Any]) -> tuple[str, str]:
    return span["traceId"], span["spanId"]


def _sorted_attributes(span: dict[str, Any]) -> dict[str, Any]:
    return {**span, "attributes": sorted(span.get("attributes", []), key=lambda a: a["key"])}


@pytest.mark.parametrize(("report_headers", "protocol"), [(False, None), (True, None), (False, "http/json"),
                                                          (True, "http/json")])  # fmt: skip
async def test_sampled_spans_decode_as_their_records_field_by_field(  # type: ignore[no-untyped-def]
    served, upstream, monkeypatch: pytest.MonkeyPatch, report_headers: bool, protocol: str | None
) -> None:
    """Through the default OTLP/HTTP body (protobuf, written directly) and ``http/json``."""
    if protocol is None:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    else:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    batches: list[list[Record]] = []
    written = {"spans_body": otlp.spans_body, "spans_proto": otlp.spans_proto}

    def spying(name: str) -> Any:
        def spy(records: Any, resource: Any) -> bytes:
            batches.append(list(records))
            body: bytes = written[name](records, resource)
            return body

        return spy

    for name in written:
        monkeypatch.setattr(export, name, spying(name))
    receiver = Receiver()
    rb = await upstream(receiver.app())
    one, two, boom = await upstream(_app()), await upstream(_app()), await upstream(_app(500))
    with refusing_port() as port:
        down = f"http://127.0.0.1:{port}"
        endpoints = [
            {"endpoint": "/users/{id}", "backend": [{"host": [one], "url_pattern": "/u/{id}"}]},
            {"endpoint": "/users/{id}/card", "backend": [{"host": [one], "url_pattern": "/c/{id}"}]},
            {"endpoint": "/orders/{id}", "method": "POST", "backend": [{"host": [two], "url_pattern": "/o/{id}"}]},
            {"endpoint": "/boom", "backend": [{"host": [boom], "url_pattern": "/b"}]},
            {"endpoint": "/down", "backend": [{"host": [down], "url_pattern": "/d"}]},
        ]
        layers = {"global": {"report_headers": report_headers}}
        otel = _otel(int(rb.rsplit(":", 1)[1]), layers=layers)
        s = await served(doc(endpoints, extra_config={"telemetry/opentelemetry": otel}))
        started = time.time_ns()
        statuses = []
        for method, path, headers, body in _REQUESTS:
            resp = await s.client.request(method, path, headers=headers, data=body)
            await resp.read()
            statuses.append(resp.status)
        assert statuses == [200, 200, 200, 200, 500, 500, 404, 200]
        exporter = s.gateway.resources.state[EXPORTER]
        for _ in range(50):  # the export loop may hold a batch in flight when a flush finds nothing left
            await exporter.flush()
            if len(receiver.spans()) >= sum(len(b) for b in batches) > 0 and not exporter.buffer.spans:
                break
            await asyncio.sleep(0.1)
    records = [r for batch in batches for r in batch]
    ctype = "application/json" if protocol == "http/json" else "application/x-protobuf"
    assert receiver.content_types and set(receiver.content_types) == {ctype}
    got = {_key(x): _sorted_attributes(x) for x in receiver.spans()}
    want = {_key(x): _sorted_attributes(x) for x in _decoded([_expected(span_of(r)) for r in records])}
    assert len(got) == len(receiver.spans()) == len(records)  # no span twice, none lost
    assert got == want
    servers = [x for x in got.values() if x["kind"] == "SPAN_KIND_SERVER"]
    assert sorted(x["name"] for x in servers) == sorted(
        ["GET /users/:id"] * 3 + ["GET /users/:id/card", "POST /orders/:id", "GET /boom", "GET /down",
                                  "GET 404 Not Found"]
    )  # fmt: skip
    assert len({x["traceId"] for x in servers}) == len(servers) == len(_REQUESTS)
    # the spans of each request nest in time: no child starts before its parent, none before the
    # test did, within a minute of it
    by_id = {x["spanId"]: x for x in got.values()}
    for span in got.values():
        start = int(span["startTimeUnixNano"])
        assert started - 10**6 <= start <= int(span["endTimeUnixNano"]) < started + 60 * 10**9, span
        parent = by_id.get(span.get("parentSpanId", ""))
        if parent is not None:
            assert int(parent["startTimeUnixNano"]) <= start, (parent, span)
