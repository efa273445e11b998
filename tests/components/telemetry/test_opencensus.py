"""telemetry/opencensus end to end: a served gateway, real backends and real receivers on
127.0.0.1 (Prometheus scrapes, a Jaeger collector and agent, Zipkin, InfluxDB, the log)."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.opencensus.setup import OC_CLIENT, OC_LISTENER, OC_PUMPS, OC_SERVER
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.opencensus_receivers import (
    AgentListener,
    Collector,
    decode_agent_packet,
    tags,
    unsigned_hex,
)
from tests.components.telemetry.otlp_receiver import Receiver
from tests.conftest import free_port

NS = "telemetry/opencensus"
TRACE = "463ac35c9f6413ad48485a3953bb6124"
PARENT = "0020000000000001"


async def _until(condition: Any, timeout: float = 5.0) -> None:
    """Wait (bounded) for what a background export loop may be sending right now."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _endpoints(base: str, path: str = "/users/{id}", pattern: str = "/u/{id}") -> list[dict[str, Any]]:
    return [{"endpoint": path, "backend": [{"host": [base], "url_pattern": pattern}]}]


async def _scrape(port: int) -> tuple[str, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    return text, {f.name: f for f in text_string_to_metric_families(text)}


async def test_opencensus_prometheus_views_with_corpus_023_tags(served, upstream) -> None:  # type: ignore[no-untyped-def]
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen, {"a": 1}))
    port = free_port()
    census = {
        "sample_rate": 10, "reporting_period": 60, "enabled_layers": {"backend": True, "router": True},
        "exporters": {"prometheus": {"port": port, "namespace": "krakend", "tag_host": False, "tag_path": True,
                                     "tag_method": True, "tag_statuscode": False}},
    }  # fmt: skip
    s = await served(doc(_endpoints(base, "/Users/{id}"), extra_config={NS: census}))
    for i in range(3):
        assert (await s.client.post(f"/Users/{i}", data=b"x" * 10)).status == 405  # a 405 is no endpoint's
        assert (await s.client.get(f"/Users/{i}")).status == 200
    assert (await s.client.get("/__health")).status == 200
    assert (await s.client.get("/nowhere")).status == 404
    text, families = await _scrape(port)
    count = families["krakend_opencensus_io_http_server_request_count"]
    assert count.type == "counter" and len(count.samples) == 1
    assert count.samples[0].labels == {"http_method": "GET", "http_path": "/users/{id}"} and count.samples[0].value == 3
    by_status = families["krakend_opencensus_io_http_server_response_count_by_status_code"].samples
    assert [(x.labels, x.value) for x in by_status] == [
        ({"http_method": "GET", "http_path": "/users/{id}", "http_status": "200"}, 3)
    ]
    latency = families["krakend_opencensus_io_http_server_latency"]
    assert latency.type == "histogram"
    les = [x.labels["le"] for x in latency.samples if x.name.endswith("_bucket")]
    assert les[:4] == ["1", "2", "3", "4"] and les[-2:] == ["100000", "+Inf"]
    assert next(x.value for x in latency.samples if x.name.endswith("_count")) == 3
    client = families["krakend_opencensus_io_http_client_completed_count"].samples
    assert [(x.labels, x.value) for x in client] == [
        ({"http_client_method": "GET", "http_client_path": "/u/{id}", "http_client_status": "200"}, 3)
    ]
    received = families["krakend_opencensus_io_http_client_received_bytes"]
    assert next(x.value for x in received.samples if x.name.endswith("_sum")) == 3 * len(b'{"a": 1}')  # aiohttp's JSON
    assert "process_resident_memory_bytes" in families and "python_gc_collections" in families
    assert not [row for row in text.splitlines() if row.startswith("krakend_") and "_total" in row.split("{")[0]]
    # B3 multi-header to every backend call, whatever the sampling (no trace exporter here)
    for request in seen:
        assert len(request.headers["X-B3-TraceId"]) == 32 and len(request.headers["X-B3-SpanId"]) == 16
        assert request.headers["X-B3-Sampled"] in ("0", "1") and "traceparent" not in request.headers


