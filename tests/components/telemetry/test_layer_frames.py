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
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from krakenpy.config.build import build_service
from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.errors import BackendError, PipelineError
from krakenpy.proxy.types import Proxy, Request, Response, is_task_free, keeps_request_maps
from krakenpy.telemetry.exchange import EXCHANGE, Exchange
from krakenpy.telemetry.hub import HUB, Telemetry
from krakenpy.telemetry.layers.backend import backend_middleware
from krakenpy.telemetry.layers.client import client_middleware
from krakenpy.telemetry.layers.endpoint import proxy_middleware
from krakenpy.telemetry.metrics.client_slot import FAILED, ClientSlot
from krakenpy.telemetry.metrics.stats import StatsRegistry
from tests.components.telemetry.conftest import Served, doc
from tests.conftest import free_port

SECRET = "access_token=s3cret"


def _site() -> tuple[EndpointConfig, BackendConfig]:
    service = build_service(
        {
            "version": 3,
            "endpoints": [{"endpoint": "/orders/{id}", "backend": [{"host": ["http://h"], "url_pattern": "/o"}]}],
        }
    )
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


def _answer(outcome: str, seen: list[Request] | None = None) -> Proxy:
    """A next proxy: ``ok`` (complete), ``partial`` (incomplete, with an error), ``fail`` (raises a
    pipeline error carrying a secret), ``boom`` (raises a plain error), ``cancel``."""

    async def proxy(request: Request) -> Response:
        await asyncio.sleep(0)
        if seen is not None:
            seen.append(request)
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
    endpoint, backend = _site()
    hub = _hub(stats)
    middleware = backend_middleware(hub, endpoint, backend)
    # a merge's backends may share the caller's header map: both shapes promise to copy it
    assert keeps_request_maps(middleware)
    assert is_task_free(middleware) is (not stats)
    caplog.set_level(logging.INFO, logger="krakenpy.failures")
    for outcome, raised in OUTCOMES:
        seen: list[Request] = []
        request = _request(rid=f"rid-{outcome}")
        headers = request.headers
        assert await _run(middleware(_answer(outcome, seen)), request) == raised, outcome
        assert seen[0].headers["X-Request-Id"] == [f"rid-{outcome}"] if seen else outcome == "cancel"
        assert "X-Request-Id" not in headers  # the id went into a copy
    lines = [r.getMessage() for r in caplog.records]
    # the pipeline error and the plain one, each once, prefixed and masked
    assert len(lines) == 2 and all(line.startswith("[ENDPOINT: /orders/{id}][BACKEND: /o] ") for line in lines)
    assert not any("s3cret" in line for line in lines)
    if stats:
        assert hub.stats is not None
        assert _layer_counts(hub.stats, "backend") == {
            ("true", "false"): 1, ("true", "true"): 0, ("false", "false"): 0, ("false", "true"): 4,
        }  # fmt: skip


async def test_layer_frames_backend_layer_without_request_ids_leaves_the_headers() -> None:
    endpoint, backend = _site()
    hub = _hub(True)
    hub.request_id_header = None
    seen: list[Request] = []
    request = _request()
    assert await _run(backend_middleware(hub, endpoint, backend)(_answer("ok", seen)), request) == "ok"
    assert seen[0].headers is request.headers and "X-Request-Id" not in request.headers


def _otel(sample_rate: float) -> dict[str, Any]:
    """``telemetry/opentelemetry`` tracing with no exporter reached: spans stay in the buffer (a
    rate of 1e-9 samples no request in effect: 0 reads as unset, as in KrakenD)."""
    return {
        "telemetry/opentelemetry": {
            "trace_sample_rate": sample_rate,
            "exporters": {"otlp": [{"name": "o", "host": "http://127.0.0.1", "port": free_port(), "use_http": True}]},
            "layers": {"backend": {"traces": {"round_trip": True}}},
        }
    }


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
    and one that is not there."""
    seen: list[web.Request] = []
    base = await upstream(_failing_app(seen))
    s: Served = await served(doc(_endpoints(base), extra_config=_otel(sample_rate)))
    caplog.set_level(logging.INFO, logger="krakenpy.failures")
    assert (await s.client.get("/up")).status == 200
    assert (await s.client.get("/down")).status == 500
    assert (await s.client.get("/gone")).status == 500
    assert [r.path for r in seen] == ["/up", "/down"]
    # the trace context went upstream on every call, sampled or not
    flags = "01" if sample_rate == 1.0 else "00"
    assert [r.headers.get("traceparent", "")[-2:] for r in seen] == [flags, flags]
    lines = [r.getMessage() for r in caplog.records if "[BACKEND:" in r.getMessage()]
    assert [line.split("]")[1] for line in lines] == ["[BACKEND: /down", "[BACKEND: /gone"]
    tracer = s.gateway.resources.state[HUB].tracer
    assert tracer is not None
    names = sorted(record[0].name for record in tracer.buffer.spans if hasattr(record[0], "name"))
    if sample_rate == 1.0:
        # per request: the proxy span (named by the route), the backend and CLIENT spans (by the
        # pattern), the call that got no answer included
        assert names == ["/down"] * 3 + ["/gone"] * 3 + ["/up"] * 3
    else:
        assert names == []


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
    slots = [slot for slot in _client_slots(hub) if slot.rows]
    rows = sorted((row[0], row[4]) for slot in slots for row in slot.rows)
    # (status, failure): the two answers, the 503 answered, the call that got none
    assert rows == [(0, FAILED), (200, 0), (200, 0), (503, 0)]
    assert len(slots) == 3  # one per backend and host


def _client_slots(hub: Telemetry) -> list[ClientSlot]:
    """The gateway's round-trip slots (one per backend host)."""
    return [o for o in gc.get_objects() if isinstance(o, ClientSlot) and o._metrics is hub.client_metrics]


def test_layer_frames_building_a_layer_leaves_the_modules_alone() -> None:
    """Every shape built, no module global gained: compiled, a decorated nested function was stored
    in its module's globals (mypyc), which kept the last layer built, its hub and its gateway's
    metric slots alive after the gateway closed."""
    import krakenpy.telemetry.layers.backend as backend_module
    import krakenpy.telemetry.layers.client as client_module
    import krakenpy.telemetry.layers.endpoint as endpoint_module

    modules = (backend_module, client_module, endpoint_module)
    before = [dict(vars(m)) for m in modules]
    endpoint, backend = _site()
    for stats in (False, True):
        hub = _hub(stats)
        hub.upstream_time = True  # the client layer is built too
        proxy_middleware(hub, endpoint)
        backend_middleware(hub, endpoint, backend)
        assert client_middleware(hub, endpoint, backend) is not None
    # (by identity: a global a build stored would have been replaced by this build's object)
    changed = [
        {k for k, v in vars(m).items() if k not in b or b[k] is not v} for m, b in zip(modules, before, strict=True)
    ]
    assert changed == [set(), set(), set()]
