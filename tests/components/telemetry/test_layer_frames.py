"""The proxy, backend and client telemetry layers, frame by frame: each shape a layer builds (lean,
metered, traced or general) driven through its outcomes (complete, incomplete, failed, canceled)
with a real ``/__stats`` registry, the real layers and real :class:`Request` objects; the client
layer through a served gateway and a real backend on 127.0.0.1.

These modules run compiled (``krakenpy/compiled.py``): the same assertions hold on both builds,
and a coroutine mypyc miscompiles fails at its first call here."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient

from krakenpy.backends.client import UpstreamResponse
from krakenpy.config.build import build_service
from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.errors import BackendError, PipelineError
from krakenpy.gateway import build_gateway
from krakenpy.proxy.types import Proxy, Request, Response, is_task_free, keeps_request_maps
from krakenpy.tasks import background_tasks
from krakenpy.telemetry.exchange import CURRENT, EXCHANGE, Exchange
from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.hub import HUB, Telemetry
from krakenpy.telemetry.layers.backend import backend_middleware, executor_forward
from krakenpy.telemetry.layers.client import client_middleware
from krakenpy.telemetry.layers.endpoint import proxy_middleware
from krakenpy.telemetry.metrics.client_slot import CANCELED, FAILED, TIMEDOUT, ClientSlot
from krakenpy.telemetry.metrics.stats import StatsRegistry
from krakenpy.telemetry.trace.context import Sampler, TraceState
from krakenpy.telemetry.trace.spans import SpanBuffer, request_ids
from krakenpy.telemetry.trace.tracer import Tracer
from tests.components.telemetry.conftest import Served, doc
from tests.components.telemetry.otlp_receiver import Receiver, attrs
from tests.conftest import free_port

SECRET = "access_token=s3cret"
#: a backend-level layer below the telemetry backend layer that reads the request's headers
_LUA_BELOW = {"modifier/lua-backend": {"pre": "local r = request.load()"}}


def _site(extra: dict[str, Any] | None = None) -> tuple[EndpointConfig, BackendConfig]:
    """The endpoint and its backend; ``extra``: the backend's ``extra_config``."""
    backend = {"host": ["http://h"], "url_pattern": "/o", "extra_config": extra or {}}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/orders/{id}", "backend": [backend]}]})
    endpoint = service.endpoints[0]
    return endpoint, endpoint.backends[0]


def _request(claims: dict[str, Any] | None = None, rid: str = "rid-1") -> Request:
    r = Request(
        method="GET", path="/orders/1", params={"Id": "1"}, headers={"Accept": ["*/*"]}, query={},
        client_ip="203.0.113.7", client_path="/orders/1", endpoint="/orders/{id}",
    )  # fmt: skip
    exchange = r.context[EXCHANGE] = Exchange()
    exchange.request_id = rid
    r.claims = claims
    return r


def _hub(stats: bool) -> Telemetry:
    hub = Telemetry()
    if stats:
        hub.stats = StatsRegistry()
    return hub


def _answer(outcome: str, seen: list[Request] | None = None, ids: list[list[str] | None] | None = None) -> Proxy:
    """A next proxy: ``ok`` (complete), ``partial`` (incomplete, with an error), ``fail`` (raises a
    pipeline error carrying a secret), ``boom`` (raises a plain error), ``cancel``. ``seen`` gets the
    requests, ``ids`` their ``X-Request-Id`` as the call saw it (the layer takes it back out after)."""

    async def proxy(request: Request) -> Response:
        await asyncio.sleep(0)
        if seen is not None:
            seen.append(request)
        if ids is not None:
            ids.append(request.headers.get("X-Request-Id"))
        if outcome == "ok":
            return Response(data={"a": 1})
        if outcome == "partial":
            return Response(data={"a": 1}, is_complete=False, errors=(BackendError("one lost"),))
        if outcome == "fail":
            raise PipelineError(f"upstream said no at http://h/o?{SECRET}", status=502)
        if outcome == "boom":
            raise RuntimeError(f"broken http://h/o?{SECRET}")
        raise asyncio.CancelledError

    return proxy


async def _run(proxy: Proxy, request: Request) -> str:
    """The outcome as the caller sees it: ``ok`` or the name of what was raised."""
    try:
        await proxy(request)
    except BaseException as exc:  # the outcome is the assertion
        return type(exc).__name__
    return "ok"


