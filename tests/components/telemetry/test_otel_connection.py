"""``telemetry/opentelemetry`` ``detailed_connection`` and ``read_payload`` on both upstream clients:
real backends on 127.0.0.1 (a new connection, then a kept-alive one; a slow body; a body cut short;
TLS), the Prometheus exposition parsed by prometheus_client and spans from a real OTLP receiver."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from krakenpy.backends.client import AiohttpClient, ClientOptions, UpstreamClient
from krakenpy.backends.fastclient import FastClient
from krakenpy.config.build import build_service
from krakenpy.gateway import Gateway, build_gateway
from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.servers import PROM_LISTENERS
from tests.components.telemetry.otlp_receiver import Receiver, attrs
from tests.conftest import free_port
from tests.corpus import CORPUS, needs_corpus
from tests.server.certs import Authority

SLOW_BODY = b'{"a": "' + b"x" * 3000 + b'"}'
CLIENTS = ("fast", "aiohttp")


def _client(kind: str, ca: Path | None = None) -> UpstreamClient:
    options = ClientOptions(ca_bundle=str(ca) if ca else None)
    return FastClient(options) if kind == "fast" else AiohttpClient(options)


class Gw:
    def __init__(self, gateway: Gateway, client: TestClient[Any, Any], http: UpstreamClient) -> None:
        self.gateway = gateway
        self.client = client
        self.http = http

    async def metrics(self) -> dict[str, Any]:
        port = self.gateway.resources.state[PROM_LISTENERS][0].bound_port
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
            return {f.name: f for f in text_string_to_metric_families(await resp.text())}


@pytest.fixture
async def gw() -> AsyncIterator[Callable[..., Awaitable[Gw]]]:
    opened: list[Gw] = []

    async def start(doc: dict[str, Any], http: UpstreamClient) -> Gw:
        gateway = await build_gateway(build_service(doc), client=http)
        await gateway.start()
        client: TestClient[Any, Any] = TestClient(RawTestServer(gateway.handler, host="127.0.0.1"))
        await client.start_server()
        opened.append(Gw(gateway, client, http))
        return opened[-1]

    yield start
    for g in opened:
        await g.client.close()
        await g.gateway.close()


async def _small(_request: web.Request) -> web.Response:
    return web.json_response({"a": 1})


#: one entry per ``/slow`` answer whose head and first bytes are sent (the rest follows 0.3 s later)
SLOW_STARTED: list[int] = []


async def _slow(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = len(SLOW_BODY)
    await resp.prepare(request)
    await resp.write(SLOW_BODY[:10])
    SLOW_STARTED.append(1)
    await asyncio.sleep(0.3)
    await resp.write(SLOW_BODY[10:])
    return resp


@pytest.fixture
async def backend() -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """An aiohttp backend on 127.0.0.1 (``/small``, ``/slow``), with TLS when given a context."""
    servers: list[TestServer] = []

    async def start(context: ssl.SSLContext | None = None) -> int:
        app = web.Application()
        app.router.add_get("/small", _small)
        app.router.add_get("/slow", _slow)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(ssl=context)
        servers.append(server)
        assert server.port is not None
        return server.port

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def cut_backend() -> AsyncIterator[int]:
    """A raw backend that announces 1000 body bytes, sends 6 and closes."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a": ')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def _doc(base: str, otel: dict[str, Any], cut: str | None = None) -> dict[str, Any]:
    endpoints: list[dict[str, Any]] = [
        {"endpoint": "/small", "backend": [{"host": [base], "url_pattern": "/small"}]},
        {"endpoint": "/slow", "backend": [{"host": [base], "url_pattern": "/slow"}]},
    ]
    if cut:
        endpoints.append({"endpoint": "/cut", "backend": [{"host": [cut], "url_pattern": "/cut"}]})
    return {"version": 3, "timeout": "5s", "endpoints": endpoints, "extra_config": {"telemetry/opentelemetry": otel}}


def _prom() -> dict[str, Any]:
    """A Prometheus exporter on a free port (port 0 means KrakenD's 9090, which parallel runs share)."""
    return {"exporters": {"prometheus": [{"name": "p", "port": free_port(), "listen_ip": "127.0.0.1"}]}}


