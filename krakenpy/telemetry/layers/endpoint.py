"""Endpoint- and proxy-layer telemetry.

- :func:`endpoint_middleware` (outermost endpoint layer, outside the guards): the audit scope of
  the request, deny records from :class:`~krakenpy.errors.Rejection`, allow records at the end,
  the verified subject, and the endpoint's own failures (``[ENDPOINT: /x] …``).
- :func:`proxy_middleware` (outermost proxy layer): the proxy span and ``krakend.proxy.duration``,
  and krakend-metrics' ``proxy.*.layer.pipe`` counters and latencies.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from krakenpy.config.model import EndpointConfig
from krakenpy.errors import PipelineError, Rejection
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.telemetry.audit import AUDIT, AuditScope
from krakenpy.telemetry.exchange import EXCHANGE, Exchange
from krakenpy.telemetry.failures import log_failure
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.record import finish_call
from krakenpy.telemetry.metrics.instruments import gin_route
from krakenpy.telemetry.trace.spans import INTERNAL, SPAN

__all__ = ["AuditRoute", "endpoint_middleware", "proxy_middleware", "subject_of"]

_perf = time.perf_counter


class AuditRoute:
    """Per-endpoint audit settings (``telemetry/audit`` at endpoint level)."""

    __slots__ = ("sample", "sensitive")

    def __init__(self, sensitive: bool = False, sample: float = 0.0) -> None:
        self.sensitive = sensitive
        self.sample = sample


def subject_of(claims: dict[str, Any] | None) -> dict[str, Any] | None:
    """The audit ``subject`` from verified claims only (never from raw headers)."""
    if not claims:
        return None
    out: dict[str, Any] = {}
    for key in ("sub", "iss"):
        if isinstance(claims.get(key), str):
            out[key] = claims[key]
    client = claims.get("client_id") or claims.get("azp")
    if isinstance(client, str):
        out["client_id"] = client
    scopes = claims.get("scope", claims.get("scp"))
    if isinstance(scopes, str):
        out["scopes"] = scopes.split()
    elif isinstance(scopes, list):
        out["scopes"] = [str(s) for s in scopes]
    roles = claims.get("roles")
    if isinstance(roles, list):
        out["roles"] = [str(r) for r in roles]
    auth = claims.get("auth")
    if isinstance(auth, str):
        out["auth"] = auth
    return out or None


def endpoint_middleware(hub: Telemetry, endpoint: EndpointConfig, audit_route: AuditRoute | None) -> Middleware:
    """Audit scope, decisions, subject and endpoint failure logging for one endpoint."""
    prefix = f"[ENDPOINT: {endpoint.endpoint}]"
    route = endpoint.endpoint
    route_id = f"{endpoint.method} {route}"
    redactor = hub.redactor
    audit = hub.audit
    sensitive = audit_route.sensitive if audit_route is not None else False
    sample = audit_route.sample if audit_route is not None else 0.0

    def middleware(next_proxy: Proxy) -> Proxy:
        async def observed(request: Request) -> Response:
            context = request.context
            scope: AuditScope | None = None
            if audit is not None:
                credential = request.headers.get("Authorization")
                fingerprint = audit.fingerprint(credential[0]) if credential else None
                keep = sensitive or (sample > 0.0 and random.random() < sample)
                scope = context[AUDIT] = AuditScope(route, route_id, keep, fingerprint)
            try:
                response = await next_proxy(request)
            except Rejection as rejection:
                if scope is not None:
                    _emit(hub, request, scope, rejection.policy, "error" if rejection.status >= 500 else "deny",
                          rejection.reason, redactor.text(rejection.detail), True, rejection.status)  # fmt: skip
                    _flush(hub, request, scope, rejection.status)
                exchange = context.get(EXCHANGE)
                if exchange is not None:
                    exchange.error = exchange.error or f"{rejection.policy}: {rejection.reason}"
                raise
            except PipelineError as exc:
                log_failure(exc, prefix, redactor)
                if scope is not None:
                    _flush(hub, request, scope, exc.status)
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(exc, prefix, redactor)
                raise
            exchange = context.get(EXCHANGE)
            if exchange is not None and request.claims:
                sub = request.claims.get("sub")
                exchange.subject = sub if isinstance(sub, str) else None
            if scope is not None:
                _flush(hub, request, scope, response.override_status or 200)
            return response

        return observed

    return middleware


def _emit(
    hub: Telemetry,
    request: Request,
    scope: AuditScope,
    policy: str,
    decision: Any,
    reason: str,
    detail: str,
    enforced: bool,
    status: int,
) -> None:
    assert hub.audit is not None
    exchange: Exchange | None = request.context.get(EXCHANGE)
    trace = exchange.trace if exchange is not None else None
    subject = subject_of(request.claims)
    if scope.fingerprint is not None:
        subject = {**(subject or {}), "credential": scope.fingerprint}
    user_agent = request.headers.get("User-Agent")
    hub.audit.record(
        decision=decision,
        reason=reason,
        policy=policy,
        route_id=scope.route_id,
        detail=detail,
        enforced=enforced,
        status=status,
        request={
            "id": exchange.request_id if exchange is not None else None,
            "method": request.method,
            "route": scope.route,
            "path": request.client_path or request.path,
        },
        client={"address": request.client_ip, "user_agent": user_agent[0] if user_agent else ""},
        subject=subject,
        trace_id=trace.trace_id if trace is not None else None,
        span_id=exchange.span.span_id if exchange is not None and exchange.span is not None else None,
    )


def _flush(hub: Telemetry, request: Request, scope: AuditScope, status: int) -> None:
    for policy, decision, reason, detail, enforced in scope.pending:
        _emit(hub, request, scope, policy, decision, reason, hub.redactor.text(detail), enforced, status)
    scope.pending.clear()


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
    static = layer.static if layer is not None else ()

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

    measured = otel is not None or stats is not None

    def middleware(next_proxy: Proxy) -> Proxy:
        async def observed(request: Request) -> Response:
            exchange: Exchange | None = request.context.get(EXCHANGE)
            sampled = trace_on and exchange is not None and exchange.trace is not None and exchange.trace.sampled
            if not sampled and not measured:  # an unsampled request pays what the lean layer pays
                try:
                    response = await next_proxy(request)
                except PipelineError as exc:
                    failed(exc)
                    raise
                subject(request)
                return response
            start = _perf()
            span = None
            token = None
            if sampled and exchange is not None and exchange.trace is not None:
                assert tracer is not None
                parent = SPAN.get() or exchange.span
                attrs: dict[str, Any] = {"http.request.method": method, "http.route": route, "krakend.stage": "proxy"}
                attrs.update(static)
                span = tracer.span(
                    exchange.trace, parent.span_id if parent is not None else exchange.trace.parent_id, route,
                    INTERNAL, attrs,
                )  # fmt: skip
                token = SPAN.set(span)
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
                if span is not None:
                    span.attributes["http.response.status_code"] = getattr(exc, "status", 500)
                    span.error(redactor.text(str(exc))[:512])
                raise
            finally:
                elapsed = _perf() - start
                finish_call(
                    elapsed=elapsed, error=error, canceled=canceled, complete=complete, otel=otel, stats=stats,
                    stats_keys=stats_keys, span=span, token=token, tracer=tracer,
                )  # fmt: skip

        return observed

    return middleware
