"""Proxy-layer telemetry: :func:`proxy_middleware` (outermost proxy layer): the proxy span and
``krakend.proxy.duration``, and krakend-metrics' ``proxy.*.layer.pipe`` counters and latencies. The
endpoint layer's (the audit) is :mod:`krakenpy.telemetry.layers.audit`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from krakenpy.config.model import EndpointConfig
from krakenpy.errors import PipelineError
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.telemetry.exchange import EXCHANGE, Exchange, current_secrets
from krakenpy.telemetry.failures import error_text, log_failure
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.record import Adds, call_slot
from krakenpy.telemetry.metrics.instruments import gin_route
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.trace.context import TraceState
from krakenpy.telemetry.trace.spans import TAIL2, SpanBuffer, shape_for
from krakenpy.telemetry.trace.templates import CallTemplate

__all__ = ["endpoint_failures", "proxy_middleware"]

#: ``Final``: compiled, a C static (a plain module global is a dict lookup at every read)
_perf_ns: Final = time.perf_counter_ns
_now_ns: Final = time.time_ns
#: what the proxy and backend layers write on a span per request
_PER_REQUEST = frozenset({"http.response.status_code", "complete", "canceled"})


def proxy_middleware(hub: Telemetry, endpoint: EndpointConfig) -> Middleware:
    """The proxy layer of one endpoint: its failures (logged once as ``[ENDPOINT: /x] …``, their
    client-facing text redacted), the verified subject for the access log, and, when on, the proxy
    span, ``krakend.proxy.duration`` and krakend-metrics' ``layer.pipe`` series."""
    tracer = hub.tracer
    layer = tracer.proxy_layer if tracer is not None else None
    route = gin_route(endpoint.endpoint)
    prefix = f"[ENDPOINT: {endpoint.endpoint}]"
    redactor = hub.redactor
    trace_on = tracer is not None and layer is not None and layer.enabled and route not in tracer.skip_paths
    otel = hub.proxy_metrics.recorder(route, endpoint.method) if hub.proxy_metrics is not None else None
    stats = hub.stats if hub.stats is not None and hub.stats_proxy else None
    stats_keys: dict[tuple[bool, bool], tuple[str, Any]] = {}
    if stats is not None:
        for complete in (True, False):
            for error in (True, False):
                name = f"pipe.name.{route}.complete.{str(complete).lower()}.error.{str(error).lower()}"
                stats_keys[(complete, error)] = (
                    stats.counter_key(f"proxy.requests.layer.{name}"),
                    stats.histogram(f"proxy.latency.layer.{name}"),
                )
    method = endpoint.method
    # the span's fixed attributes built once: each span copies them
    base_attrs: dict[str, Any] = {"http.request.method": method, "http.route": route, "krakend.stage": "proxy"}
    base_attrs.update(layer.static if layer is not None else ())
    # the fixed attributes as one shape encoded once (unless a static key is also written per request)
    shape = shape_for(base_attrs, _PER_REQUEST)
    # the proxy span's record: (template, trace, id, parent, start, end, status, message, complete,
    # canceled, status code or None)
    template = CallTemplate(route, shape, base_attrs)

    def lean(next_proxy: Proxy) -> Proxy:
        return _lean(next_proxy, prefix, redactor)

    if not trace_on and otel is None and stats is None:
        return lean

    adds = call_slot(hub, otel, stats, stats_keys)
    if not trace_on:

        def metered(next_proxy: Proxy) -> Proxy:
            return _metered(next_proxy, adds, prefix, redactor)

        return metered
    assert tracer is not None
    layer_state = _Traced(prefix, redactor, adds, template, tracer.buffer)

    def middleware(next_proxy: Proxy) -> Proxy:
        return _traced(next_proxy, layer_state)

    return middleware


# The per-request coroutines are built by module-level factories (nested one function deep): mypy
# 2.4's mypyc miscompiled them nested two deep inside ``proxy_middleware`` (the first call failed:
# "attribute 'observed' of 'lean_proxy_middleware_env' undefined"), so the module stayed Python.


def _failed(exc: PipelineError, prefix: str, redactor: Redactor, body: bytes) -> None:
    """Log a failure once as ``[ENDPOINT: /x] …`` and redact what ``return_error_msg`` shows clients
    (``body``: the request's, whose secret fields' values are masked too)."""
    log_failure(exc, prefix, redactor, body=body)
    if exc.content_type is None and not exc.public_body and exc.args:
        exc.args = (redactor.text(str(exc.args[0]), current_secrets(redactor)),)


def endpoint_failures(redactor: Redactor, endpoint: str | None) -> Middleware:
    """The failures of an endpoint-layer step that can fail (a ``modifier/lua-endpoint`` script):
    it runs above the proxy layer, whose telemetry never sees them, and a guard's ``Rejection`` is
    a decision, not a failure. Logged once as ``[ENDPOINT: /x] …`` (``endpoint`` ``None``: the
    request's own, for a service-level script that runs for every endpoint), kept as the access
    log's ``error``, the client-facing text (``return_error_msg``) redacted. With the audit trail on,
    its layer (outside this one) finds them logged already."""
    prefix = f"[ENDPOINT: {endpoint}]" if endpoint is not None else ""

    def middleware(next_proxy: Proxy) -> Proxy:
        return _endpoint_failed(next_proxy, prefix, redactor)

    return middleware


