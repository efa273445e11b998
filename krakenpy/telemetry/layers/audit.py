"""The audit trail's pipeline side (:mod:`krakenpy.telemetry.audit` builds and ships the records).

- :func:`audit_middleware`: built once at service level, so it is the outermost endpoint-layer
  middleware of every endpoint, outside the service-level guards too. It opens the request's
  :class:`~krakenpy.telemetry.audit.AuditScope`, writes one deny record per
  :class:`~krakenpy.errors.Rejection` and per Lua ``custom_error``, and, when the request ends, the
  decisions guards reported with :func:`~krakenpy.telemetry.audit.audit_decision` (allows on
  sensitive or sampled routes, denies of checks that answer with their own status: JSON Schema,
  CEL), with the final status. The endpoint layer's own failures are logged once.
- :func:`edge_deny`: the record of an edge guard that answered by itself (the service-level bot
  detector), read from :data:`~krakenpy.telemetry.audit.EDGE_DENY` by the edge telemetry.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any

from krakenpy.config.model import EndpointConfig
from krakenpy.edge import HttpRequest
from krakenpy.errors import PipelineError, Rejection
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.telemetry.audit import AUDIT, AuditScope, Decision
from krakenpy.telemetry.exchange import EXCHANGE, Exchange
from krakenpy.telemetry.failures import log_failure
from krakenpy.telemetry.hub import Telemetry

__all__ = ["AuditRoute", "audit_middleware", "edge_deny", "endpoint_middleware", "rejection_decision", "subject_of"]


class AuditRoute:
    """One endpoint as the audit sees it: its ids and its ``telemetry/audit`` settings."""

    __slots__ = ("noop", "prefix", "route", "route_id", "sample", "sensitive")

    def __init__(self, endpoint: EndpointConfig, sensitive: bool = False, sample: float = 0.0) -> None:
        self.route = endpoint.endpoint
        self.route_id = f"{endpoint.method} {endpoint.endpoint}"
        self.prefix = f"[ENDPOINT: {endpoint.endpoint}]"
        self.noop = endpoint.output_encoding == "no-op"
        self.sensitive = sensitive
        self.sample = sample


def subject_of(claims: dict[str, Any] | None) -> dict[str, Any] | None:
    """The audit ``subject`` from verified claims only (never from raw headers)."""
    if not claims:
        return None
    out: dict[str, Any] = {}
    for key in ("sub", "iss", "key_id"):
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


def _lua_custom(exc: PipelineError) -> bool:
    # a script's custom_error is its decision (krakenpy.lua.errors.LuaError, custom=True); matched by
    # module so the telemetry never imports the Lua package (and its engine)
    return getattr(exc, "custom", False) is True and type(exc).__module__.startswith("krakenpy.lua")


def rejection_decision(rejection: Rejection, status: int) -> Decision:
    """A guard's answer is a deny; a 5xx is an error (the policy could not be evaluated: an
    unavailable store), except a rate limit's: the router limit's ``max_rate`` answers 503 by
    design, a deny as the client limit's 429 is (README, Audit trail). A ``policy_error`` (a Redis
    rate limit whose store is down answers 429 when it has a client limit) is an error whatever its
    status."""
    reason = rejection.reason
    return "error" if reason == "policy_error" or (status >= 500 and reason != "rate_limited") else "deny"


def audit_middleware(hub: Telemetry, routes: Mapping[tuple[str, str], AuditRoute]) -> Middleware:
    """The audit scope, decisions and endpoint-layer failure logging of every endpoint (``routes``:
    (method, endpoint template) → its settings, computed at start-up)."""
    redactor = hub.redactor
    audit = hub.audit
    assert audit is not None
    block = audit.block  # on_failure: "block" (one test of a local a request otherwise)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def observed(request: Request) -> Response:
            context = request.context
            route = routes.get((request.method, request.endpoint))
            if route is None:  # not a configured endpoint (never happens through the router)
                return await next_proxy(request)
            if block and audit.refuses():  # no decision is taken that could not be recorded
                raise Rejection(503, reason="policy_error", policy="telemetry/audit", detail="audit queue full")
            headers = request.headers
            credential = headers.get("Authorization")
            fingerprint = audit.fingerprint(credential[0]) if credential else None
            keep = route.sensitive or (route.sample > 0.0 and random.random() < route.sample)
            agent = headers.get("User-Agent")
            scope = context[AUDIT] = AuditScope(
                route.route, route.route_id, keep, fingerprint, agent[0] if agent else ""
            )
            try:
                response = await next_proxy(request)
            except Rejection as rejection:
                _flush(hub, request, scope, rejection.status)  # the decisions before it first
                decision = rejection_decision(rejection, rejection.status)
                _emit(hub, request, scope, rejection.policy, decision, rejection.reason,
                      redactor.text(rejection.detail), True, rejection.status)  # fmt: skip
                exchange = context.get(EXCHANGE)
                if exchange is not None:
                    exchange.error = exchange.error or f"{rejection.policy}: {rejection.reason}"
                raise
            except PipelineError as exc:
                log_failure(exc, route.prefix, redactor, body=request.body)
                _flush(hub, request, scope, exc.status)
                if _lua_custom(exc):
                    # the namespace whose script called custom_error (tagged by the Lua components
                    # when the audit is on: krakenpy.lua.errors.tag_custom_errors)
                    policy = getattr(exc, "namespace", None) or "modifier/lua"
                    _emit(hub, request, scope, policy, "deny", "lua_custom_error", "", True, exc.status)
                raise
            except asyncio.CancelledError:
                # the client went away: what the guards decided stands (an allow let the request
                # reach a backend), with the 500 the access log records for such a request
                if scope.pending:
                    _flush(hub, request, scope, 500)
                raise
            except Exception as exc:
                log_failure(exc, route.prefix, redactor, body=request.body)
                _flush(hub, request, scope, 500)
                raise
            exchange = context.get(EXCHANGE)
            if exchange is not None and request.claims:
                sub = request.claims.get("sub")
                exchange.subject = sub if isinstance(sub, str) else None
            if scope.pending:
                status = response.override_status or (response.status if route.noop else 200)
                _flush(hub, request, scope, status)
            return response

        return observed

    return middleware


def endpoint_middleware(hub: Telemetry, endpoint: EndpointConfig, audit_route: AuditRoute | None) -> Middleware:
    """:func:`audit_middleware` for one endpoint."""
    route = audit_route or AuditRoute(endpoint)
    return audit_middleware(hub, {(endpoint.method, endpoint.endpoint): route})


def _emit(
    hub: Telemetry,
    request: Request,
    scope: AuditScope,
    policy: str,
    decision: Decision,
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
            "path": hub.redactor.route_path(scope.route, request.path, request.client_path or request.path),
        },
        client={"address": request.client_ip, "user_agent": hub.redactor.text(scope.user_agent)},
        subject=subject,
        trace_id=trace.trace_id if trace is not None else None,
        span_id=exchange.span.hex() if exchange is not None and exchange.span is not None else None,
    )


def _flush(hub: Telemetry, request: Request, scope: AuditScope, status: int) -> None:
    for policy, decision, reason, detail, enforced in scope.pending:
        _emit(hub, request, scope, policy, decision, reason, hub.redactor.text(detail), enforced, status)
    scope.pending.clear()


def edge_deny(hub: Telemetry, request: HttpRequest, exchange: Exchange, rejection: Rejection, status: int) -> None:
    """An edge guard (the service bot detector…) answered before routing: one deny record."""
    assert hub.audit is not None
    trace = exchange.trace
    hub.audit.record(
        decision=rejection_decision(rejection, status),
        reason=rejection.reason,
        policy=rejection.policy,
        route_id=f"{request.method} {request.route or '*'}",
        detail=hub.redactor.text(rejection.detail),
        status=status,
        request={
            "id": exchange.request_id,
            "method": request.method,
            "route": request.route,
            "path": hub.redactor.route_target(request.route, request.path, request.path, request.query_string),
        },
        client={
            "address": hub.client_ip(request),
            "user_agent": hub.redactor.text(request.headers.get("User-Agent", "")),
        },
        subject=None,
        trace_id=trace.trace_id if trace is not None else None,
        span_id=exchange.span.hex() if exchange.span is not None else None,
    )
