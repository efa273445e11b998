"""telemetry/opencensus parts on their own: options, sampling, span shapes, the Thrift encoders
(read back by thriftpy2, an independent implementation), Zipkin JSON, view naming."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.opencensus.jaeger import MAX_PACKET, agent_packets, collector_body
from krakenpy.telemetry.opencensus.middleware import backend_path, endpoint_path
from krakenpy.telemetry.opencensus.settings import JaegerOptions, Layers, ZipkinOptions, parse_opencensus
from krakenpy.telemetry.opencensus.spans import (
    CLIENT,
    SERVER,
    UNSPECIFIED,
    OcSpan,
    OpenCensusSampler,
    Translator,
    http_status,
)
from krakenpy.telemetry.opencensus.views import ClientViews, ServerViews, go_float, view_lines
from krakenpy.telemetry.opencensus.zipkin import local_endpoint, zipkin_spans
from krakenpy.telemetry.trace.spans import CLIENT as K_CLIENT
from krakenpy.telemetry.trace.spans import INTERNAL as K_INTERNAL
from krakenpy.telemetry.trace.spans import SERVER as K_SERVER
from krakenpy.telemetry.trace.spans import Span
from tests.components.telemetry.opencensus_receivers import (
    decode_agent_packet,
    decode_binary_batch,
    tags,
    unsigned_hex,
)

P = "extra_config.telemetry/opencensus"


def test_opencensus_parse_krakend_defaults() -> None:
    o = parse_opencensus({"exporters": {"prometheus": {"port": 9091}}}, P)
    assert o.sample_rate == 0 and o.reporting_period == 10.0 and o.layers == Layers(True, True, True)
    assert o.prometheus is not None and o.prometheus.namespace == "" and not o.prometheus.tag_method
    assert o.stats and not o.traces and o.warnings == ()
    # a present enabled_layers object leaves unset layers off (Go zero values)
    present = parse_opencensus({"enabled_layers": {"backend": True, "router": True}, "exporters": {}}, P)
    assert present.layers == Layers(router=True, pipe=False, backend=True)
    assert parse_opencensus({"sample_rate": 250, "reporting_period": -3}, P).sample_rate == 100
    assert parse_opencensus({"reporting_period": 30}, P).reporting_period == 30.0


def test_opencensus_parse_warns_at_each_exporter_path() -> None:
    o = parse_opencensus(
        {
            "exporters": {
                "jaeger": {"endpoint": "http://j:14268/api/traces", "buffer_max_count": 1},
                "zipkin": {"collector_url": "zipkin:9411"},
                "datadog": {"namespace": "k"},
                "xray": {"region": "eu-west-1"},
                "logger": {},
                "influxdb": {"address": "influx:8086"},
            }
        },
        P,
    )
    notes = "\n".join(o.warnings)
    assert "datadog" not in notes and "xray" not in notes  # the component's ignored list warns about them
    assert f"{P}.exporters.zipkin.collector_url: expected" in notes and o.zipkin is None
    assert f"{P}.exporters.influxdb.address: expected" in notes and o.influxdb is None
    assert f"{P}.exporters.jaeger.buffer_max_count: 1" in notes
    assert f"{P}.exporters.logger: neither stats nor spans" in notes
    assert f"{P}.sample_rate: 0 (the default) samples no request" in notes
    assert o.jaeger is not None and o.jaeger.service_name == "OpenCensus" and o.jaeger.buffer_max_count == 1
    agent = parse_opencensus({"sample_rate": 100, "exporters": {"jaeger": {"agent_endpoint": "jaeger:6831"}}}, P)
    assert agent.jaeger is not None and (agent.jaeger.agent_host, agent.jaeger.agent_port) == ("jaeger", 6831)
    assert agent.traces and agent.warnings == ()
    neither = parse_opencensus({"exporters": {"jaeger": {"service_name": "x"}}}, P)
    assert neither.jaeger is None and "needs endpoint (collector URL) or agent_endpoint" in neither.warnings[0]


def test_opencensus_sampler_follows_opencensus_rules() -> None:
    ids = [f"{random.getrandbits(128):032x}" for _ in range(4000)]
    never, always, half = OpenCensusSampler(0), OpenCensusSampler(100), OpenCensusSampler(50)
    assert not any(never.sample(t, True) for t in ids[:50])  # NeverSample even when the caller sampled
    assert all(always.sample(t, False) for t in ids[:50])  # AlwaysSample even when the caller did not
    assert all(half.sample(t, True) for t in ids[:50])  # a sampled parent is followed
    picked = [t for t in ids if half.sample(t, False)]  # an unsampled parent does not prevent sampling
    assert 1700 < len(picked) < 2300
    assert all(int(t[:16], 16) >> 1 < 1 << 62 for t in picked)  # by the trace id's upper 63 bits
    assert half.sample("7" + "f" * 31, None) and not half.sample("8" + "0" * 31, None)


def test_opencensus_http_status_is_ochttp_trace_status() -> None:
    assert http_status(200) == (0, "OK") and http_status(201) == (0, "OK") and http_status(302) == (0, "OK")
    assert http_status(404) == (5, "NOT_FOUND") and http_status(401) == (16, "UNAUTHENTICATED")
    assert http_status(503) == (14, "UNAVAILABLE") and http_status(500) == (2, "UNKNOWN")
    assert http_status(418) == (2, "UNKNOWN") and http_status(499) == (1, "CANCELLED")


def _span(stage: str, name: str, kind: int, **attrs: object) -> Span:
    span = Span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", name, kind, {"krakend.stage": stage, **attrs})
    span.start_ns, span.end_ns = 1_700_000_000_000_000_000, 1_700_000_000_002_500_000
    return span


def test_opencensus_translator_renames_layers_as_krakend_opencensus() -> None:
    t = Translator(Layers(True, True, True), ["/users/:id"])
    attrs = {"http.route": "/users/:id", "url.full": "/users/5?a=1", "server.address": "gw:8080",
             "http.request.method": "GET", "user_agent.original": "curl", "http.response.status_code": 200}  # fmt: skip
    router = t(_span("global", "GET", K_SERVER, **attrs))
    assert router is not None and (router.name, router.kind) == ("/users/:id", SERVER)
    assert router.attributes == {"http.path": "/users/5", "http.url": "/users/5?a=1", "http.host": "gw:8080",
                                 "http.method": "GET", "http.user_agent": "curl", "http.status_code": 200}  # fmt: skip
    assert (router.start_us, router.duration_us) == (1_700_000_000_000_000, 2500)
    assert t(_span("global", "GET", K_SERVER, **{"http.route": "404 Not Found"})) is None  # never an endpoint
    pipe = _span("proxy", "/users/:id", K_INTERNAL, complete=False)
    pipe.error("boom")
    made = t(pipe)
    assert made is not None and made.name == "pipe-/users/:id" and made.kind == UNSPECIFIED
    assert made.attributes == {"error": True, "complete": False} and made.status_code == 0
    backend = t(_span("backend", "/u/{{.Id}}", K_INTERNAL, complete=True, canceled=True))
    assert backend is not None and backend.attributes == {"canceled": True, "complete": True}
    client = t(_span("backend-request", "/u/{{.Id}}", K_CLIENT, **{"url.full": "http://h:81/u/5?x=[REDACTED]",
                                                                     "http.request.method": "GET",
                                                                     "http.response.status_code": 404}))  # fmt: skip
    assert client is not None and (client.name, client.kind) == ("/u/5", CLIENT)
    assert client.attributes["http.host"] == "h:81" and client.attributes["http.status_code"] == 404
    assert (client.status_code, client.status_message) == (5, "NOT_FOUND")
    lam = _span("backend-request", "/fn", K_CLIENT, **{"rpc.system": "aws-api", "faas.invoked_name": "fn"})
    lam.error("lambda invocation failed")
    made_lam = t(lam)  # a Lambda invocation: its RPC attributes, OpenCensus' UNKNOWN status
    assert made_lam is not None and (made_lam.name, made_lam.kind) == ("/fn", CLIENT)
    assert made_lam.attributes == {"rpc.system": "aws-api", "faas.invoked_name": "fn"}
    assert (made_lam.status_code, made_lam.status_message) == (2, "lambda invocation failed")
    off = Translator(Layers(router=True, pipe=False, backend=False), ["/users/:id"])
    assert off(pipe) is None and off(_span("backend", "/u", K_INTERNAL)) is None


def _oc(i: int, kind: int = SERVER, parent: str | None = "8000000000000001") -> OcSpan:
    return OcSpan(
        f"{0xF0000000000000000000000000000000 + i:032x}", f"{0xFFFFFFFFFFFFFF00 + i:016x}", parent, f"/op/{i}", kind,
        1_700_000_000_000_000 + i, 10 + i,
        {"http.method": "GET", "http.status_code": 200, "complete": True, "ratio": 0.5, "path": "/é"},
        2 if i % 2 else 0, "UNKNOWN" if i % 2 else "OK",
    )  # fmt: skip


def test_opencensus_jaeger_binary_batch_reads_back_with_thriftpy2() -> None:
    options = JaegerOptions(endpoint="http://j/api/traces", service_name="gw", process_tags=(("ip", "10.0.0.1"),))
    spans = [_oc(i) for i in range(20)] + [_oc(99, CLIENT, None)]  # > 15: the long list header
    batch = decode_binary_batch(collector_body(options, spans))
    assert batch.process.serviceName == "gw" and tags(batch.process) == {"ip": "10.0.0.1"}
    assert len(batch.spans) == 21
    for got, sent in zip(batch.spans, spans, strict=True):
        assert unsigned_hex(got.traceIdHigh) + unsigned_hex(got.traceIdLow) == sent.trace_id
        assert unsigned_hex(got.spanId) == sent.span_id and got.flags == 1
        assert got.startTime == sent.start_us and got.duration == sent.duration_us
    first, odd, last = batch.spans[0], batch.spans[1], batch.spans[-1]
    assert first.operationName == "Recv./op/0" and last.operationName == "Sent./op/99"
    assert unsigned_hex(first.parentSpanId) == "8000000000000001" and last.parentSpanId == 0
    assert tags(first) == {"http.method": "GET", "http.status_code": 200, "complete": True, "ratio": 0.5,
                           "path": "/é", "status.code": 0, "status.message": "OK"}  # fmt: skip
    assert tags(odd)["status.code"] == 2 and tags(odd)["error"] is True and "error" not in tags(first)


def test_opencensus_jaeger_agent_packets_are_compact_emitbatch_under_the_udp_limit() -> None:
    options = JaegerOptions(agent_host="127.0.0.1", agent_port=6831, service_name="gw")
    big = [_oc(i) for i in range(400)]
    for span in big:
        span.attributes["blob"] = "x" * 400
    packets = agent_packets(options, big, seqid=5)
    assert len(packets) > 1 and all(len(p) <= MAX_PACKET for p in packets)
    decoded = [decode_agent_packet(p) for p in packets]
    assert [d[:3] for d in decoded] == [("emitBatch", 4, 5 + n) for n in range(len(packets))]  # 4: ONEWAY
    got = [s for d in decoded for s in d[3].spans]
    assert [s.operationName for s in got] == [f"Recv./op/{i}" for i in range(400)]
    assert all(d[3].process.serviceName == "gw" for d in decoded)
    assert tags(got[7])["blob"] == "x" * 400 and tags(got[7])["ratio"] == 0.5
    huge = _oc(1)
    huge.attributes["blob"] = "y" * (MAX_PACKET + 1)
    assert agent_packets(options, [huge]) == []  # one span alone over the limit cannot be read by an agent


def test_opencensus_zipkin_json_follows_the_opencensus_exporter() -> None:
    endpoint = local_endpoint(ZipkinOptions("http://z/api/v2/spans", "gw", "10.1.2.3", 8080))
    assert endpoint == {"serviceName": "gw", "ipv4": "10.1.2.3", "port": 8080}
    assert local_endpoint(ZipkinOptions("http://z", "", "::1", 0)) == {"ipv6": "::1"}
    ok, failed = zipkin_spans([_oc(0), _oc(1, CLIENT, None)], endpoint)
    assert ok["kind"] == "SERVER" and ok["parentId"] == "8000000000000001" and ok["name"] == "/op/0"
    assert ok["tags"] == {"http.method": "GET", "http.status_code": "200", "complete": "true", "ratio": "0.5",
                          "path": "/é"}  # fmt: skip
    assert failed["kind"] == "CLIENT" and "parentId" not in failed
    assert failed["tags"]["error"] == "UNKNOWN" and failed["tags"]["opencensus.status_description"] == "UNKNOWN"
    assert ok["timestamp"] == 1_700_000_000_000_000 and ok["duration"] == 10


@pytest.mark.parametrize(
    ("value", "text"),
    [(1024.0, "1024"), (1048576.0, "1.048576e+06"), (4294967296.0, "4.294967296e+09"), (0.25, "0.25"),
     (628394.4669860053, "628394.4669860053"), (1.000998e8, "1.000998e+08"), (0.0, "0"), (1e-05, "1e-05"),
     (float("inf"), "+Inf")],
)  # fmt: skip
def test_opencensus_go_float_matches_go_g_format(value: float, text: str) -> None:
    assert go_float(value) == text


def test_opencensus_paths_are_route_templates_lower_cased() -> None:
    assert endpoint_path("/Users/{ID}/orders/{oid}") == "/users/{id}/orders/{oid}"
    assert backend_path("/u/{id}") == "/u/{id}" and backend_path("/U/{{.Id}}") == "/u/{id}"


def test_opencensus_views_render_as_the_go_prometheus_exporter() -> None:
    from krakenpy.telemetry.opencensus.settings import PrometheusOptions

    registry = Registry()
    prom = PrometheusOptions(port=1, namespace="krakend", tag_host=True, tag_path=True, tag_method=True,
                             tag_statuscode=True)  # fmt: skip
    server, client = ServerViews(registry, prom), ClientViews(registry, prom)
    server.record("gw:8080", "/users/{id}", "GET", 200, 3.2, 0, 2_000_000)
    done, latency, _sent, _got = client.series("h:81", "/u/{id}", "GET", 200)
    done.inc()
    latency.observe(1.5)
    text = _render(registry)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    count = families["krakend_opencensus_io_http_server_request_count"]
    assert count.type == "counter" and count.samples[0].value == 1
    assert count.samples[0].labels == {"http_host": "gw:8080", "http_method": "GET", "http_path": "/users/{id}",
                                       "http_status": ""}  # fmt: skip
    status = families["krakend_opencensus_io_http_server_response_count_by_status_code"].samples[0]
    assert status.labels["http_status"] == "200"
    size = families["krakend_opencensus_io_http_server_response_bytes"]
    les = [s.labels["le"] for s in size.samples if s.name.endswith("_bucket")]
    assert les[:7] == ["1024", "2048", "4096", "16384", "65536", "262144", "1.048576e+06"] and les[-1] == "+Inf"
    assert "krakend_opencensus_io_http_server_response_bytes_sum{" in text and "} 2e+06\n" in text
    client_count = families["krakend_opencensus_io_http_client_completed_count"].samples[0]
    assert client_count.labels == {"http_client_host": "h:81", "http_client_method": "GET",
                                   "http_client_path": "/u/{id}", "http_client_status": "200"}  # fmt: skip
    assert "krakend_opencensus_io_http_client_sent_bytes" in families and "_total" not in text
    lines = view_lines(registry, "", 17)
    assert (
        "opencensus.io/http/server/request_count,http.host=gw:8080,http.method=GET,http.path=/users/{id} count=1i 17"
        in lines
    )
    assert any(line.startswith("opencensus.io/http/client/roundtrip_latency,") and "mean=1.5" in line for line in lines)
    # run -w N: the worker's tag on every point, beside the view's
    tagged = view_lines(registry, "", 17, {"worker": "2"})
    assert (
        "opencensus.io/http/server/request_count,http.host=gw:8080,http.method=GET,http.path=/users/{id},worker=2"
        " count=1i 17" in tagged
    )
    assert len(tagged) == len(lines) and all(",worker=2 " in line for line in tagged)


def _render(registry: Registry) -> str:
    out: list[str] = []
    for family in registry.families():
        family.render(out)
    return "".join(out)


def test_opencensus_empty_exporter_object_krakenpy_does_not_send_to_is_a_warning(tmp_path: Path) -> None:
    """``"datadog": {}`` starts KrakenD's exporter with its defaults (the local agent); krakenpy sends
    nothing, and ``check`` said nothing of it (an empty object passed for "asks for nothing")."""
    from tests.cli_gateway import check_config

    census = {"sample_rate": 100, "exporters": {name: {} for name in ("datadog", "stackdriver", "xray", "ocagent")}}
    path = tmp_path / "k.json"
    path.write_bytes(orjson.dumps({"version": 3, "endpoints": [], "extra_config": {"telemetry/opencensus": census}}))
    result = check_config(path)
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    for name in ("datadog", "stackdriver", "xray", "ocagent"):
        assert f"{P}.exporters.{name}: {{}} turns on KrakenD's {name} exporter with its defaults" in said, said
