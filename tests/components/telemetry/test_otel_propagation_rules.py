"""Trace context propagation against W3C Trace Context, the OTel environment specification and
krakend-otel: a real gateway, a backend on 127.0.0.1 recording the headers it got, the OTLP receiver."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.telemetry.export import EXPORTER
from tests.cli_gateway import check_config
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


def _otel(receiver_port: int) -> dict[str, Any]:
    exporter = {"name": "local", "host": "http://127.0.0.1", "port": receiver_port, "use_http": True}
    return {"service_name": "gw-test", "exporters": {"otlp": [exporter]}}


async def _backend_headers(
    served: Any, upstream: Any, headers: Any, input_headers: list[str] | None = None
) -> CIMultiDictProxy[str]:
    """The headers one backend got for ``GET /a`` sent with ``headers``."""
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    endpoint: dict[str, Any] = {"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}
    if input_headers is not None:
        endpoint["input_headers"] = input_headers
    s = await served(
        doc([endpoint], extra_config={"telemetry/opentelemetry": _otel(int(receiver_base.rsplit(":", 1)[1]))})
    )
    resp = await s.client.get("/a", headers=headers)
    assert resp.status == 200
    assert len(seen) == 1
    return seen[0].headers


@pytest.mark.parametrize("input_headers", [["*"], ["Traceparent", "tracestate", "baggage"]])
async def test_forwarded_trace_headers_are_replaced_not_doubled(served, upstream, input_headers) -> None:  # type: ignore[no-untyped-def]
    """krakend-otel sets its propagators' headers on the backend request (``Header.Set``): a client's
    own, forwarded by ``input_headers``, is replaced. Two ``traceparent`` headers make the context
    invalid for a W3C receiver, and one that reads the first parents its spans to the caller's span,
    skipping the gateway's."""
    got = await _backend_headers(
        served, upstream, {"traceparent": TRACEPARENT, "tracestate": "k=v", "baggage": "b=1"}, input_headers
    )
    parents = got.getall("traceparent")
    assert len(parents) == 1, parents
    assert parents[0].startswith(f"00-{TRACE_ID}-") and parents[0] != TRACEPARENT
    assert got.getall("tracestate") == ["k=v"]
    assert got.getall("baggage") == ["b=1"]