def _endpoint_failed(next_proxy: Proxy, prefix: str, redactor: Redactor) -> Proxy:
    """:func:`endpoint_failures`' coroutine (``prefix`` ``""``: the request's endpoint's)."""

    async def observed(request: Request) -> Response:
        try:
            return await next_proxy(request)
        except PipelineError as exc:
            _failed(exc, prefix or f"[ENDPOINT: {request.endpoint}]", redactor, request.body)
            raise

    return observed


def _subject(request: Request) -> None:
    """The verified subject (``sub`` of the claims an endpoint guard set) for the access log."""
    claims = request.claims
    if claims:
        exchange = request.context.get(EXCHANGE)
        sub = claims.get("sub")
        if exchange is not None and isinstance(sub, str):
            exchange.subject = sub


def _lean(next_proxy: Proxy, prefix: str, redactor: Redactor) -> Proxy:
    """The layer without metrics or a proxy span: failures and the subject only, no clock read."""

    async def observed(request: Request) -> Response:
        try:
            response = await next_proxy(request)
        except PipelineError as exc:
            _failed(exc, prefix, redactor, request.body)
            raise
        if request.claims:
            _subject(request)
        return response

    return observed


def _metered(next_proxy: Proxy, adds: Adds, prefix: str, redactor: Redactor) -> Proxy:
    """The layer with metrics but no proxy span (the tracer, if any, only propagates): one frame,
    one duration row appended (the general frame's trace checks and ``finish`` call cost ~45
    Python opcodes per request, 2026-12-01)."""

    async def observed(request: Request) -> Response:
        # its own reading, not the edge's start: between the two run the router's and the
        # endpoint's guards (JWT, CORS, rate limits, Lua), which krakend-otel's proxy duration leaves out
        start = _perf_ns()
        # the row of the outcome, ``error*4 + canceled*2 + complete`` (OTel's and /__stats' series
        # fed from it when read), appended where the outcome is known: no outcome flags kept in the
        # coroutine (compiled, each local is a field of its environment object)
        try:
            response = await next_proxy(request)
        except asyncio.CancelledError:
            adds[6].append(_perf_ns() - start)
            raise
        except BaseException as exc:
            if isinstance(exc, PipelineError):
                _failed(exc, prefix, redactor, request.body)
            adds[4].append(_perf_ns() - start)
            raise
        if request.claims:
            try:
                _subject(request)
            except asyncio.CancelledError:
                adds[6 + response.is_complete].append(_perf_ns() - start)
                raise
            except BaseException as exc:
                if isinstance(exc, PipelineError):
                    _failed(exc, prefix, redactor, request.body)
                adds[4 + response.is_complete].append(_perf_ns() - start)
                raise
        adds[4 * bool(response.errors) + response.is_complete].append(_perf_ns() - start)
        return response

    return observed


class _Traced:
    """What the traced layer of one endpoint reads per request (built once)."""

    def __init__(self, prefix: str, redactor: Redactor, adds: Adds, template: CallTemplate, buffer: SpanBuffer) -> None:
        self.prefix = prefix
        self.redactor = redactor
        #: the duration rows by outcome (``()`` without metrics: nothing appended)
        self.adds = adds
        self.template = template
        self.buffer = buffer


def _traced(next_proxy: Proxy, layer: _Traced) -> Proxy:
    """The layer with the proxy span (the span written as a record), and metrics when on."""
    adds = layer.adds
    measured = bool(adds)

    async def observed(request: Request) -> Response:
        exchange: Exchange | None = request.context.get(EXCHANGE)
        # typed: compiled, ``sampled`` (twice) and ``wire`` are read from the native object, where
        # ``exchange.trace`` (``Any``) made each a lookup by name (~0.15 k machine instructions a read)
        trace: TraceState | None = exchange.trace if exchange is not None else None
        if (trace is None or not trace.sampled) and not measured:  # what the lean layer pays
            try:
                response = await next_proxy(request)
            except PipelineError as exc:
                _failed(exc, layer.prefix, layer.redactor, request.body)
                raise
            if request.claims:
                _subject(request)
            return response
        start = _perf_ns()
        start_ns = 0
        sid: bytes | None = None
        if trace is not None and trace.sampled:
            assert exchange is not None
            n = exchange.made
            exchange.made = n + 1
            # the backends' parent, on the exchange: one proxy span per request
            sid = exchange.proxy_span = exchange.spans + TAIL2[n & 0xFFF]
            wall = exchange.wall
            start_ns = wall + start if wall else _now_ns()
        error = canceled = complete = False
        status = 0
        code = None
        message = ""
        try:
            response = await next_proxy(request)
            complete = response.is_complete
            error = bool(response.errors)
            if request.claims:
                _subject(request)
            return response
        except asyncio.CancelledError:
            canceled = error = True
            raise
        except BaseException as exc:
            error = True
            if isinstance(exc, PipelineError):
                _failed(exc, layer.prefix, layer.redactor, request.body)
            if sid is not None:
                code = getattr(exc, "status", 500)
                status, message = 2, error_text(exc, layer.redactor, current_secrets(layer.redactor))[:512]
            raise
        finally:
            elapsed = _perf_ns() - start
            if measured:
                adds[error * 4 + canceled * 2 + complete].append(elapsed)
            if sid is not None:
                assert exchange is not None and trace is not None
                layer.buffer.add((
                    layer.template, trace.wire, sid, exchange.span or trace.parent_raw, start_ns,
                    start_ns + elapsed, status, message, complete, canceled, code,
                ))  # fmt: skip

    return observed