def _layer_counts(stats: StatsRegistry, kind: str) -> dict[tuple[str, str], int]:
    """``/__stats``' ``proxy.requests.layer.<kind>`` counters by (complete, error)."""
    out: dict[tuple[str, str], int] = {}
    for key, value in stats.snapshot().items():
        if key.startswith(f"krakend.proxy.requests.layer.{kind}.name."):
            parts = key.split(".")
            out[(parts[-3], parts[-1])] = value
    return out


OUTCOMES = [
    ("ok", "ok"),
    ("partial", "ok"),
    ("fail", "PipelineError"),
    ("boom", "RuntimeError"),
    ("cancel", "CancelledError"),
]


@pytest.mark.parametrize("stats", [False, True], ids=["lean", "metered"])
async def test_layer_frames_proxy_layer_outcomes(stats: bool, caplog: pytest.LogCaptureFixture) -> None:
    endpoint, _ = _site()
    hub = _hub(stats)
    middleware = proxy_middleware(hub, endpoint)
    caplog.set_level(logging.INFO, logger="krakenpy.failures")
    for outcome, raised in OUTCOMES:
        request = _request()
        assert await _run(middleware(_answer(outcome)), request) == raised, outcome
    # one line per pipeline failure, prefixed, its secret masked (the plain error is not the proxy's to log)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("[ENDPOINT: /orders/{id}] ") and "s3cret" not in lines[0]
    if stats:
        assert hub.stats is not None
        # complete ok; the partial answer, the failures and the cancel are errors, none complete
        assert _layer_counts(hub.stats, "pipe") == {
            ("true", "false"): 1, ("true", "true"): 0, ("false", "false"): 0, ("false", "true"): 4,
        }  # fmt: skip


@pytest.mark.parametrize("stats", [False, True], ids=["lean", "metered"])
async def test_layer_frames_proxy_layer_redacts_the_client_text_and_keeps_the_subject(stats: bool) -> None:
    endpoint, _ = _site()
    middleware = proxy_middleware(_hub(stats), endpoint)
    request = _request({"sub": "user-42"})
    assert await _run(middleware(_answer("ok")), request) == "ok"
    assert request.context[EXCHANGE].subject == "user-42"
    request = _request({"sub": 42})  # not a string: not an access-log subject
    assert await _run(middleware(_answer("ok")), request) == "ok" and request.context[EXCHANGE].subject is None
    failing = middleware(_answer("fail"))
    with pytest.raises(PipelineError) as caught:
        await failing(_request())
    # what return_error_msg would show clients: masked
    assert "s3cret" not in caught.value.args[0] and "access_token=" in caught.value.args[0]