@pytest.mark.parametrize("value", ["", " ", ","])
async def test_empty_otel_propagators_is_the_default(served, upstream, monkeypatch, value) -> None:  # type: ignore[no-untyped-def]
    """The OTel SDK environment specification: an empty value is the variable unset, here
    ``tracecontext,baggage`` (otel-go's autoprop falls back to the same). krakenpy wrote W3C alone:
    the caller's baggage was lost."""
    monkeypatch.setenv("OTEL_PROPAGATORS", value)
    got = await _backend_headers(served, upstream, {"traceparent": TRACEPARENT, "baggage": "user=1"})
    assert got["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert got.getall("baggage", []) == ["user=1"]


@pytest.mark.parametrize(("value", "field"), [("tracecontext,tracecontext", "traceparent"), ("b3, B3", "b3")])
async def test_otel_propagators_named_twice_write_once(served, upstream, monkeypatch, value, field) -> None:  # type: ignore[no-untyped-def]
    """The specification: the values are deduplicated (a propagator is registered once). krakenpy
    wrote a propagator named twice twice: two ``traceparent`` (or ``b3``) headers at the backend."""
    monkeypatch.setenv("OTEL_PROPAGATORS", value)
    got = await _backend_headers(served, upstream, {"traceparent": TRACEPARENT})
    assert len(got.getall(field)) == 1, got.getall(field)


async def test_otel_propagators_none_reads_and_writes_no_context(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``none``: no propagator (the specification; otel-go's autoprop a no-op propagator): the
    caller's ``traceparent`` starts no trace of the gateway's and a backend gets no trace headers.
    krakenpy read and wrote W3C all the same."""
    monkeypatch.setenv("OTEL_PROPAGATORS", "none")
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    s = await served(
        doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/opentelemetry": _otel(int(receiver_base.rsplit(":", 1)[1]))})
    )  # fmt: skip
    resp = await s.client.get("/a", headers={"traceparent": TRACEPARENT, "baggage": "b=1"})
    assert resp.status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    spans = receiver.spans()
    assert spans and all(sp["traceId"] != TRACE_ID for sp in spans)  # the gateway's own trace, still exported
    assert not {"traceparent", "tracestate", "baggage", "b3"} & {k.lower() for k in seen[0].headers}


async def test_otel_propagators_all_unknown_is_the_default(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No name known (``xray``, a contrib propagator krakenpy lacks): otel-go's autoprop keeps its
    default, ``tracecontext,baggage``; krakenpy wrote W3C alone (the caller's baggage lost)."""
    monkeypatch.setenv("OTEL_PROPAGATORS", "xray")
    got = await _backend_headers(served, upstream, {"traceparent": TRACEPARENT, "baggage": "user=1"})
    assert got["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert got.getall("baggage", []) == ["user=1"]


def test_check_warns_of_unknown_otel_propagators(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The specification: an unrecognised value is ignored with a warning. ``krakenpy check`` said
    nothing of ``OTEL_PROPAGATORS=xray,tracecontext``, ``xray`` silently dropped."""
    config = tmp_path / "krakend.json"
    otel = _otel(4318)
    config.write_bytes(
        orjson.dumps(
            doc([{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
                extra_config={"telemetry/opentelemetry": otel})
        )
    )  # fmt: skip
    done = check_config(config, env={"OTEL_PROPAGATORS": "xray, tracecontext,Jaeger"})
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "OTEL_PROPAGATORS: xray, Jaeger unknown, ignored (krakenpy propagates tracecontext;" in out
    quiet = check_config(config, env={"OTEL_PROPAGATORS": "b3,tracecontext"})
    assert "OTEL_PROPAGATORS" not in quiet.stdout + quiet.stderr


_MEMBERS_32 = ",".join(f"k{i}=v{i}" for i in range(32))


@pytest.mark.parametrize(
    ("tracestate", "passed"),
    [
        (_MEMBERS_32, True),  # the most W3C allows
        ("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7,,  ,t@sys=x y", True),  # OWS, empty members, multi-tenant key
        ("k" + "a" * 255 + "=" + "v" * 255, True),  # the longest key: 512 characters in all
        ("k=" + "v" * 256, True),  # the longest value
        ("k" + "a" * 255 + "=" + "v" * 256, False),  # both: 513 characters, past the 512 read (W3C's minimum)
        (_MEMBERS_32 + ",k32=v32", False),  # 33 members
        ("foo=1,bar=2,foo=3", False),  # a key twice
        ("Foo=1", False),  # upper case key
        ("foo=a=b", False),  # '=' in a value
        ("foo", False),  # no value
        (", ,,", False),  # members, all empty: an empty list, not sent on
        ("k" + "a" * 256 + "=1", False),  # key too long
        ("foo=" + "v" * 257, False),  # value too long
        ("foo=a\tb", False),  # a tab inside a value
    ],
)
async def test_tracestate_is_passed_on_only_when_valid(served, upstream, tracestate, passed) -> None:  # type: ignore[no-untyped-def]
    """W3C Trace Context: at most 32 list members, keys unique, each key and value in their grammar;
    otel-go (KrakenD) parses ``tracestate`` and drops one that is not valid, keeping the
    ``traceparent``. krakenpy passed any value on as it came."""
    got = await _backend_headers(served, upstream, {"traceparent": TRACEPARENT, "tracestate": tracestate})
    assert got["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert got.getall("tracestate", []) == ([tracestate] if passed else [])


async def test_lambda_client_context_over_the_limit_keeps_the_traceparent(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Invoke's ``ClientContext`` holds at most 3583 bytes of base64. A caller's large ``baggage``
    (valid W3C baggage runs to 8192 bytes) made the whole context too long, and krakenpy then sent
    none: the function lost its ``traceparent`` and request id too. The optional fields go first."""
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
    options = {"function_name": "f", "region": "us-east-1", "endpoint": lambda_api, "payload": "apigw_v2"}
    backend = {"url_pattern": "/unused", "extra_config": {"backend/lambda": options}}
    s = await served(
        doc([{"endpoint": "/fn", "method": "POST", "backend": [backend]}],
            extra_config={"telemetry/opentelemetry": _otel(int(receiver_base.rsplit(":", 1)[1]))})
    )  # fmt: skip
    baggage = ",".join(f"k{i}={'v' * 60}" for i in range(45))  # ~2.9 kB
    headers = {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE", "baggage": baggage, "X-Request-Id": "l-1"}
    for sent in (headers, {**headers, "baggage": "b=1"}):
        resp = await s.client.post("/fn", json={}, headers=sent)
        assert resp.status == 200, await resp.text()
    (big, event), (small, _) = invocations
    context = orjson.loads(base64.b64decode(big["X-Amz-Client-Context"]))["custom"]
    assert len(big["X-Amz-Client-Context"]) <= 3583
    assert context["traceparent"].startswith(f"00-{TRACE_ID}-") and context["x-request-id"] == "l-1"
    assert context["tracestate"] == "congo=t61rcWkgMzE" and "baggage" not in context
    assert event["headers"]["baggage"] == baggage  # the event has room for it
    whole = orjson.loads(base64.b64decode(small["X-Amz-Client-Context"]))["custom"]
    assert whole["baggage"] == "b=1" and whole["tracestate"] == "congo=t61rcWkgMzE"


@pytest.mark.parametrize("traced", [True, False])
async def test_repeated_tracestate_and_baggage_headers_are_combined(served, upstream, traced) -> None:  # type: ignore[no-untyped-def]
    """W3C Trace Context and W3C Baggage: a list header sent several times is one list, the values
    combined in order (RFC 9110 §5.3). krakenpy read the first only: the rest of the caller's
    ``tracestate`` and ``baggage`` were lost (``baggage`` of a new trace too)."""
    sent = CIMultiDict([("tracestate", "a=1"), ("baggage", "x=1"), ("tracestate", "b=2"), ("baggage", "y=2")])
    if traced:
        sent.add("traceparent", TRACEPARENT)
    got = await _backend_headers(served, upstream, sent)
    assert got.getall("baggage") == ["x=1,y=2"]
    assert got.getall("tracestate", []) == (["a=1,b=2"] if traced else [])


B3_TRACE_ID = "80f198ee56343ba864fe8b2a57d3eff7"


@pytest.mark.parametrize(("value", "winner"), [("tracecontext,b3", B3_TRACE_ID), ("b3,tracecontext", TRACE_ID)])
async def test_the_last_propagator_that_finds_a_context_wins(served, upstream, monkeypatch, value, winner) -> None:  # type: ignore[no-untyped-def]
    """otel-go's composite propagator (autoprop, KrakenD) runs every extractor in the order of
    ``OTEL_PROPAGATORS``, each one that finds a context replacing the one before: the last wins.
    krakenpy took the first: with ``tracecontext,b3`` and both headers sent, the W3C trace was
    continued where KrakenD continues the B3 one."""
    monkeypatch.setenv("OTEL_PROPAGATORS", value)
    sent = {"traceparent": TRACEPARENT, "tracestate": "a=1", "b3": f"{B3_TRACE_ID}-e457b5a2e4d86bd1-1"}
    got = await _backend_headers(served, upstream, sent)
    assert got["traceparent"].split("-")[1] == winner
    assert got["b3"].split("-")[0] == winner
    # a B3 context has no tracestate (otel-go's B3 extractor makes a span context without one)
    assert got.getall("tracestate", []) == (["a=1"] if winner == TRACE_ID else [])


async def test_opencensus_b3_readers_rank_below_otel_propagators(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """With telemetry/opencensus beside telemetry/opentelemetry the one tracer also reads B3 for
    OpenCensus; those readers rank below OTEL_PROPAGATORS' own (W3C by default), so a caller that
    sends both keeps its W3C trace, as before the last-wins order."""
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    seen: list[web.Request] = []
    base = await upstream(recording_app(seen))
    census = {"sample_rate": 100, "enabled_layers": {"backend": True}, "exporters": {}}
    extra = {"telemetry/opentelemetry": _otel(int(receiver_base.rsplit(":", 1)[1])), "telemetry/opencensus": census}
    s = await served(doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}], extra_config=extra))
    sent = {"traceparent": TRACEPARENT, "b3": f"{B3_TRACE_ID}-e457b5a2e4d86bd1-1"}
    assert (await s.client.get("/a", headers=sent)).status == 200
    got = seen[0].headers
    assert got["traceparent"].split("-")[1] == TRACE_ID == got["X-B3-TraceId"]


async def _one_request_exported(served, upstream) -> Receiver:  # type: ignore[no-untyped-def]
    """A gateway exporting traces and metrics (every second) to a real OTLP receiver, one request
    served, its spans flushed and the first metrics export waited for: the receiver."""
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    base = await upstream(recording_app([]))
    otel = _otel(int(receiver_base.rsplit(":", 1)[1]))
    otel["exporters"]["otlp"][0]["custom_metric_reporting_period"] = 1
    s = await served(doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
                         extra_config={"telemetry/opentelemetry": otel}))  # fmt: skip
    assert (await s.client.get("/a")).status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    for _ in range(100):
        if receiver.export_headers["metrics"]:
            break
        await asyncio.sleep(0.05)
    return receiver


async def test_otlp_exports_carry_otel_exporter_otlp_headers(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """KrakenD's OTLP exporters are otel-go's, which read ``OTEL_EXPORTER_OTLP_HEADERS`` (and the
    per-signal ``OTEL_EXPORTER_OTLP_TRACES_HEADERS`` / ``_METRICS_HEADERS``, which replace it): the
    usual way to give a SaaS collector its API key in KrakenD CE. krakenpy sent no such header."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", " api-key = s%3Dcret%20x ,x-tenant=t1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=m1")
    receiver = await _one_request_exported(served, upstream)
    traces, metrics = receiver.export_headers["traces"][0], receiver.export_headers["metrics"][0]
    assert traces["api-key"] == "s=cret x" and traces["x-tenant"] == "t1"
    assert metrics["x-tenant"] == "m1" and "api-key" not in metrics  # the signal's own variable replaces it


def test_check_warns_of_bad_otel_exporter_otlp_headers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An entry otel-go cannot read (no ``=``, a bad name, a bad escape) is ignored with a warning
    naming the variable, never quoting a value (they are credentials)."""
    config = tmp_path / "krakend.json"
    otel = _otel(4318)
    config.write_bytes(
        orjson.dumps(
            doc([{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
                extra_config={"telemetry/opentelemetry": otel})
        )
    )  # fmt: skip
    bad = {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=SECRET1,SECRET2,bad name=SECRET3,k=%zz,Content-Type=text/plain"}
    done = check_config(
        config, env={**bad, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "brotli", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "OTEL_EXPORTER_OTLP_HEADERS: entries 2, 3, 4, 5 ignored" in out, out
    assert "SECRET" not in out
    assert "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION='brotli' is not gzip or none: ignored" in out
    assert "OTEL_EXPORTER_OTLP_TIMEOUT='10s' is not a number of milliseconds above 0: ignored" in out


async def test_otlp_exports_follow_otel_exporter_otlp_compression(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """otel-go's exporters (KrakenD's) gzip their bodies when ``OTEL_EXPORTER_OTLP_COMPRESSION`` (or
    the signal's own ``…_TRACES_COMPRESSION`` / ``…_METRICS_COMPRESSION``, which wins) is ``gzip``;
    krakenpy always sent them uncompressed."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none")
    receiver = await _one_request_exported(served, upstream)
    assert receiver.export_headers["traces"][0].get("Content-Encoding") == "gzip"
    assert receiver.spans()  # the receiver (aiohttp) decompressed and decoded it
    assert "Content-Encoding" not in receiver.export_headers["metrics"][0]


async def test_otlp_exports_follow_otel_exporter_otlp_timeout(served, upstream, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """otel-go's exporters (KrakenD's) give an export ``OTEL_EXPORTER_OTLP_TIMEOUT`` milliseconds
    (``…_TRACES_TIMEOUT`` wins for spans; 10 s by default); krakenpy always waited 10 s for a
    collector that does not answer."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "60000")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", " 250 ")
    release = asyncio.Event()

    async def stuck(request: web.Request) -> web.Response:  # a collector that takes the post, never answers
        await request.read()
        await release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v1/traces", stuck)
    collector = await upstream(app)
    base = await upstream(recording_app([]))
    s = await served(
        doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
            extra_config={"telemetry/opentelemetry": _otel(int(collector.rsplit(":", 1)[1]))})
    )  # fmt: skip
    assert (await s.client.get("/a")).status == 200
    try:
        await s.gateway.resources.state[EXPORTER].flush()
    finally:
        release.set()
    assert "traces export to local failed: TimeoutError: no answer within 0.25 s" in caplog.text


async def test_lambda_event_headers_drop_a_forwarded_tracestate_the_gateway_does_not_write(
    served, upstream, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """An API-Gateway-shaped event carries the request's headers, the gateway's trace context in
    place of the client's: a client's ``tracestate`` that the gateway dropped (not valid W3C) must not
    reach the function beside the gateway's ``traceparent`` (HTTP backends never get it)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    events: list[Any] = []

    async def invoke(request: web.Request) -> web.Response:  # the Lambda Invoke API, recorded
        events.append(orjson.loads(await request.read()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)
    lambda_api = await upstream(app)
    receiver = Receiver()
    receiver_base = await upstream(receiver.app())
    options = {"function_name": "f", "region": "us-east-1", "endpoint": lambda_api, "payload": "apigw_v2"}
    backend = {"url_pattern": "/unused", "extra_config": {"backend/lambda": options}}
    s = await served(
        doc([{"endpoint": "/fn", "method": "POST", "input_headers": ["*"], "backend": [backend]}],
            extra_config={"telemetry/opentelemetry": _otel(int(receiver_base.rsplit(":", 1)[1]))})
    )  # fmt: skip
    resp = await s.client.post("/fn", json={}, headers={"traceparent": TRACEPARENT, "tracestate": "Foo=1"})
    assert resp.status == 200, await resp.text()
    headers = events[0]["headers"]
    assert headers["traceparent"].startswith(f"00-{TRACE_ID}-") and headers["traceparent"] != TRACEPARENT
    assert "tracestate" not in headers


async def test_forwarded_b3_parent_and_flags_do_not_outlive_the_gateways_b3(served, upstream, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``b3multi`` writes X-B3-TraceId/SpanId/Sampled; a client's X-B3-ParentSpanId and X-B3-Flags
    forwarded by ``input_headers`` described the client's hop, not the gateway's: beside the
    gateway's ids they named a wrong parent (and a debug flag the gateway did not decide)."""
    monkeypatch.setenv("OTEL_PROPAGATORS", "b3multi")
    sent = {
        "X-B3-TraceId": B3_TRACE_ID, "X-B3-SpanId": "e457b5a2e4d86bd1", "X-B3-Sampled": "1",
        "X-B3-ParentSpanId": "05e3ac9a4f6e3b90", "X-B3-Flags": "1",
    }  # fmt: skip
    got = await _backend_headers(served, upstream, sent, ["*"])
    assert got.getall("X-B3-TraceId") == [B3_TRACE_ID] and got["X-B3-SpanId"] != "e457b5a2e4d86bd1"
    assert "X-B3-ParentSpanId" not in got and "X-B3-Flags" not in got


@pytest.mark.parametrize(
    "name",
    [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    ],
)
def test_a_huge_bad_otel_value_is_quoted_cut_short(tmp_path, name) -> None:  # type: ignore[no-untyped-def]
    """A 100 kB value was quoted whole in its warning (twice for the protocol: traces and metrics),
    100 kB of stderr per start (a gateway whose stderr pipe nobody reads yet stalls on it)."""
    config = tmp_path / "krakend.json"
    config.write_bytes(
        orjson.dumps(
            doc([{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
                extra_config={"telemetry/opentelemetry": _otel(4318)})
        )
    )  # fmt: skip
    done = check_config(config, env={name: "x" * 100_000})
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out[-2000:]
    assert f"{name}='xxxxxxxx" in out and "(100000 characters)" in out, out[-2000:]
    assert len(out) < 2000, len(out)