async def test_opencensus_jaeger_collector_gets_the_trace_tree(served, upstream) -> None:  # type: ignore[no-untyped-def]
    collector = Collector()
    jaeger_base = await upstream(collector.app())
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen, {"a": 1}))
    census = {  # corpus 001/048: router and backend layers, every request sampled
        "sample_rate": 100, "reporting_period": 1, "enabled_layers": {"backend": True, "router": True},
        "exporters": {"jaeger": {"endpoint": f"{jaeger_base}/api/traces", "service_name": "krakend"}},
    }  # fmt: skip
    s = await served(doc(_endpoints(base), extra_config={NS: census}))
    before = time.time_ns() // 1000
    headers = {"X-B3-TraceId": TRACE, "X-B3-SpanId": PARENT, "X-B3-Sampled": "1", "User-Agent": "probe/1"}
    resp = await s.client.get("/users/5?token=OCSECRET", headers=headers)
    assert resp.status == 200
    after = time.time_ns() // 1000
    (pump,) = s.gateway.resources.state[OC_PUMPS]
    await pump.flush()
    await _until(lambda: len(collector.spans()) == 3)
    assert set(collector.content_types) == {"application/x-thrift"}
    assert {batch.process.serviceName for batch in collector.batches} == {"krakend"}
    spans = {sp.operationName: sp for sp in collector.spans()}
    assert set(spans) == {"Recv./users/:id", "backend-/u/{{.Id}}", "Sent./u/5"}  # no pipe layer (not enabled)
    router, backend, client = spans["Recv./users/:id"], spans["backend-/u/{{.Id}}"], spans["Sent./u/5"]
    for sp in collector.spans():
        assert unsigned_hex(sp.traceIdHigh) + unsigned_hex(sp.traceIdLow) == TRACE  # continued from B3
        assert sp.flags == 1 and before <= sp.startTime <= after and 0 <= sp.duration <= after - before
    assert unsigned_hex(router.parentSpanId) == PARENT
    assert backend.parentSpanId == router.spanId and client.parentSpanId == backend.spanId
    assert router.duration >= client.duration
    r = tags(router)
    assert r["http.path"] == "/users/5" and r["http.url"] == "/users/5?token=[REDACTED]"
    assert r["http.method"] == "GET" and r["http.user_agent"] == "probe/1" and r["http.status_code"] == 200
    assert r["status.code"] == 0 and "error" not in r
    assert tags(backend) == {"complete": True, "status.code": 0, "status.message": ""}
    c = tags(client)
    assert c["http.url"] == f"{base}/u/5" and c["http.host"] == base.removeprefix("http://")
    assert c["http.status_code"] == 200 and c["status.message"] == "OK"
    got = seen[0].headers
    assert got["X-B3-TraceId"] == TRACE and got["X-B3-SpanId"] == unsigned_hex(client.spanId)
    assert got["X-B3-Sampled"] == "1"


