from __future__ import annotations

import asyncio
import base64
import random
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.otelsettings import parse_opentelemetry
from krakenpy.telemetry.servers import PROM_LISTENERS
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver, attrs

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _otel(receiver_port: int | None = None, prom_port: int | None = None, **extra: Any) -> dict[str, Any]:
    exporters: dict[str, Any] = {}
    if receiver_port is not None:
        exporters["otlp"] = [
            {"name": "local", "host": "http://127.0.0.1", "port": receiver_port, "use_http": True,
             "custom_metric_reporting_period": 1}
        ]  # fmt: skip
    if prom_port is not None:
        exporters["prometheus"] = [
            {"name": "prom", "port": prom_port, "listen_ip": "127.0.0.1", "process_metrics": True, "go_metrics": True}
        ]
    return {"service_name": "gw-test", "exporters": exporters, **extra}


def test_parse_opentelemetry_krakend_defaults() -> None:
    o = parse_opentelemetry({"exporters": {"otlp": [{"name": "a", "host": "jaeger"}]}}, "p", service_name="svc")
    assert o.service_name == "svc" and o.sample_rate == 1.0 and o.metric_period == 30
    assert o.otlp[0].port == 4317 and not o.otlp[0].use_http and not o.otlp[0].tls
    assert "/__health" in o.skip_paths and o.backend_traces.round_trip  # absent object: every stage on
    present = parse_opentelemetry({"layers": {"backend": {"traces": {"disable_stage": False}}}}, "p")
    assert not present.backend_traces.round_trip  # present object: unset switches off
    assert parse_opentelemetry({"skip_paths": [""]}, "p").skip_paths == frozenset()


def test_parse_opentelemetry_unique_exporter_names() -> None:
    from krakenpy.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_opentelemetry({"exporters": {"otlp": [{"name": "x"}], "prometheus": [{"name": "x"}]}}, "p")
    assert err.value.issues[0].path == "p.exporters.prometheus[0].name"


async def test_prometheus_metrics_route_labels_and_bounded_series(served, upstream) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([], {"a": 1}))
    s = await served(
        doc([{"endpoint": "/users/{id}", "backend": [{"host": [base], "url_pattern": "/u/{id}"}]}],
            extra_config={"telemetry/opentelemetry": _otel(prom_port=0)})
    )  # fmt: skip
    port = s.gateway.resources.state[PROM_LISTENERS][0].bound_port  # port 0: the kernel picked one
    assert port
    for i in range(3):
        assert (await s.client.get(f"/users/{i}")).status == 200
    await s.client.get("/__health")
    async with aiohttp.ClientSession() as http:

        async def scrape() -> dict[str, Any]:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                return {f.name: f for f in text_string_to_metric_families(await resp.text())}

        families = await scrape()
        server = families["http_server_duration"]
        assert server.type == "histogram"
        count = next(
            smp for smp in server.samples
            if smp.name == "http_server_duration_count" and smp.labels["http_route"] == "/users/:id"
        )  # fmt: skip
        assert count.value == 3
        assert count.labels["http_request_method"] == "GET" and count.labels["http_response_status_code"] == "200"
        assert count.labels["url_scheme"] == "http" and count.labels["otel_scope_name"] == "io.krakend.krakend-otel"
        buckets = [
            smp for smp in server.samples if smp.name.endswith("_bucket") and smp.labels["http_route"] == "/users/:id"
        ]
        values = [b.value for b in buckets]
        assert values == sorted(values) and buckets[-1].labels["le"] == "+Inf" and values[-1] == 3
        assert not any(smp.labels.get("http_route") == "/__health" for smp in server.samples)  # skip_paths
        for name in ("krakend_proxy_duration", "krakend_backend_duration", "http_client_duration",
                     "http_client_request_started_count", "http_server_response_size", "process_cpu_seconds",
                     "process_resident_memory_bytes", "python_gc_collections", "target_info"):  # fmt: skip
            assert name in families, name
        backend = next(smp for smp in families["krakend_backend_duration"].samples if smp.name.endswith("_count"))
        assert backend.labels["http_route"] == "/u/:id" and backend.labels["krakend_endpoint_route"] == "/users/:id"
        started = families["http_client_request_started_count"].samples[0]
        assert started.labels["server_address"] == "127.0.0.1" and started.value == 3
        before = sum(len(f.samples) for f in families.values() if not f.name.startswith(("process", "python")))
        for _ in range(200):
            await s.client.get(f"/random/{random.getrandbits(64):x}")
        after_families = await scrape()
        after = sum(len(f.samples) for f in after_families.values() if not f.name.startswith(("process", "python")))
        unmatched = {smp.labels["http_route"] for smp in after_families["http_server_duration"].samples}
        assert unmatched == {"/users/:id", "404 Not Found"}
        assert after - before <= 2 * 25  # one 404 series per instrument, whatever the paths