def _sample(families: dict[str, Any], family: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` of ``family`` that carry ``labels``."""
    matching = [
        s.value for s in families[family].samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]  # fmt: skip
    return float(sum(matching))


@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_connection_metrics_new_then_kept_alive_connection(gw, backend, kind: str) -> None:  # type: ignore[no-untyped-def]
    port = await backend()
    g = await gw(_doc(f"http://localhost:{port}", _prom()), _client(kind))
    assert (await g.client.get("/small")).status == 200
    first = await g.metrics()
    conn = "http_client_request_get_conn_duration"
    assert _sample(first, conn, conn + "_count", server_address="localhost", http_response_status_code="200") == 1
    dialled = _sample(first, conn, conn + "_sum")
    assert 0 < dialled < 5  # DNS + TCP connect on 127.0.0.1
    dns = "http_client_request_dns_duration"
    assert 0 < _sample(first, dns, dns + "_sum") <= dialled  # "localhost" was resolved
    tls = "http_client_request_tls_duration"
    assert _sample(first, tls, tls + "_count") == 1 and _sample(first, tls, tls + "_sum") == 0
    assert (await g.client.get("/small")).status == 200
    second = await g.metrics()
    # the kept-alive connection: counted, 0 s to obtain, no DNS
    assert _sample(second, conn, conn + "_count") == 2 and _sample(second, conn, conn + "_sum") == dialled
    assert _sample(second, dns, dns + "_count") == 2 and _sample(second, dns, dns + "_sum") == _sample(
        first, dns, dns + "_sum"
    )


@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_connection_two_backends_each_their_own_timing(gw, backend, kind: str) -> None:  # type: ignore[no-untyped-def]
    """Two backends of one endpoint, called at once: each call's timing is its own (the client
    layer hands a solo call's timing down on the exchange, these by context variable): the call to
    "localhost" resolved it, the one to 127.0.0.1 resolved nothing, both dialled; the slow body's
    read time (and the duration it ends) is the slow call's. With one timing shared by both calls
    (the exchange's, as for a solo call) the fast call's end takes the slow call's timing away: its
    read time and duration come out near 0, the fast call's dial time 0 (fails on both clients)."""
    port = await backend()
    doc = _doc(f"http://localhost:{port}", _prom())
    doc["endpoints"] = [{
        "endpoint": "/both",
        "backend": [
            # the fast call first: with one timing shared, it would end the slow call's timing too
            {"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/small", "group": "address"},
            {"host": [f"http://localhost:{port}"], "url_pattern": "/slow", "group": "named"},
        ],
    }]  # fmt: skip
    g = await gw(doc, _client(kind))
    assert (await g.client.get("/both")).status == 200
    families = await g.metrics()
    conn, dns = "http_client_request_get_conn_duration", "http_client_request_dns_duration"
    for host in ("localhost", "127.0.0.1"):
        assert _sample(families, conn, conn + "_count", server_address=host) == 1
        assert 0 < _sample(families, conn, conn + "_sum", server_address=host) < 5
        assert _sample(families, dns, dns + "_count", server_address=host) == 1
    assert _sample(families, dns, dns + "_sum", server_address="localhost") > 0
    assert _sample(families, dns, dns + "_sum", server_address="127.0.0.1") == 0
    # the body's second half came 0.3 s after its head: the slow call's read, not the small one's
    read, duration = "http_client_response_read_time_seconds", "http_client_duration"
    assert _sample(families, read, read + "_total", http_route="/slow") >= 0.25
    assert _sample(families, read, read + "_total", http_route="/small") < 0.25
    assert _sample(families, duration, duration + "_sum", server_address="localhost") >= 0.25
    assert _sample(families, duration, duration + "_sum", server_address="127.0.0.1") < 0.25


@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_connection_read_payload_metrics_slow_and_cut_bodies(gw, backend, cut_backend, kind: str) -> None:  # type: ignore[no-untyped-def]
    port = await backend()
    g = await gw(_doc(f"http://127.0.0.1:{port}", _prom(), cut=f"http://127.0.0.1:{cut_backend}"), _client(kind))
    assert (await g.client.get("/slow")).status == 200
    families = await g.metrics()
    size, time_ = "http_client_response_read_size", "http_client_response_read_time_seconds"
    ok = {"error": "false", "http_route": "/slow", "krakend_endpoint_route": "/slow"}
    assert _sample(families, size, size + "_total", **ok) == len(SLOW_BODY)
    assert _sample(families, time_, time_ + "_total", **ok) >= 0.25  # the body's second half came 0.3 s later
    hist = "http_client_response_read_time_hist_seconds"
    assert _sample(families, hist, hist + "_count", **ok) == 1
    assert _sample(families, hist, hist + "_bucket", le="0.2", **ok) == 0
    sizes = "http_client_response_read_size_hist"
    assert _sample(families, sizes, sizes + "_sum", **ok) == len(SLOW_BODY)
    # an IP address needs no DNS
    dns = "http_client_request_dns_duration"
    assert _sample(families, dns, dns + "_count") == 1 and _sample(families, dns, dns + "_sum") == 0
    assert "http_client_response_read_errors" not in families  # no failed read yet: no series
    assert (await g.client.get("/cut")).status >= 500
    families = await g.metrics()
    errors = "http_client_response_read_errors"
    assert _sample(families, errors, errors + "_total", error="true", http_route="/cut") == 1
    assert _sample(families, size, size + "_total", error="true", http_route="/cut") == 6  # '{"a": ' came
    assert _sample(families, hist, hist + "_count", error="true", http_route="/cut") == 1


@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_connection_tls_duration(gw, backend, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    ca = Authority(tmp_path)
    pair = ca.issue("localhost", names=("localhost", "127.0.0.1"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pair.cert, pair.key)
    port = await backend(context)
    # the fast client hands https to the aiohttp client: both report the handshake
    g = await gw(_doc(f"https://localhost:{port}", _prom()), _client(kind, ca.path))
    assert (await g.client.get("/small")).status == 200
    families = await g.metrics()
    tls, conn = "http_client_request_tls_duration", "http_client_request_get_conn_duration"
    handshake = _sample(families, tls, tls + "_sum", server_address="localhost", server_port=str(port))
    assert 0 < handshake < _sample(families, conn, conn + "_sum") < 5
    assert (await g.client.get("/small")).status == 200
    assert _sample(await g.metrics(), tls, tls + "_sum") == handshake  # kept alive: no second handshake


def _traced(receiver_port: int) -> dict[str, Any]:
    return {
        "exporters": {"otlp": [{"name": "o", "host": "http://127.0.0.1", "port": receiver_port, "use_http": True}]},
    }


@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_connection_trace_attributes_event_and_read_span(gw, backend, cut_backend, kind: str) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    try:
        port = await backend()
        doc = _doc(f"http://localhost:{port}", _traced(server.port or 0), cut=f"http://127.0.0.1:{cut_backend}")
        g = await gw(doc, _client(kind))
        assert (await g.client.get("/slow")).status == 200
        assert (await g.client.get("/cut")).status >= 500
        await g.gateway.resources.state[EXPORTER].flush()
    finally:
        await server.close()
    spans = receiver.spans()
    client = next(s for s in spans if s["kind"] == "SPAN_KIND_CLIENT" and s["name"] == "/slow")
    a = attrs(client)
    assert 0 < a["get-conn-duration"] < 5 and 0 < a["dns-duration"] <= a["get-conn-duration"]
    assert a["tls-duration"] == 0
    (event,) = client["events"]
    assert event["name"] == "first-byte-time"
    assert int(client["startTimeUnixNano"]) <= int(event["timeUnixNano"]) <= int(client["endTimeUnixNano"])
    reads = [s for s in spans if s["name"] == "http.client.response.read.tracker"]
    read = next(s for s in reads if attrs(s)["http.route"] == "/slow")
    assert read["kind"] == "SPAN_KIND_INTERNAL" and read["parentSpanId"] == client["spanId"]
    r = attrs(read)
    assert int(r["http.client.response.read.size"]) == len(SLOW_BODY)
    assert r["http.client.response.read.time"] >= 0.25 and r["krakend.stage"] == "backend-request"
    assert int(read["endTimeUnixNano"]) - int(read["startTimeUnixNano"]) >= 250_000_000
    # the body cut short: the CLIENT span failed (no detailed attributes), the read span too
    cut_client = next(s for s in spans if s["kind"] == "SPAN_KIND_CLIENT" and s["name"] == "/cut")
    assert "get-conn-duration" not in attrs(cut_client)
    cut_read = next(s for s in reads if attrs(s)["http.route"] == "/cut")
    assert cut_read["status"]["code"] == "STATUS_CODE_ERROR" and cut_read["parentSpanId"] == cut_client["spanId"]


@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_connection_options_off_cost_nothing(gw, backend, kind: str) -> None:  # type: ignore[no-untyped-def]
    port = await backend()
    off = {**_prom(), "layers": {"backend": {"metrics": {"round_trip": True}, "traces": {"round_trip": True}}}}
    g = await gw(_doc(f"http://127.0.0.1:{port}", off), _client(kind))
    assert (await g.client.get("/slow")).status == 200
    families = await g.metrics()
    assert "http_client_duration" in families
    assert not [name for name in families if "get_conn" in name or "dns" in name or "response_read" in name]
    # the client was left as it is: no timing steps bound
    assert not g.http._timed


async def test_otel_connection_without_telemetry_client_untouched(gw, backend) -> None:  # type: ignore[no-untyped-def]
    port = await backend()
    http = _client("fast")
    doc = _doc(f"http://127.0.0.1:{port}", {})
    del doc["extra_config"]
    g = await gw(doc, http)
    assert (await g.client.get("/small")).status == 200
    assert not http._timed


@needs_corpus
@pytest.mark.parametrize(
    "name",
    ["018-krakend-krakend-otel-front", "036-michelfortes-krakend-playground", "049-kavindu-krakend-grafana-jaeger"],
)
def test_otel_connection_corpus_configs_lose_their_no_effect_warnings(name: str) -> None:
    import subprocess
    import sys

    path = CORPUS / f"{name}.json"
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)], capture_output=True, text=True, check=True
    )
    text = out.stdout + out.stderr
    assert "Syntax OK!" in text and "no effect in krakenpy" not in text
    # 049 asks for detailed_connection with round_trip off: nothing to time, as in krakend-otel
    said = "layers.backend.metrics.detailed_connection: no effect without round_trip" in text
    assert said == name.startswith("049")


@pytest.mark.parametrize("detailed", [True, False])
async def test_otel_connection_semconv_127_own_counters_only_with_detailed(gw, backend, detailed: bool) -> None:  # type: ignore[no-untyped-def]
    port = await backend()
    layers = {
        "global": {"semantic_convention": "1.27"},
        "backend": {"metrics": {"round_trip": True, "detailed_connection": detailed}},
    }
    g = await gw(_doc(f"http://127.0.0.1:{port}", {**_prom(), "layers": layers}), _client("fast"))
    assert (await g.client.get("/small")).status == 200
    families = await g.metrics()
    assert "http_client_request_duration_seconds" in families
    own = {"http_client_request_started_count", "http_client_request_get_conn_duration_seconds"}
    assert own <= set(families) if detailed else not own & set(families)


async def test_otel_connection_otlp_metrics_carry_the_instruments(gw, backend) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    try:
        port = await backend()
        otel = _traced(server.port or 0)
        otel["exporters"]["otlp"][0]["custom_metric_reporting_period"] = 1
        g = await gw(_doc(f"http://127.0.0.1:{port}", otel), _client("fast"))
        assert (await g.client.get("/slow")).status == 200
        for _ in range(40):
            if receiver.metrics:
                break
            await asyncio.sleep(0.1)
    finally:
        await server.close()
    metrics = {
        m["name"]: m
        for rm in receiver.metrics[0]["resourceMetrics"]
        for sm in rm["scopeMetrics"]
        for m in sm["metrics"]
    }
    assert metrics["http.client.response.read.size"]["unit"] == "b"
    # a backend's read series exists once it read a body (as krakend-otel records): none for /small, not called
    points = {attrs(p)["http.route"]: p for p in metrics["http.client.response.read.size"]["sum"]["dataPoints"]}
    point = points["/slow"]
    assert "/small" not in points
    assert int(point["asInt"]) == len(SLOW_BODY) and attrs(point)["error"] == "false"
    assert metrics["http.client.response.read.time-hist"]["unit"] == "s"
    (conn,) = metrics["http.client.request.get-conn.duration"]["histogram"]["dataPoints"]
    assert int(conn["count"]) == 1 and conn["sum"] > 0 and attrs(conn)["http.response.status_code"] == "200"
    assert "http.client.request.dns.duration" in metrics and "http.client.request.tls.duration" in metrics


@pytest.mark.parametrize("gone", [False, True])
@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_connection_read_span_cut_says_why_as_the_client_span(gw, backend, kind: str, gone: bool) -> None:  # type: ignore[no-untyped-def]
    """The body's read cut by the endpoint's deadline or by the client going away: the read span's error
    is krakend-otel's, as the CLIENT span's (before: "CancelledError" for a client gone)."""
    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    try:
        port = await backend()
        doc = _doc(f"http://127.0.0.1:{port}", _traced(server.port or 0))
        if not gone:
            doc["endpoints"][1]["timeout"] = "150ms"  # /slow: the head and 10 bytes, the rest 0.3 s later
        g = await gw(doc, _client(kind))
        if gone:  # a client that sends the request and goes away during the body's read
            url = g.client.make_url("/slow")
            _, writer = await asyncio.open_connection(url.host, url.port)
            SLOW_STARTED.clear()
            writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            # gone once the backend has sent the head (0.05 s for the gateway to take it, 0.25 s to
            # spare): a fixed 0.15 s from the request bet the loaded host had reached the body by then
            async with asyncio.timeout(10):
                while not SLOW_STARTED:
                    await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            writer.close()
        else:
            assert (await g.client.get("/slow")).status == 500
        async with asyncio.timeout(10):  # both spans exported (a fixed 0.5 s was a bet on the host)
            while len([s for s in receiver.spans() if s["name"] in ("/slow", "http.client.response.read.tracker")]) < 2:
                await g.gateway.resources.state[EXPORTER].flush()
                await asyncio.sleep(0.05)
    finally:
        await server.close()
    spans = receiver.spans()
    client = next(s for s in spans if s["kind"] == "SPAN_KIND_CLIENT" and s["name"] == "/slow")
    (read,) = [s for s in spans if s["name"] == "http.client.response.read.tracker"]
    expected = {"code": "STATUS_CODE_ERROR", "message": "context canceled" if gone else "context deadline exceeded"}
    assert client["status"] == expected and read["status"] == expected, (client["status"], read["status"])


async def _hang(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.json_response({"a": 1})


@pytest.fixture
async def hang_backend() -> AsyncIterator[str]:
    """A backend whose ``/hang`` answers after 5 s: every call to it is cut by the endpoint's timeout."""
    app = web.Application()
    app.router.add_get("/hang", _hang)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


def _outcomes(families: dict[str, Any]) -> dict[str, float]:
    """The round trip's counters and the duration's count of status 0 (no answer), the backend stage's
    duration count per (error, canceled)."""
    client = {
        name: _sample(families, f"http_client_request_{name}_count", f"http_client_request_{name}_count_total")
        for name in ("started", "failed", "canceled", "timedout")
    }
    client["duration0"] = _sample(
        families, "http_client_duration", "http_client_duration_count", http_response_status_code="0"
    )
    for stage in ("proxy", "backend"):
        for error in ("true", "false"):
            for canceled in ("true", "false"):
                family = f"krakend_{stage}_duration"
                client[f"{stage} error={error} canceled={canceled}"] = _sample(
                    families, family, family + "_count", error=error, canceled=canceled
                )
    return client


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize("backends", [1, 2])
async def test_otel_connection_timed_out_call_counts_as_krakend_otel(
    gw: Callable[..., Awaitable[Gw]], hang_backend: str, kind: str, backends: int
) -> None:
    """krakend-otel's round trip (http/client/transport_metrics.go ``report``) on a call whose context's
    deadline passed: started, timed out *and* failed ("timedout ... included in failed"), its duration
    recorded with status code 0; the backend stage's duration with ``error=true``, ``canceled=false``
    (lura/proxy_meter.go: canceled only for ``context.Canceled``). One backend (the handler's timer
    cuts it) and a merge (the backends' own deadline)."""
    calls = [{"host": [hang_backend], "url_pattern": "/hang", "group": f"g{i}"} for i in range(backends)]
    doc = {"version": 3, "endpoints": [{"endpoint": "/cut", "timeout": "300ms", "backend": calls}],
           "extra_config": {"telemetry/opentelemetry": _prom()}}  # fmt: skip
    g = await gw(doc, _client(kind))
    resp = await g.client.get("/cut")
    assert resp.status in (500, 200)  # lura: a single backend's error; a merge answers what it has (none)
    assert _outcomes(await g.metrics()) == {
        "started": backends,
        "failed": backends,
        "canceled": 0,
        "timedout": backends,
        "duration0": backends,
        "proxy error=true canceled=true": 0,
        "proxy error=true canceled=false": 1,
        "proxy error=false canceled=true": 0,
        "proxy error=false canceled=false": 0,
        "backend error=true canceled=true": 0,
        "backend error=true canceled=false": backends,
        "backend error=false canceled=true": 0,
        "backend error=false canceled=false": 0,
    }


@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_connection_canceled_call_counts_as_krakend_otel(
    gw: Callable[..., Awaitable[Gw]], hang_backend: str, kind: str
) -> None:
    """A call whose client went away: started and canceled, not failed ("a Cancelled request is not
    considered failed"), its duration recorded with status code 0; the backend stage canceled."""
    doc = {"version": 3, "timeout": "5s",
           "endpoints": [{"endpoint": "/gone", "backend": [{"host": [hang_backend], "url_pattern": "/hang"}]}],
           "extra_config": {"telemetry/opentelemetry": _prom()}}  # fmt: skip
    g = await gw(doc, _client(kind))
    url = g.client.make_url("/")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(b"GET /gone HTTP/1.1\r\nHost: gw\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.3)  # the upstream call is under way
    writer.close()
    await writer.wait_closed()
    for _ in range(50):  # the server sees the close and cancels the request
        outcomes = _outcomes(await g.metrics())
        if outcomes["started"]:
            break
        await asyncio.sleep(0.1)
    # the stages' canceled flag; their error flag is left out: krakenpy sets it on a canceled call too
    # (one row feeds OTel and /__stats, whose error is lura's err != nil), krakend-otel does not
    canceled = {k: v for k, v in outcomes.items() if " " not in k}
    canceled["proxy canceled"] = (
        outcomes["proxy error=true canceled=true"] + outcomes["proxy error=false canceled=true"]
    )
    canceled["backend canceled"] = (
        outcomes["backend error=true canceled=true"] + outcomes["backend error=false canceled=true"]
    )
    assert canceled == {
        "started": 1,
        "failed": 0,
        "canceled": 1,
        "timedout": 0,
        "duration0": 1,
        "proxy canceled": 1,
        "backend canceled": 1,
    }


@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_connection_kept_alive_call_records_the_one_shared_tuple(gw, backend, kind: str) -> None:  # type: ignore[no-untyped-def]
    """A kept-alive call's CLIENT record holds ``KEPT_ALIVE`` itself (the template tells it by
    identity): compiled too, where a fixed-length tuple global was unboxed and boxed anew at each
    read (a new tuple a span, the identity never true; run it on a compiled build)."""
    from krakenpy.telemetry.setup import hub_for
    from krakenpy.telemetry.trace.templates import KEPT_ALIVE, ClientTemplate

    receiver = Receiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    try:
        port = await backend()
        g = await gw(_doc(f"http://127.0.0.1:{port}", _traced(server.port or 0)), _client(kind))
        tracer = hub_for(g.gateway.resources).tracer
        assert tracer is not None
        for _ in range(2):  # a new connection, then a kept-alive one
            assert (await g.client.get("/small")).status == 200
        conns = [r[15] for r in tracer.buffer.spans if isinstance(r[0], ClientTemplate)]
        assert len(conns) == 2 and conns[0] is not KEPT_ALIVE and conns[0][0] > 0
        assert conns[1] is KEPT_ALIVE
    finally:
        await server.close()