async def test_opencensus_jaeger_agent_gets_compact_udp_batches(served, upstream) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    transport, agent = await loop.create_datagram_endpoint(AgentListener, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        base = await upstream(recording_app([], {"a": 1}))
        census = {"sample_rate": 100, "exporters": {"jaeger": {"agent_endpoint": f"127.0.0.1:{port}",
                                                               "service_name": "edge"}}}  # fmt: skip
        s = await served(doc(_endpoints(base), extra_config={NS: census}))
        assert (await s.client.get("/users/7", headers={"b3": f"{TRACE}-{PARENT}-1"})).status == 200  # single header
        await s.gateway.resources.state[OC_PUMPS][0].flush()
        decoded = []

        def received() -> bool:
            decoded[:] = [decode_agent_packet(p) for p in agent.packets]
            return sum(len(d[3].spans) for d in decoded) == 4

        await _until(received)
        assert {(name, mtype, batch.process.serviceName) for name, mtype, _seq, batch in decoded} == {
            ("emitBatch", 4, "edge")  # 4: a oneway call
        }
        spans = [sp for d in decoded for sp in d[3].spans]
        names = sorted(sp.operationName for sp in spans)
        assert names == ["Recv./users/:id", "Sent./u/7", "backend-/u/{{.Id}}", "pipe-/users/:id"]  # every layer
        assert {unsigned_hex(sp.traceIdHigh) + unsigned_hex(sp.traceIdLow) for sp in spans} == {TRACE}
    finally:
        transport.close()


async def test_opencensus_zipkin_gets_v2_json(served, upstream) -> None:  # type: ignore[no-untyped-def]
    collector = Collector()
    zipkin_base = await upstream(collector.app())
    base = await upstream(recording_app([], {"oops": True}, status=503))
    zipkin = {"collector_url": f"{zipkin_base}/api/v2/spans", "service_name": "krakend", "ip": "10.0.0.9", "port": 8080}
    census = {"sample_rate": 100, "exporters": {"zipkin": zipkin}}
    s = await served(doc(_endpoints(base), extra_config={NS: census}))
    assert (await s.client.get("/users/1")).status == 500
    await s.gateway.resources.state[OC_PUMPS][0].flush()
    await _until(lambda: len(collector.zipkin) == 4)
    assert set(collector.content_types) == {"application/json"}
    by_name = {sp["name"]: sp for sp in collector.zipkin}
    assert set(by_name) == {"/users/:id", "pipe-/users/:id", "backend-/u/{{.Id}}", "/u/1"}
    router, client = by_name["/users/:id"], by_name["/u/1"]
    assert router["kind"] == "SERVER" and client["kind"] == "CLIENT" and "kind" not in by_name["pipe-/users/:id"]
    assert router["localEndpoint"] == {"serviceName": "krakend", "ipv4": "10.0.0.9", "port": 8080}
    assert router["tags"]["http.status_code"] == "500" and "parentId" not in router  # a new trace
    assert client["tags"]["http.status_code"] == "503" and client["tags"]["error"] == "UNAVAILABLE"
    assert by_name["pipe-/users/:id"]["tags"] == {"error": "true", "complete": "false"}
    assert {sp["traceId"] for sp in collector.zipkin} == {router["traceId"]} and len(router["traceId"]) == 32


async def test_opencensus_logger_writes_spans_and_stats(served, upstream, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG, logger="krakenpy.telemetry")
    base = await upstream(recording_app([], {"a": 1}))
    census = {"sample_rate": 100, "reporting_period": 1, "exporters": {"logger": {"stats": True, "spans": True}}}
    s = await served(doc(_endpoints(base), extra_config={NS: census}))
    assert (await s.client.get("/users/3")).status == 200
    await s.gateway.resources.state[OC_PUMPS][0].flush()
    await _until(lambda: "[SERVICE: Opencensus] span /u/3 " in caplog.text)
    assert "[SERVICE: Opencensus] span /users/:id trace_id=" in caplog.text and "http.status_code=200" in caplog.text
    # the views come each reporting period (1 s)
    await _until(lambda: "view opencensus.io/http/server/request_count_by_method" in caplog.text)
    assert "[SERVICE: Opencensus] view opencensus.io/http/server/request_count {} count=1" in caplog.text
    assert "view opencensus.io/http/server/request_count_by_method {http.method=GET} count=1" in caplog.text


async def test_opencensus_influxdb_gets_the_views(served, upstream) -> None:  # type: ignore[no-untyped-def]
    writes: list[tuple[str, str, bytes]] = []
    arrived = asyncio.Event()

    async def write(request: web.Request) -> web.Response:
        writes.append((request.query.get("db", ""), request.headers.get("Authorization", ""), await request.read()))
        arrived.set()
        return web.Response(status=204)

    influx = web.Application()
    influx.router.add_post("/write", write)
    influx_url = await upstream(influx)
    base = await upstream(recording_app([], {"a": 1}))
    influxdb = {"address": influx_url, "db": "krakend", "username": "u", "password": "INFLUXSECRET", "timeout": "2s"}
    census = {"reporting_period": 1, "exporters": {"influxdb": influxdb}}
    s = await served(doc(_endpoints(base), extra_config={NS: census}))
    assert (await s.client.get("/users/3")).status == 200
    await asyncio.wait_for(arrived.wait(), 5)
    db, auth, body = writes[0]
    assert db == "krakend" and auth == "Basic " + base64.b64encode(b"u:INFLUXSECRET").decode()
    lines = body.decode().splitlines()
    assert any(line.startswith("opencensus.io/http/server/request_count count=1i ") for line in lines)
    assert any(line.startswith("opencensus.io/http/client/completed_count,http_client_method=GET,"
                               "http_client_status=200 count=1i ") for line in lines)  # fmt: skip
    assert s.gateway.resources.state.get(OC_SERVER) is not None


async def test_opencensus_with_opentelemetry_one_tracer_both_exporters(served, upstream) -> None:  # type: ignore[no-untyped-def]
    otlp = Receiver()
    otlp_base = await upstream(otlp.app())
    collector = Collector()
    jaeger_base = await upstream(collector.app())
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen, {"a": 1}))
    otlp_port = int(otlp_base.rsplit(":", 1)[1])
    extra = {
        "telemetry/opentelemetry": {
            "exporters": {"otlp": [{"name": "o", "host": "http://127.0.0.1", "port": otlp_port, "use_http": True}]}
        },
        NS: {"sample_rate": 100, "exporters": {"jaeger": {"endpoint": f"{jaeger_base}/api/traces"}}},
    }
    s = await served(doc(_endpoints(base), extra_config=extra))
    assert (await s.client.get("/users/9")).status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    await s.gateway.resources.state[OC_PUMPS][0].flush()
    # OTel's body-read span (read_payload, on by default) has no OpenCensus counterpart
    await _until(lambda: len(otlp.spans()) == 5 and len(collector.spans()) == 4)
    otel_spans = [sp for sp in otlp.spans() if sp["name"] != "http.client.response.read.tracker"]
    jaeger_spans = collector.spans()
    assert {sp["name"] for sp in otel_spans} == {"GET /users/:id", "/users/:id", "/u/{{.Id}}"}
    assert {sp.operationName for sp in jaeger_spans} == {"Recv./users/:id", "pipe-/users/:id",
                                                         "backend-/u/{{.Id}}", "Sent./u/9"}  # fmt: skip
    trace = otel_spans[0]["traceId"]
    assert {unsigned_hex(sp.traceIdHigh) + unsigned_hex(sp.traceIdLow) for sp in jaeger_spans} == {trace}
    assert {sp["spanId"] for sp in otel_spans} == {unsigned_hex(sp.spanId) for sp in jaeger_spans}
    got = seen[0].headers
    assert got["traceparent"].split("-")[1] == trace == got["X-B3-TraceId"]  # W3C and B3 to the backend
    assert got["traceparent"].split("-")[2] == got["X-B3-SpanId"]