async def test_otlp_trace_tree_and_propagation(served, upstream) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen, {"a": 1}))
    s = await served(
        doc([{"endpoint": "/users/{id}", "backend": [{"host": [base], "url_pattern": "/u/{id}"}]}],
            extra_config={"telemetry/opentelemetry": _otel(int(receiver_base.rsplit(":", 1)[1]))})
    )  # fmt: skip
    resp = await s.client.get("/users/5?sig=OTLPSECRET", headers={"traceparent": TRACEPARENT, "X-Request-Id": "t-1"})
    assert resp.status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    spans = receiver.spans()
    assert len(spans) == 5  # + the body read (backend traces absent: read_payload on)
    by_kind = {(sp["kind"], sp["name"]): sp for sp in spans}
    server = by_kind[("SPAN_KIND_SERVER", "GET /users/:id")]
    proxy = by_kind[("SPAN_KIND_INTERNAL", "/users/:id")]
    backend = by_kind[("SPAN_KIND_INTERNAL", "/u/{{.Id}}")]
    client = by_kind[("SPAN_KIND_CLIENT", "/u/{{.Id}}")]
    assert {sp["traceId"] for sp in spans} == {"0af7651916cd43dd8448eb211c80319c"}  # continued
    assert server["parentSpanId"] == "b7ad6b7169203331"
    assert proxy["parentSpanId"] == server["spanId"] and backend["parentSpanId"] == proxy["spanId"]
    assert client["parentSpanId"] == backend["spanId"]
    assert by_kind[("SPAN_KIND_INTERNAL", "http.client.response.read.tracker")]["parentSpanId"] == client["spanId"]
    a = attrs(server)
    assert a["http.route"] == "/users/:id" and a["krakend.stage"] == "global" and a["http.request.id"] == "t-1"
    assert a["url.full"] == "/users/5?sig=[REDACTED]" and a["http.response.status_code"] == "200"
    assert attrs(proxy)["krakend.stage"] == "proxy" and attrs(backend)["krakend.endpoint.route"] == "/users/:id"
    c = attrs(client)
    assert c["krakend.stage"] == "backend-request" and c["server.address"] == "127.0.0.1"
    assert c["http.response.status_code"] == "200"
    got = seen[0].headers["traceparent"]
    assert got == f"00-0af7651916cd43dd8448eb211c80319c-{client['spanId']}-01"
    assert b"OTLPSECRET" not in b"".join(receiver.bodies)
    resource = attrs(receiver.traces[0]["resourceSpans"][0]["resource"])
    assert resource["service.name"] == "gw-test"


async def test_unsampled_requests_still_propagate_flags_00(served, upstream) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    otel = _otel(int(receiver_base.rsplit(":", 1)[1]), trace_sample_rate=0.5)
    s = await served(
        doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/opentelemetry": otel})
    )  # fmt: skip
    await s.client.get("/a", headers={"traceparent": TRACEPARENT.replace("-01", "-00")})
    await s.gateway.resources.state[EXPORTER].flush()
    assert receiver.spans() == []
    sent = seen[0].headers["traceparent"].split("-")
    assert sent[1] == "0af7651916cd43dd8448eb211c80319c" and sent[3] == "00"


async def test_otlp_trace_tree_of_merged_and_concurrent_backends(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """Backends that run concurrently (a merge, concurrent_calls) each parent their own CLIENT and
    body-read spans (a context variable; a lone backend uses the exchange), ids unique in the trace."""
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen, {"a": 1}))
    merged = [{"host": [base], "url_pattern": f"/m/{i}", "group": f"g{i}"} for i in range(3)]
    s = await served(
        doc([{"endpoint": "/merged", "backend": merged},
             {"endpoint": "/copies", "concurrent_calls": 2, "backend": [{"host": [base], "url_pattern": "/c"}]}],
            extra_config={"telemetry/opentelemetry": _otel(int(receiver_base.rsplit(":", 1)[1]))})
    )  # fmt: skip
    assert (await s.client.get("/merged")).status == 200
    assert (await s.client.get("/copies")).status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    spans = receiver.spans()
    by_id = {sp["spanId"]: sp for sp in spans}
    assert len(by_id) == len(spans)  # no id twice
    for name, calls in (("/m/0", 1), ("/m/1", 1), ("/m/2", 1), ("/c", 2)):
        backends = [sp for sp in spans if sp["kind"] == "SPAN_KIND_INTERNAL" and sp["name"] == name]
        clients = [sp for sp in spans if sp["kind"] == "SPAN_KIND_CLIENT" and sp["name"] == name]
        assert len(backends) == calls and len(clients) == calls
        assert {c["parentSpanId"] for c in clients} == {b["spanId"] for b in backends}
        reads = [sp for sp in spans if sp["name"] == "http.client.response.read.tracker" and sp["parentSpanId"]
                 in {c["spanId"] for c in clients}]  # fmt: skip
        assert len(reads) == calls
        for b in backends:
            assert by_id[b["parentSpanId"]]["kind"] == "SPAN_KIND_INTERNAL"  # the proxy span
    sent = {r.path: r.headers["traceparent"].split("-")[2] for r in seen}
    clients = {sp["spanId"] for sp in spans if sp["kind"] == "SPAN_KIND_CLIENT"}
    assert set(sent.values()) <= clients  # each backend saw its own CLIENT span as the parent