@pytest.mark.parametrize("stats", [False, True], ids=["lean", "metered"])
async def test_layer_frames_backend_layer_outcomes_and_request_id(
    stats: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # a backend-level script below the layer may read the id: the layer forwards it (in a copy)
    endpoint, backend = _site(_LUA_BELOW)
    hub = _hub(stats)
    assert executor_forward(hub, backend) is None
    middleware = backend_middleware(hub, endpoint, backend)
    # a merge's backends may share the caller's header map: both shapes promise to copy it
    assert keeps_request_maps(middleware)
    assert is_task_free(middleware) is (not stats)
    caplog.set_level(logging.INFO, logger="krakenpy.failures")
    for outcome, raised in OUTCOMES:
        ids: list[list[str] | None] = []
        request = _request(rid=f"rid-{outcome}")
        headers = request.headers
        assert await _run(middleware(_answer(outcome, ids=ids)), request) == raised, outcome
        assert ids == [[f"rid-{outcome}"]] if ids else outcome == "cancel"
        assert "X-Request-Id" not in headers  # the id went into a copy
        # after the call the id is taken back out of the map the request carries (the copy stays: a
        # backend-level layer's own writes in it are kept)
        assert "X-Request-Id" not in request.headers and request.headers == headers
    lines = [r.getMessage() for r in caplog.records]
    # the pipeline error and the plain one, each once, prefixed and masked
    assert len(lines) == 2 and all(line.startswith("[ENDPOINT: /orders/{id}][BACKEND: /o] ") for line in lines)
    assert not any("s3cret" in line for line in lines)
    if stats:
        assert hub.stats is not None
        assert _layer_counts(hub.stats, "backend") == {
            ("true", "false"): 1, ("true", "true"): 0, ("false", "false"): 0, ("false", "true"): 4,
        }  # fmt: skip


@pytest.mark.parametrize("stats", [False, True], ids=["lean", "metered"])
@pytest.mark.parametrize("extra", [{}, {"qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 5}}])
async def test_layer_frames_backend_layer_leaves_the_id_to_the_executor(stats: bool, extra: dict[str, Any]) -> None:
    """No layer below that reads headers (none, a circuit breaker): the HTTP executor adds the id to
    the call's header pairs (``backends/http.py``), so the layer copies no map; the map the call
    sees is the request's own, without the id."""
    endpoint, backend = _site(extra)
    hub = _hub(stats)
    assert executor_forward(hub, backend) == "X-Request-Id"
    seen: list[Request] = []
    request = _request()
    headers = request.headers
    assert await _run(backend_middleware(hub, endpoint, backend)(_answer("ok", seen)), request) == "ok"
    assert seen[0].headers is headers and request.headers is headers and "X-Request-Id" not in headers


@pytest.mark.parametrize(
    ("extra", "forwarded"),
    [
        ({}, True),
        ({"qos/circuit-breaker": {"interval": 60}}, True),
        ({"qos/ratelimit/proxy": {"max_rate": 1}}, True),
        ({"modifier/response-body": {}}, True),
        ({"modifier/jmespath": {"expr": "a"}}, True),
        ({"modifier/martian": {}}, True),  # a client-level layer: it gets the executor's pairs
        ({"backend/graphql": {}}, True),  # above the telemetry layer: it never sees the id
        (_LUA_BELOW, False),
        ({"validation/cel": []}, False),
        ({"security/policies": {}}, False),
        ({"modifier/response-body-generator": {}}, False),  # its template reads the request
        ({"plugin/http-client": {}}, False),
        ({"backend/lambda": {}}, False),  # another executor
        ({"backend/grpc": {}}, False),
    ],
)
def test_executor_forward_only_where_no_layer_below_reads_headers(extra: dict[str, Any], forwarded: bool) -> None:
    _, backend = _site(extra)
    hub = _hub(False)
    assert executor_forward(hub, backend) == ("X-Request-Id" if forwarded else None)
    hub.forward_request_id = False
    assert executor_forward(hub, backend) is None


async def test_layer_frames_backend_layer_without_request_ids_leaves_the_headers() -> None:
    endpoint, backend = _site()
    hub = _hub(True)
    hub.request_id_header = None
    seen: list[Request] = []
    request = _request()
    assert await _run(backend_middleware(hub, endpoint, backend)(_answer("ok", seen)), request) == "ok"
    assert seen[0].headers is request.headers and "X-Request-Id" not in request.headers


def _otel(sample_rate: float, receiver: str) -> dict[str, Any]:
    """``telemetry/opentelemetry`` tracing to a real OTLP receiver on 127.0.0.1, no metrics (so an
    unsampled request takes the layers' short paths; a rate of 1e-9 samples no request in effect:
    0 reads as unset, as in KrakenD)."""
    return {
        "telemetry/opentelemetry": {
            "trace_sample_rate": sample_rate,
            "exporters": {
                "otlp": [
                    {
                        "name": "o",
                        "host": "http://127.0.0.1",
                        "port": _port(receiver),
                        "use_http": True,
                        "disable_metrics": True,
                    }
                ]
            },
            "layers": {"backend": {"traces": {"round_trip": True}}},
        }
    }


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


async def _exported(
    s: Served, receiver: Receiver, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The spans the receiver got once ``done`` holds for them: flushed here, and waited for at most
    10 s (the export loop, every ``SPAN_INTERVAL``, may have a batch in flight when a flush finds
    the buffer empty). What was exported stays at the receiver, whenever the loop ran."""
    for _ in range(100):
        await s.gateway.resources.state[EXPORTER].flush()
        if done(receiver.spans()):
            break
        await asyncio.sleep(0.1)
    return receiver.spans()


def _failing_app(seen: list[web.Request]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        seen.append(request)
        if request.path == "/down":
            return web.Response(status=503, text="down")
        return web.json_response({"a": 1})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _endpoints(base: str) -> list[dict[str, Any]]:
    return [
        {"endpoint": "/up", "backend": [{"host": [base], "url_pattern": "/up"}]},
        {"endpoint": "/down", "backend": [{"host": [base], "url_pattern": "/down"}]},
        # nothing listens there: the call fails without an answer
        {"endpoint": "/gone", "backend": [{"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/gone"}]},
    ]


@pytest.mark.parametrize("sample_rate", [1e-9, 1.0], ids=["unsampled", "sampled"])
async def test_layer_frames_traced_layers_answer_and_propagate(
    served: Callable[..., Any], upstream: Callable[..., Any], sample_rate: float, caplog: pytest.LogCaptureFixture
) -> None:
    """The traced shapes (the general backend frame, the traced proxy frame, the client layer with the
    trace context injected), sampled or not, on a backend that answers, one that fails with an answer
    and one that is not there; the request id forwarded by the general backend frame (unsampled and
    without metrics: its short path). The spans are read at a real OTLP receiver, not in the span
    buffer, which the exporter empties every ``SPAN_INTERVAL``."""
    receiver = Receiver()
    seen: list[web.Request] = []
    base = await upstream(_failing_app(seen))
    s: Served = await served(doc(_endpoints(base), extra_config=_otel(sample_rate, await upstream(receiver.app()))))
    hub = s.gateway.resources.state[HUB]
    assert hub.proxy_metrics is None and hub.backend_metrics is None and hub.stats is None  # nothing measured
    caplog.set_level(logging.INFO, logger="krakenpy.failures")
    for path, status in (("/up", 200), ("/down", 500), ("/gone", 500)):
        assert (await s.client.get(path, headers={"X-Request-Id": f"rid{path}"})).status == status
    assert [r.path for r in seen] == ["/up", "/down"]
    # the trace context went upstream on every call, sampled or not, and the caller's request id
    flags = "01" if sample_rate == 1.0 else "00"
    assert [r.headers.get("traceparent", "")[-2:] for r in seen] == [flags, flags]
    assert [r.headers.get("X-Request-Id") for r in seen] == ["rid/up", "rid/down"]
    lines = [r.getMessage() for r in caplog.records if "[BACKEND:" in r.getMessage()]
    assert [line.split("]")[1] for line in lines] == ["[BACKEND: /down", "[BACKEND: /gone"]
    if sample_rate == 1.0:
        spans = await _exported(s, receiver, lambda spans: len(spans) >= 12)
        # per request: the SERVER span, the proxy span (named by the route), the backend and CLIENT
        # spans (by the pattern), the call that got no answer included
        names = sorted((sp["name"], sp["kind"]) for sp in spans if sp["kind"] != "SPAN_KIND_SERVER")
        assert names == sorted(
            (path, kind) for path in ("/up", "/down", "/gone")
            for kind in ("SPAN_KIND_INTERNAL", "SPAN_KIND_INTERNAL", "SPAN_KIND_CLIENT")
        )  # fmt: skip
    else:
        await s.gateway.resources.state[EXPORTER].flush()
        assert receiver.spans() == []


def _outcome_endpoints(base: str) -> list[dict[str, Any]]:
    """One endpoint per outcome of ``_outcome_app``: answered, failed, a partial merge, a slow one."""
    return [
        {"endpoint": "/up", "backend": [{"host": [base], "url_pattern": "/up"}]},
        {"endpoint": "/down", "backend": [{"host": [base], "url_pattern": "/down"}]},
        {"endpoint": "/part", "backend": [
            {"host": [base], "url_pattern": "/up", "group": "a"},
            {"host": [base], "url_pattern": "/down", "group": "b"},
        ]},
        {"endpoint": "/slow", "backend": [{"host": [base], "url_pattern": "/slow"}]},
    ]  # fmt: skip


def _outcome_app(seen: list[web.Request]) -> web.Application:
    """``/up`` answers, ``/down`` fails with a 503, ``/slow`` answers after 1 s."""

    async def handle(request: web.Request) -> web.Response:
        seen.append(request)
        if request.path == "/down":
            return web.Response(status=503, text="down")
        if request.path == "/slow":
            await asyncio.sleep(1)
        return web.json_response({request.path.strip("/"): 1})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _hang_up(s: Served, path: str, seen: list[web.Request]) -> None:
    """A client that sends a request and goes away once the backend has it (the gateway then cancels
    the request mid-call): waited for by what the backend saw, not by a delay."""
    url = s.client.make_url(path)
    _, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: rid{path}\r\n\r\n".encode())
    await writer.drain()
    for _ in range(200):
        if any(r.path == path for r in seen):
            break
        await asyncio.sleep(0.025)
    writer.close()


def _duration_rows(hub: Telemetry, family: str) -> dict[tuple[str, ...], tuple[str, str, str, int]]:
    """``krakend.<family>.duration``'s series that counted a call: (error, canceled, complete, count)
    by the route labels (the proxy's route; the backend's pattern and endpoint route)."""
    assert hub.registry is not None
    hub.fold_metrics()
    out: dict[tuple[str, ...], tuple[str, str, str, int]] = {}
    for found in hub.registry.families():
        if found.name == f"krakend.{family}.duration":
            for labels, series in found.items():
                count = getattr(series, "count", 0)
                if count:
                    route = labels[1:2] if family == "proxy" else (labels[1], labels[2])
                    assert route not in out, (route, out)  # one outcome per route here
                    out[route] = (labels[-3], labels[-2], labels[-1], count)
    return out


async def test_layer_frames_traced_layers_outcome_rows_span_flags_and_request_id(
    served: Callable[..., Any], upstream: Callable[..., Any]
) -> None:
    """Traces at 100 % and metrics: the traced proxy frame and the general backend frame write each
    outcome's row (complete; incomplete; failed; canceled by a client that went away), flag their
    spans ``complete`` / ``canceled`` as it went, and the backend frame forwards the request id."""
    receiver = Receiver()
    seen: list[web.Request] = []
    base = await upstream(_outcome_app(seen))
    otlp = {"name": "o", "host": "http://127.0.0.1", "port": _port(await upstream(receiver.app())), "use_http": True}
    extra = {"telemetry/opentelemetry": {"exporters": {"otlp": [otlp]}}}  # every layer, sampled at 100 %
    endpoints = _outcome_endpoints(base)
    s: Served = await served(doc(endpoints, extra_config=extra))
    for path, status in (("/up", 200), ("/down", 500), ("/part", 200)):
        assert (await s.client.get(path, headers={"X-Request-Id": f"rid{path}"})).status == status, path
    await _hang_up(s, "/slow", seen)

    def done(spans: list[dict[str, Any]]) -> bool:  # the canceled request's spans written too
        stages = [attrs(sp)["krakend.stage"] for sp in spans if sp["name"] == "/slow"]
        return stages.count("proxy") + stages.count("backend") == 2

    spans = await _exported(s, receiver, done)
    # every backend call carried its request's id (the caller's, trusted)
    assert sorted((r.path, r.headers.get("X-Request-Id")) for r in seen) == [
        ("/down", "rid/down"), ("/down", "rid/part"), ("/slow", "rid/slow"), ("/up", "rid/part"), ("/up", "rid/up"),
    ]  # fmt: skip
    flags = {
        (attrs(sp)["krakend.stage"], sp["name"], attrs(sp).get("krakend.endpoint.route", sp["name"])): (
            attrs(sp)["complete"],
            attrs(sp).get("canceled", False),
        )
        for sp in spans
        if attrs(sp).get("krakend.stage") in ("proxy", "backend")
    }
    # (complete, canceled) of each proxy and backend span
    assert flags == {
        ("proxy", "/up", "/up"): (True, False),
        ("proxy", "/down", "/down"): (False, False),
        ("proxy", "/part", "/part"): (False, False),
        ("proxy", "/slow", "/slow"): (False, True),
        ("backend", "/up", "/up"): (True, False),
        ("backend", "/down", "/down"): (False, False),
        ("backend", "/up", "/part"): (True, False),
        ("backend", "/down", "/part"): (False, False),
        ("backend", "/slow", "/slow"): (False, True),
    }
    hub = s.gateway.resources.state[HUB]
    # (error, canceled, complete, calls) of each route's one outcome
    assert _duration_rows(hub, "proxy") == {
        ("/up",): ("false", "false", "true", 1),
        ("/down",): ("true", "false", "false", 1),
        ("/part",): ("true", "false", "false", 1),  # incomplete: a backend lost
        ("/slow",): ("true", "true", "false", 1),
    }
    assert _duration_rows(hub, "backend") == {
        ("/up", "/up"): ("false", "false", "true", 1),
        ("/down", "/down"): ("true", "false", "false", 1),
        ("/up", "/part"): ("false", "false", "true", 1),
        ("/down", "/part"): ("true", "false", "false", 1),
        ("/slow", "/slow"): ("true", "true", "false", 1),
    }


async def test_layer_frames_client_layer_rows_by_outcome(
    served: Callable[..., Any], upstream: Callable[..., Any]
) -> None:
    """The client layer with round-trip metrics: one row per call, a failed call's row flagged."""
    seen: list[web.Request] = []
    base = await upstream(_failing_app(seen))
    extra = {
        "telemetry/opentelemetry": {
            "exporters": {"prometheus": [{"name": "p", "port": 0, "listen_ip": "127.0.0.1"}]},
            "layers": {"backend": {"metrics": {"round_trip": True}}},
        }
    }
    s: Served = await served(doc(_endpoints(base), extra_config=extra))
    for path in ("/up", "/up", "/down", "/gone"):
        await s.client.get(path)
    hub = s.gateway.resources.state[HUB]
    slots = [slot for slot in _client_slots(hub) if slot.size()]
    statuses = sorted(status for slot in slots for status in slot.statuses)
    # the two answers, the 503 answered, the call that got none (failed: counted at the call)
    assert statuses == [0, 200, 200, 503]
    assert sum(slot._failures[FAILED] for slot in slots) == 1 and not any(any(slot._failures[1:3]) for slot in slots)
    assert len(slots) == 3  # one per backend and host


def _client_slots(hub: Telemetry) -> list[ClientSlot]:
    """The gateway's round-trip slots (one per backend host)."""
    return [o for o in gc.get_objects() if isinstance(o, ClientSlot) and o._metrics is hub.client_metrics]


def _tracer(hub: Telemetry) -> Tracer:
    """A tracer sampling every request, every layer traced (its buffer exported by nothing)."""
    return Tracer(sampler=Sampler(1.0), propagators=("tracecontext",), buffer=SpanBuffer(), redactor=hub.redactor)


async def _upstream_call(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
    return UpstreamResponse(200, (), b"{}", "application/json")


async def test_layer_frames_building_a_layer_leaves_the_modules_alone() -> None:
    """Every shape built and run once, no module global gained: compiled, a decorated nested function
    was stored in its module's globals (mypyc), which kept the last layer built, its hub and its
    gateway's metric slots alive after the gateway closed (the general backend shape's, the traced
    proxy shape's). Shapes: lean, metered, traced / general without and with metrics."""
    import krakenpy.telemetry.layers.backend as backend_module
    import krakenpy.telemetry.layers.client as client_module
    import krakenpy.telemetry.layers.endpoint as endpoint_module

    modules = (backend_module, client_module, endpoint_module)
    before = [dict(vars(m)) for m in modules]
    endpoint, backend = _site()
    runs = 0
    for traced in (False, True):
        for stats in (False, True):
            hub = _hub(stats)
            hub.upstream_time = True  # the client layer is built too (and with a tracer, injects)
            if traced:
                hub.tracer = _tracer(hub)
            proxy_layer = proxy_middleware(hub, endpoint)
            backend_layer = backend_middleware(hub, endpoint, backend)
            client_layer = client_middleware(hub, endpoint, backend)
            assert client_layer is not None
            assert is_task_free(backend_layer) is (traced or not stats)  # the lean and general shapes
            # one sampled request through the three layers
            request = _request()
            exchange = request.context[EXCHANGE]
            exchange.trace = TraceState.of("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", True)
            exchange.spans = request_ids(exchange.trace)
            assert await _run(proxy_layer(backend_layer(_answer("ok"))), request) == "ok"
            token = CURRENT.set(exchange)
            try:
                assert (await client_layer(_upstream_call)("GET", "http://h/o", [], None)).status == 200
            finally:
                CURRENT.reset(token)
            # the shape each built, by what it wrote: the proxy, backend and CLIENT spans when
            # traced; the pipe and backend rows when metered
            if hub.tracer is not None:
                written = sorted((type(r[0]).__name__, r[0].name) for r in hub.tracer.buffer.spans)
                assert written == [("CallTemplate", "/o"), ("CallTemplate", "/orders/:id"), ("ClientTemplate", "/o")]
            if hub.stats is not None:
                assert _layer_counts(hub.stats, "pipe")[("true", "false")] == 1
                assert _layer_counts(hub.stats, "backend")[("true", "false")] == 1
            runs += 1
    assert runs == 4
    # (by identity: a global a build stored would have been replaced by this build's object)
    changed = [
        {k for k, v in vars(m).items() if k not in b or b[k] is not v} for m, b in zip(modules, before, strict=True)
    ]
    assert changed == [set(), set(), set()]


_LAYER_TYPES = ("_Traced", "_General", "_ClientLayer", "CallSlot", "ClientSlot", "Telemetry", "Tracer", "SpanBuffer")


def _live(ids: set[int] | None = None) -> dict[str, int]:
    """The live objects of the layers' types (by type name; with ``ids``, those among them only),
    after a full collection."""
    gc.collect()
    out: dict[str, int] = {}
    for o in gc.get_objects():
        name = type(o).__name__
        if name in _LAYER_TYPES and (ids is None or id(o) in ids):
            out[name] = out.get(name, 0) + 1
    return out


def _objects() -> list[object]:
    """The live objects of the layers' types, held: while the list lives no new object can take
    one of their addresses (an id freed by the last gateway and reused by the next one hid it)."""
    gc.collect()
    return [o for o in gc.get_objects() if type(o).__name__ in _LAYER_TYPES]


async def test_layer_frames_closed_gateways_leave_no_layer_alive(upstream: Callable[..., Any]) -> None:
    """Two gateways (traces at 100 % and metrics: the traced proxy, general backend and client
    shapes) built, served, closed: none of their hubs, tracers, layer states or metric slots
    outlives them, on either build (compiled, a layer stored in a module global kept the last
    gateway's hub alive)."""
    receiver = Receiver()
    otlp = {"name": "o", "host": "http://127.0.0.1", "port": _port(await upstream(receiver.app())), "use_http": True}
    extra = {
        "telemetry/opentelemetry": {"exporters": {"otlp": [otlp]}},
        "telemetry/metrics": {"listen_address": "127.0.0.1:0", "collection_time": "1h"},
    }
    base = await upstream(_failing_app([]))
    made: set[int] = set()
    hubs: list[weakref.ref[Telemetry]] = []
    for _ in range(2):
        held = _objects()
        gateway = await build_gateway(build_service(doc(_endpoints(base), extra_config=extra)))
        await gateway.start()
        client: TestClient[Any, Any] = TestClient(RawTestServer(gateway.handler, host="127.0.0.1"))
        await client.start_server()
        try:
            assert (await client.get("/up")).status == 200
            assert (await client.get("/down")).status == 500
            new = {id(o) for o in _objects()} - {id(o) for o in held}
            # what the check looks for was made: a hub, a tracer, its buffer; the layer states of the
            # 3 endpoints and backends; the proxy and backend slots; the client slots of the 2 hosts
            # called (found by type name: compiled, they are native classes)
            assert _live(new) == {
                "Telemetry": 1, "Tracer": 1, "SpanBuffer": 1, "_Traced": 3, "_General": 3, "_ClientLayer": 3,
                "CallSlot": 6, "ClientSlot": 2,
            }  # fmt: skip
            made |= new
        finally:
            await client.close()
            await gateway.close()
        hubs.append(weakref.ref(gateway.resources.state[HUB]))
        del gateway, client, held
    # the background loops the gateways cancelled at close (the /__stats tick is not awaited there)
    # end at their next step: waited for, so that only what outlives them for good is seen
    loop = asyncio.get_running_loop()
    ending = [t for t in background_tasks() if t.get_loop() is loop and t.cancelling()]
    if ending:
        await asyncio.wait(ending)
    del ending
    still = _live(made)
    assert [ref() for ref in hubs] == [None, None] and still == {}, still


async def test_layer_frames_metered_layers_outcome_rows(
    served: Callable[..., Any], upstream: Callable[..., Any]
) -> None:
    """Metrics without traces: the metered proxy and backend frames and the timed client layer write
    each outcome's row (complete; incomplete; failed; canceled by a client that went away; cut by
    the endpoint's deadline: an error, not canceled, for the backend; the call timed out)."""
    seen: list[web.Request] = []
    base = await upstream(_outcome_app(seen))
    extra = {
        "telemetry/opentelemetry": {"exporters": {"prometheus": [{"name": "p", "port": 0, "listen_ip": "127.0.0.1"}]}}
    }
    endpoints = [
        *_outcome_endpoints(base),
        {"endpoint": "/late", "timeout": "200ms", "backend": [{"host": [base], "url_pattern": "/slow"}]},
        {"endpoint": "/cut", "timeout": "200ms", "backend": [
            {"host": [base], "url_pattern": "/up", "group": "a"},
            {"host": [base], "url_pattern": "/slow", "group": "b"},
        ]},
    ]  # fmt: skip
    s: Served = await served(doc(endpoints, extra_config=extra))
    for path, status in (("/up", 200), ("/down", 500), ("/part", 200), ("/late", 500), ("/cut", 200)):
        assert (await s.client.get(path)).status == status, path
    await _hang_up(s, "/slow", seen)
    hub = s.gateway.resources.state[HUB]
    for _ in range(200):  # the canceled request's rows written too (read before any fold drains them)
        if sum(slot.size() for slot in _client_slots(hub)) == 8:
            break
        await asyncio.sleep(0.025)
    slots = [slot for slot in _client_slots(hub) if slot.size()]
    # the answers (the 503s answered), the three calls cut without one
    assert sorted(status for slot in slots for status in slot.statuses) == [0, 0, 0, 200, 200, 200, 503, 503]
    failures = [sum(slot._failures[kind] for slot in slots) for kind in (CANCELED, TIMEDOUT, FAILED)]
    assert failures == [1, 2, 0], failures
    # (error, canceled, complete, calls) of each route's one outcome
    assert _duration_rows(hub, "proxy") == {
        ("/up",): ("false", "false", "true", 1),
        ("/down",): ("true", "false", "false", 1),
        ("/part",): ("true", "false", "false", 1),  # incomplete: a backend lost
        ("/slow",): ("true", "true", "false", 1),
        ("/late",): ("true", "false", "false", 1),
        ("/cut",): ("true", "false", "false", 1),
    }
    assert _duration_rows(hub, "backend") == {
        ("/up", "/up"): ("false", "false", "true", 1),
        ("/down", "/down"): ("true", "false", "false", 1),
        ("/up", "/part"): ("false", "false", "true", 1),
        ("/down", "/part"): ("true", "false", "false", 1),
        ("/slow", "/slow"): ("true", "true", "false", 1),
        ("/slow", "/late"): ("true", "false", "false", 1),
        ("/up", "/cut"): ("false", "false", "true", 1),
        ("/slow", "/cut"): ("true", "false", "false", 1),  # the deadline's cancel of a merge: an error
    }


async def test_layer_frames_client_layer_host_series_exist_during_its_first_call(
    served: Callable[..., Any], upstream: Callable[..., Any]
) -> None:
    """A host's round-trip counters are made as its first call starts: a scrape while that call is
    in flight already shows them (at 0), as it always has."""
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.json_response({"a": 1})

    app = web.Application()
    app.router.add_get("/wait", handle)
    base = await upstream(app)
    extra = {
        "telemetry/opentelemetry": {"exporters": {"prometheus": [{"name": "p", "port": 0, "listen_ip": "127.0.0.1"}]}}
    }
    s: Served = await served(
        doc([{"endpoint": "/w", "backend": [{"host": [base], "url_pattern": "/wait"}]}], extra_config=extra)
    )
    hub = s.gateway.resources.state[HUB]
    assert hub.registry is not None

    def started() -> list[int]:
        return [
            series.value
            for family in hub.registry.families()
            if family.name == "http.client.request.started.count"
            for _, series in family.items()
        ]

    assert started() == []
    call = asyncio.ensure_future(s.client.get("/w"))
    await asyncio.wait_for(arrived.wait(), 10)
    assert started() == [0]  # the call in flight: its host's series made, nothing counted yet
    release.set()
    assert (await call).status == 200
    assert started() == [1]