async def test_opencensus_failing_collector_is_logged_once(served, upstream, caplog) -> None:  # type: ignore[no-untyped-def]
    collector = Collector(status=500)
    jaeger_base = await upstream(collector.app())
    base = await upstream(recording_app([], {"a": 1}))
    census = {"sample_rate": 100, "exporters": {"jaeger": {"endpoint": f"{jaeger_base}/api/traces"}}}
    s = await served(doc(_endpoints(base), extra_config={NS: census}))
    pump = s.gateway.resources.state[OC_PUMPS][0]
    for i in range(3):
        assert (await s.client.get(f"/users/{i}")).status == 200
        await pump.flush()
    await _until(lambda: len(collector.spans()) == 12)  # sent; the collector refused each batch
    failures = [r for r in caplog.records if "jaeger export failed" in r.getMessage()]
    assert len(failures) == 1 and "HTTP status code: 500" in failures[0].getMessage()
    assert failures[0].getMessage().startswith("[SERVICE: Opencensus]")


async def test_opencensus_buffer_max_count_bounds_the_queue(upstream, caplog) -> None:  # type: ignore[no-untyped-def]
    from krakenpy.telemetry.opencensus.exporter import SpanPump
    from krakenpy.telemetry.opencensus.jaeger import CollectorSink
    from krakenpy.telemetry.opencensus.settings import JaegerOptions, Layers
    from krakenpy.telemetry.opencensus.spans import Translator
    from krakenpy.telemetry.trace.spans import INTERNAL, Span, SpanBuffer

    collector = Collector()
    jaeger_base = await upstream(collector.app())
    buffer = SpanBuffer(limit=2, wake_at=2)  # what buffer_max_count: 2 builds
    pump = SpanPump(buffer, Translator(Layers(), ["/a"]), CollectorSink(JaegerOptions(f"{jaeger_base}/api/traces")))
    await pump.sink.open()
    try:
        for i in range(5):
            buffer.end(Span(TRACE, None, f"/u/{i}", INTERNAL, {"krakend.stage": "backend"}))
        assert buffer.dropped == 3
        await pump.flush()
        assert [sp.operationName for sp in collector.spans()] == ["backend-/u/0", "backend-/u/1"]
        assert any("jaeger: 3 span(s) dropped so far" in r.getMessage() for r in caplog.records)
    finally:
        await pump.sink.close()