async def test_metrics_only_otel_injects_no_traceparent(served, upstream) -> None:  # type: ignore[no-untyped-def]
    # krakend-otel without a trace exporter runs a no-op tracer: no recording CLIENT span, no header
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    otel = _otel(prom_port=0)
    otel["exporters"]["otlp"] = [{"name": "m", "host": "http://127.0.0.1", "port": 9, "disable_traces": True}]
    s = await served(
        doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/opentelemetry": otel})
    )  # fmt: skip
    assert s.gateway.resources.state.get(EXPORTER) is not None  # the OTLP metrics exporter runs
    assert (await s.client.get("/a")).status == 200
    assert (await s.client.get("/a", headers={"traceparent": TRACEPARENT})).status == 200
    assert len(seen) == 2
    assert all("traceparent" not in r.headers and "baggage" not in r.headers for r in seen)


async def test_otlp_protobuf_bodies_and_metric_export(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    base = await upstream(recording_app([]))
    s = await served(
        doc([{"endpoint": "/a/{x}", "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/opentelemetry": _otel(int(receiver_base.rsplit(":", 1)[1]))})
    )  # fmt: skip
    await s.client.get("/a/1")
    await s.gateway.resources.state[EXPORTER].flush()
    assert receiver.content_types == ["application/x-protobuf"] and len(receiver.spans()) == 5
    for _ in range(40):  # custom_metric_reporting_period: 1 s
        if receiver.metrics:
            break
        await asyncio.sleep(0.05)
    metrics = {
        m["name"]: m
        for rm in receiver.metrics[0]["resourceMetrics"]
        for sm in rm["scopeMetrics"]
        for m in sm["metrics"]
    }
    point = metrics["http.server.duration"]["histogram"]["dataPoints"][0]
    assert attrs(point)["http.route"] == "/a/:x" and point["count"] == "1"
    assert point["explicitBounds"][0] == 0.01 and len(point["bucketCounts"]) == len(point["explicitBounds"]) + 1


async def test_grpc_exporters_without_the_extra_are_explained() -> None:
    from krakenpy.telemetry.export import grpc_available

    if grpc_available():
        pytest.skip("grpcio is installed here")
    service = build_service(
        doc([{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
            extra_config={"telemetry/opentelemetry": {"exporters": {"otlp": [{"name": "jaeger", "host": "jaeger"}]}}})
    )  # fmt: skip
    gateway = await build_gateway(service)
    warnings = list(gateway.resources.warnings)
    await gateway.close()
    assert any("otlp-grpc" in w and "jaeger" in w for w in warnings)


async def test_lambda_gets_trace_context_in_client_context_and_apigw_headers(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    invocations: list[tuple[dict[str, str], Any]] = []

    async def invoke(request: web.Request) -> web.Response:  # the Lambda Invoke API, recorded
        invocations.append((dict(request.headers), orjson.loads(await request.read())))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)
    lambda_api = await upstream(app)
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    lambda_options = {"function_name": "f", "region": "us-east-1", "endpoint": lambda_api, "payload": "apigw_v2"}
    backend = {"url_pattern": "/unused", "extra_config": {"backend/lambda": lambda_options}}
    s = await served(
        doc(
            [{"endpoint": "/fn", "method": "POST", "backend": [backend]}],
            extra_config={"telemetry/opentelemetry": _otel(int(receiver_base.rsplit(":", 1)[1]))},
        )
    )
    resp = await s.client.post("/fn", json={}, headers={"traceparent": TRACEPARENT, "X-Request-Id": "l-1"})
    assert resp.status == 200, await resp.text()
    await s.gateway.resources.state[EXPORTER].flush()
    headers, event = invocations[0]
    context = orjson.loads(base64.b64decode(headers["X-Amz-Client-Context"]))["custom"]
    client = next(sp for sp in receiver.spans() if sp["kind"] == "SPAN_KIND_CLIENT")
    assert context["traceparent"] == f"00-0af7651916cd43dd8448eb211c80319c-{client['spanId']}-01"
    assert context["x-request-id"] == "l-1"
    assert event["headers"]["traceparent"] == context["traceparent"]
    assert attrs(client)["rpc.service"] == "Lambda" and attrs(client)["faas.invoked_name"] == "f"
