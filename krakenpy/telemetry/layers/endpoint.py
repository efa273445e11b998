"""Proxy-layer telemetry: :func:`proxy_middleware` (outermost proxy layer): the proxy span and
``krakend.proxy.duration``, and krakend-metrics' ``proxy.*.layer.pipe`` counters and latencies. The
endpoint layer's (the audit) is :mod:`krakenpy.telemetry.layers.audit`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from krakenpy.config.model import EndpointConfig
from krakenpy.errors import PipelineError
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.telemetry.exchange import EXCHANGE, Exchange
from krakenpy.telemetry.failures import log_failure
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.ids import HEX3
from krakenpy.telemetry.layers.record import Adds, call_finisher, call_slot
from krakenpy.telemetry.metrics.instruments import gin_route
from krakenpy.telemetry.trace.spans import shape_for
from krakenpy.telemetry.trace.templates import CallTemplate

__all__ = ["proxy_middleware"]

_perf_ns = time.perf_counter_ns
_now_ns = time.time_ns
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

    def failed(exc: PipelineError) -> None:
        log_failure(exc, prefix, redactor)
        if exc.content_type is None and not exc.public_body and exc.args:
            exc.args = (redactor.text(str(exc.args[0])),)  # what return_error_msg shows clients

    def subject(request: Request) -> None:
        claims = request.claims
        if claims:
            exchange = request.context.get(EXCHANGE)
            sub = claims.get("sub")
            if exchange is not None and isinstance(sub, str):
                exchange.subject = sub

    def lean(next_proxy: Proxy) -> Proxy:
        async def observed(request: Request) -> Response:
            try:
                response = await next_proxy(request)
            except PipelineError as exc:
                failed(exc)
                raise
            subject(request)
            return response

        return observed

    if not trace_on and otel is None and stats is None:
        return lean

    adds = call_slot(hub, otel, stats, stats_keys)
    if not trace_on:
        return _metered(adds, failed, subject)
    finish = call_finisher(adds)  # the span is written here, as a record
    measured = otel is not None or stats is not None
    add_span = tracer.buffer.add if tracer is not None else None

    def middleware(next_proxy: Proxy) -> Proxy:
        async def observed(request: Request) -> Response:
            exchange: Exchange | None = request.context.get(EXCHANGE)
            trace = exchange.trace if exchange is not None else None
            if (trace is None or not trace.sampled) and not measured:  # what the lean layer pays
                try:
                    response = await next_proxy(request)
                except PipelineError as exc:
                    failed(exc)
                    raise
                subject(request)
                return response
            start = _perf_ns()
            sid = None
            if trace is not None and trace.sampled:
                assert exchange is not None
                n = exchange.made
                exchange.made = n + 1
                # the backends' parent, on the exchange: one proxy span per request
                sid = exchange.proxy_span = exchange.spans + HEX3[n & 0xFFF]
                start_ns = _now_ns()
            error = canceled = complete = False
            status = 0
            code = None
            message = ""
            try:
                response = await next_proxy(request)
                complete = response.is_complete
                error = bool(response.errors)
                subject(request)
                return response
            except asyncio.CancelledError:
                canceled = error = True
                raise
            except BaseException as exc:
                error = True
                if isinstance(exc, PipelineError):
                    failed(exc)
                if sid is not None:
                    code = getattr(exc, "status", 500)
                    status, message = 2, redactor.text(str(exc))[:512]
                raise
            finally:
                elapsed = _perf_ns() - start
                if measured:
                    finish(elapsed, error, canceled, complete)
                if sid is not None:
                    assert exchange is not None and trace is not None
                    add_span((  # type: ignore[misc]
                        template, trace.trace_id, sid, exchange.span or trace.parent_id, start_ns,
                        start_ns + elapsed, status, message, complete, canceled, code,
                    ))  # fmt: skip

        return observed

    return middleware


def _metered(adds: Adds, failed: Callable[[PipelineError], None], subject: Callable[[Request], None]) -> Middleware:
    """The layer with metrics but no proxy span (the tracer, if any, only propagates): one frame,
    one duration row appended (the general frame's trace checks and ``finish`` call cost ~45
    Python opcodes per request, 2026-12-01)."""

    def middleware(next_proxy: Proxy) -> Proxy:
        async def observed(request: Request) -> Response:
            # its own reading, not the edge's start: between the two run the router's and the
            # endpoint's guards (JWT, CORS, rate limits, Lua), which krakend-otel's proxy duration leaves out
            start = _perf_ns()
            error = canceled = complete = False
            try:
                response = await next_proxy(request)
                complete = response.is_complete
                error = bool(response.errors)
                subject(request)
                return response
            except asyncio.CancelledError:
                canceled = error = True
                raise
            except BaseException as exc:
                error = True
                if isinstance(exc, PipelineError):
                    failed(exc)
                raise
            finally:
                # the row of this outcome (OTel's and /__stats' series fed from it when read)
                adds[error * 4 + canceled * 2 + complete](_perf_ns() - start)

        return observed

    return middleware