async def test_opencensus_unreachable_collector_never_blocks_requests(served, upstream) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([], {"a": 1}))
    census = {"sample_rate": 100, "exporters": {"zipkin": {"collector_url": f"http://127.0.0.1:{free_port()}/x"}}}
    s = await served(doc(_endpoints(base), extra_config={NS: census}))
    for i in range(20):
        assert (await s.client.get(f"/users/{i}")).status == 200
    pump = s.gateway.resources.state[OC_PUMPS][0]
    await pump.flush()  # connection refused: logged, not raised
    assert pump.exported == 0 and pump.buffer.spans == [] and pump.buffer.dropped == 0


async def test_opencensus_prometheus_port_busy_is_logged_and_serving_goes_on(served, upstream, caplog) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        base = await upstream(recording_app([], {"a": 1}))
        s = await served(doc(_endpoints(base), extra_config={NS: {"exporters": {"prometheus": {"port": port}}}}))
        assert (await s.client.get("/users/1")).status == 200  # KrakenD's exporter would log.Fatal here
        assert s.gateway.resources.state[OC_LISTENER].bound_port is None
        assert any("[SERVICE: Opencensus] cannot listen" in r.getMessage() for r in caplog.records)


async def test_opencensus_absent_adds_nothing_per_request() -> None:
    gw = await build_gateway(build_service(doc(_endpoints("http://127.0.0.1:18080"))), serving=False)
    try:
        state = gw.resources.state
        assert state.get(OC_SERVER) is None and state.get(OC_CLIENT) is None and state.get(OC_PUMPS) is None
        assert not any("opencensus" in w for w in gw.resources.warnings)
    finally:
        await gw.close()


async def test_opencensus_check_warns_it_is_deprecated(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import orjson

    from krakenpy.cli import main

    config = doc(_endpoints("http://127.0.0.1:18080"), extra_config={NS: {"sample_rate": 100, "exporters": {
        "prometheus": {"port": 9091}, "stackdriver": {"project_id": "p", "default_labels": {}},
        "influxdb": {"address": "http://influx:8086", "ping": True, "buffer_size": 0}}}})  # fmt: skip
    path = tmp_path / "krakend.json"
    path.write_bytes(orjson.dumps(config))
    assert await asyncio.to_thread(main, ["check", "-c", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"WARNING: extra_config.{NS}: deprecated by KrakenD: move to telemetry/opentelemetry" in err
    assert (
        f"WARNING: extra_config.{NS}.exporters.stackdriver: accepted; no effect in krakenpy "
        "(an exporter krakenpy does not implement: nothing is sent" in err
    )
    assert f"WARNING: extra_config.{NS}.exporters.influxdb.ping: accepted; no effect in krakenpy" in err
    assert "buffer_size" not in err  # 0 asks for nothing krakenpy fails to do


@pytest.mark.parametrize(
    "name", ["035-pattpboy-krakend-playground.json", "023-solomonai-backend-api-gateway-prod.json"]
)
async def test_opencensus_corpus_configs_build_their_exporters(name: str) -> None:
    from krakenpy.gateway import load
    from tests.test_corpus_check import CORPUS

    path = CORPUS / name
    if not path.exists():
        pytest.skip("corpus folder not present next to the repo")
    loaded = load(path, use_env=False)
    assert not any(NS in w.path for w in loaded.warnings)  # implemented: no "not implemented" warning
    gw = await build_gateway(loaded.service, parsed=loaded.parsed, base_dir=path.parent, serving=False)
    try:
        state = gw.resources.state
        if name.startswith("035"):  # jaeger, every layer, every request
            assert [p.sink.name for p in state[OC_PUMPS]] == ["jaeger"] and state.get(OC_LISTENER) is None
        else:  # prometheus on 9091 with path and method labels, router and backend views
            assert state.get(OC_PUMPS) is None and state[OC_LISTENER].port == 9091
            assert state.get(OC_SERVER) is not None and state.get(OC_CLIENT) is not None
    finally:
        await gw.close()


async def test_opencensus_gateway_closed_before_serving_sends_nothing(caplog) -> None:  # type: ignore[no-untyped-def]
    from multidict import CIMultiDict, CIMultiDictProxy

    from krakenpy.edge import HttpRequest

    census = {"sample_rate": 100, "exporters": {"jaeger": {"endpoint": "http://127.0.0.1:9/api/traces"}}}
    gw = await build_gateway(
        build_service(doc(_endpoints(f"http://127.0.0.1:{free_port()}"), extra_config={NS: census}))
    )
    headers = CIMultiDictProxy(CIMultiDict({"Host": "gw"}))
    response = await gw.edge(HttpRequest("GET", "/users/1", "", headers, remote="127.0.0.1", host="gw"))
    assert response.status >= 500  # nothing listens there: spans were recorded all the same
    (pump,) = gw.resources.state[OC_PUMPS]
    assert len(pump.buffer.spans) == 4
    await gw.close()  # the exporter never started: it neither sends nor complains
    assert not [r for r in caplog.records if "Opencensus" in r.getMessage()]


async def test_opencensus_legacy_namespace_is_the_same_component(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import orjson

    from krakenpy.gateway import load

    legacy = {"github_com/devopsfaith/krakend-opencensus": {"exporters": {"prometheus": {"port": 9091}}}}
    path = tmp_path / "krakend.json"
    path.write_bytes(orjson.dumps(doc(_endpoints("http://127.0.0.1:18080"), extra_config=legacy)))
    loaded = load(path)
    gw = await build_gateway(loaded.service, parsed=loaded.parsed, serving=False)
    try:
        assert gw.resources.state.get(OC_SERVER) is not None and gw.resources.state[OC_LISTENER].port == 9091
    finally:
        await gw.close()


def test_opencensus_real_cli_serves_the_views(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import signal
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    import orjson

    from tests.conftest import ROOT

    port, prom = free_port(), free_port()
    census = {"exporters": {"prometheus": {"port": prom, "tag_statuscode": True}}}
    config = doc(_endpoints(f"http://127.0.0.1:{free_port()}", "/down/{id}"), port=port, extra_config={NS: census})
    path = tmp_path / "krakend.json"
    path.write_bytes(orjson.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(path), "-w", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/__health", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "gateway did not start"
                time.sleep(0.05)
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/down/1", timeout=5)
        failed.value.close()  # the error holds the response's socket
        assert failed.value.code == 500  # nothing listens behind it
        with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as scraped:
            text = scraped.read().decode()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    families = {f.name: f for f in text_string_to_metric_families(text)}
    (served,) = families["opencensus_io_http_server_response_count_by_status_code"].samples
    assert served.labels == {"http_status": "500"} and served.value == 1
    (called,) = families["opencensus_io_http_client_completed_count"].samples
    assert called.labels == {"http_client_method": "GET", "http_client_status": "500"} and called.value == 1
    assert "Traceback" not in out + err


def _census_doc(base: str, zipkin_base: str, rate: int, with_otel: bool) -> dict[str, Any]:
    zipkin = {"collector_url": f"{zipkin_base}/api/v2/spans"}
    extra: dict[str, Any] = {NS: {"sample_rate": rate, "exporters": {"zipkin": zipkin}}}
    if with_otel:  # metrics only: no trace exporter, OpenCensus' sampler replaces the OTel tracer's
        prom = {"name": "p", "port": free_port(), "listen_ip": "127.0.0.1"}
        extra["telemetry/opentelemetry"] = {"exporters": {"prometheus": [prom]}}
    return doc(_endpoints(base), extra_config=extra)


@pytest.mark.parametrize("with_otel", [False, True])
async def test_opencensus_sample_rate_decides_which_traces_are_exported(served, upstream, with_otel) -> None:  # type: ignore[no-untyped-def]
    """``sample_rate`` as OpenCensus applies it on the request path: a new trace by its trace id (the
    upper 63 bits against the rate), 0 never (a caller's sampled flag included)."""
    collector = Collector()
    zipkin_base = await upstream(collector.app())
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen, {"a": 1}))
    s = await served(_census_doc(base, zipkin_base, 50, with_otel))
    high, low = "f" * 32, "0" * 31 + "1"  # above and below 50 % of the trace-id range
    for trace in (high, low):
        headers = {"X-B3-TraceId": trace, "X-B3-SpanId": PARENT}
        assert (await s.client.get("/users/1", headers=headers)).status == 200
    await s.gateway.resources.state[OC_PUMPS][0].flush()
    await _until(lambda: len(collector.zipkin) == 4)
    await asyncio.sleep(0.1)
    assert {sp["traceId"] for sp in collector.zipkin} == {low}
    assert [r.headers["X-B3-Sampled"] for r in seen] == ["0", "1"]

    seen.clear()
    s = await served(_census_doc(base, zipkin_base, 0, with_otel))
    for headers in ({}, {"X-B3-TraceId": low, "X-B3-SpanId": PARENT, "X-B3-Sampled": "1"}):
        assert (await s.client.get("/users/1", headers=headers)).status == 200
    assert s.gateway.resources.state.get(OC_PUMPS) is None  # 0: no span exporter at all
    assert [r.headers["X-B3-Sampled"] for r in seen] == ["0", "0"]  # and nothing sampled downstream


async def test_opencensus_b3_in_is_read_as_otel_go_reads_it(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """The trace a caller's B3 headers continue (the backend's ``X-B3-TraceId``): what otel-go's B3
    propagator takes (a 64-bit trace id padded; the single header first, else ``X-B3-*``), and a new
    trace for what it refuses (upper-case hex, a bad parent span id, an ``X-B3-Sampled`` it does not
    know), which the readers took after lower-casing or splitting the value."""
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen, {"a": 1}))
    census = {"sample_rate": 100, "enabled_layers": {"backend": True}, "exporters": {}}
    s = await served(doc(_endpoints(base), extra_config={NS: census}))
    low = TRACE[16:]
    cases: list[tuple[dict[str, str], str | None]] = [
        ({"b3": f"{low}-{PARENT}-1"}, "0" * 16 + low),
        ({"b3": f"{TRACE}-{PARENT}-d"}, TRACE),
        ({"b3": "0", "X-B3-TraceId": TRACE, "X-B3-SpanId": PARENT, "X-B3-Sampled": "True"}, TRACE),
        ({"b3": f"{TRACE.upper()}-{PARENT}-1"}, None),
        ({"b3": f"{TRACE}-{PARENT}-1-{'0' * 16}"}, None),
        ({"X-B3-TraceId": TRACE, "X-B3-SpanId": PARENT, "X-B3-Sampled": "yes"}, None),
        ({"X-B3-TraceId": TRACE.upper(), "X-B3-SpanId": PARENT}, None),
    ]
    for headers, _ in cases:
        assert (await s.client.get("/users/1", headers=headers)).status == 200
    got = [r.headers["X-B3-TraceId"] for r in seen]
    for (headers, continued), trace in zip(cases, got, strict=True):
        if continued is None:
            assert trace not in (TRACE, TRACE.upper()) and len(trace) == 32, headers
        else:
            assert trace == continued, headers


async def _silent_zipkin(served, upstream, silent: Any, requests: int) -> Any:  # type: ignore[no-untyped-def]
    """A gateway whose zipkin collector is ``silent`` (a listening socket nobody reads or answers:
    the kernel accepts its connections), ``requests`` answered; its span pump."""
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    collector = f"http://127.0.0.1:{silent.getsockname()[1]}/api/v2/spans"
    base = await upstream(recording_app([], {"a": 1}))
    census = {"sample_rate": 100, "exporters": {"zipkin": {"collector_url": collector}}}
    s = await served(doc(_endpoints(base), extra_config={NS: census}))
    for i in range(requests):
        assert (await s.client.get(f"/users/{i}")).status == 200
    return s.gateway.resources.state[OC_PUMPS][0]


async def test_opencensus_stop_is_bounded_when_the_collector_hangs(served, upstream, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """A collector that accepts and never answers: the last flush at the stop gives up after
    STOP_WAIT (it waited the client's 10 s per batch: a gateway with zipkin's full buffer took ~2
    minutes to stop on SIGTERM)."""
    import socket

    from krakenpy.telemetry.opencensus import exporter

    monkeypatch.setattr(exporter, "STOP_WAIT", 0.3, raising=False)
    monkeypatch.setattr(exporter, "INTERVAL", 3600.0)  # the spans wait for the stop's flush
    with socket.socket() as silent:
        pump = await _silent_zipkin(served, upstream, silent, 3)
        assert pump.buffer.spans
        await asyncio.wait_for(pump.stop(), 5)
    assert pump.exported == 0
    assert any("zipkin: spans still waiting at the stop were dropped" in r.getMessage() for r in caplog.records)


async def test_opencensus_a_flush_gives_up_on_a_silent_collector(served, upstream, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """A blackholed collector: the flush's first batch times out, and the others are dropped with it
    instead of each waiting the client's timeout again (10 s a batch, ~100 s a flush of zipkin's full
    buffer). Counted as connections: the collector is asked once a flush, not once a batch."""
    import socket

    from krakenpy.telemetry.opencensus import exporter, zipkin

    monkeypatch.setattr(exporter, "INTERVAL", 3600.0)  # the spans wait for the flush below
    monkeypatch.setattr(zipkin, "_TIMEOUT", 0.3)
    with socket.socket() as silent:
        pump = await _silent_zipkin(served, upstream, silent, 80)
        waiting = len(pump.buffer.spans)
        assert waiting > 2 * zipkin.ZipkinSink.batch  # three batches at least
        await pump.flush()
        silent.setblocking(False)
        asked = 0
        while True:
            try:
                conn, _ = silent.accept()
            except BlockingIOError:
                break
            conn.close()
            asked += 1
    assert asked == 1 and pump.exported == 0
    assert any(f"{waiting} span(s) dropped" in r.getMessage() for r in caplog.records)
