"""``security/policies`` (KrakenD Enterprise): CEL policies on the request, the response and the JWT.

Where each section runs (EE's contexts):

- ``req`` — endpoint: proxy layer, on the client request after input filtering, before any backend
  is called; backend: on that backend's request (backend path, filtered headers).
- ``resp`` — endpoint: proxy layer, on the merged response (after every backend and the merge);
  backend: on that backend's response.
- ``jwt`` — endpoint layer, right after ``auth/validator`` (on the verified claims); endpoint level
  only, and only with ``auth/validator`` (EE skips it otherwise: a warning here).

A policy that is not ``true`` (false, or an evaluation error: a missing key, a type error) denies:
at the endpoint the configured ``error`` answers (status default 500, the body as written, its
``content_type`` default ``text/plain``); ``jwt`` answers 401 with an empty body; at a backend the
backend fails (as ``validation/cel`` there). Every deny is an audit decision (``cel_false``, or
``policy_error`` for an evaluation error). The engine is :mod:`krakenpy.policies`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue, PipelineError, Rejection
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources
from krakenpy.telemetry.audit import audit_decision

if TYPE_CHECKING:  # the CEL engine is imported by parse: only configs with policies pay for it
    from krakenpy.policies.engine import Section

__all__ = ["COMPONENT", "NAMESPACE", "Policies", "PolicyError"]

NAMESPACE: Final = "security/policies"
VALIDATOR: Final = "auth/validator"
log = logging.getLogger("krakenpy.policies")


@dataclass(frozen=True, slots=True)
class PolicyError:
    """What a false ``req``/``resp`` policy answers."""

    status: int = 500
    body: bytes = b""
    content_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class Policies:
    """One ``security/policies`` value, compiled."""

    req: Section | None
    resp: Section | None
    jwt: Section | None
    req_error: PolicyError
    resp_error: PolicyError
    debug: bool
    warnings: tuple[ConfigIssue, ...] = ()


def _error(raw: Any) -> PolicyError:
    if not isinstance(raw, Mapping):
        return PolicyError()
    return PolicyError(
        status=int(raw.get("status", 500)),
        body=str(raw.get("body", "")).encode(),
        content_type=str(raw.get("content_type", "")) or "text/plain",
    )


def parse(raw: Any, site: Site) -> Policies:
    """Compile every policy once; a policy that does not compile is a :class:`ConfigError` at its path."""
    from krakenpy.policies.engine import compile_section

    macros = not raw.get("disable_macros", False)
    auto_join = bool(raw.get("auto_join_policies", False))
    errors: list[ConfigIssue] = []
    sections: dict[str, Section | None] = {}
    for name in ("req", "resp", "jwt"):
        block = raw.get(name)
        items = block.get("policies", []) if isinstance(block, Mapping) else []
        pairs = [(site.at(name, "policies", i), str(item)) for i, item in enumerate(items)]
        try:
            sections[name] = compile_section(pairs, name, macros=macros, auto_join=auto_join)
        except ConfigError as exc:
            errors.extend(exc.issues)
    if errors:
        raise ConfigError(errors)
    warnings: list[ConfigIssue] = []
    jwt = sections["jwt"]
    has_validator = site.level == "endpoint" and site.endpoint is not None and VALIDATOR in site.endpoint.extra_config
    if jwt is not None and not has_validator:
        where = "at a backend" if site.level == "backend" else "without auth/validator"
        warnings.append(ConfigIssue(site.at("jwt"), f"never evaluated {where}, as in KrakenD", "warning"))
        jwt = None
    return Policies(
        req=sections["req"],
        resp=sections["resp"],
        jwt=jwt,
        req_error=_error(raw.get("req", {}).get("error")),
        resp_error=_error(raw.get("resp", {}).get("error")),
        debug=bool(raw.get("debug", False)),
        warnings=tuple(warnings),
    )


def _now(section: Section) -> str:
    from krakenpy.cel import now_string

    return now_string() if section.wants_now else ""


def _reason(why: str) -> str:
    return "policy_error" if why.startswith(("evaluation error", "cannot bind")) else "cel_false"


def _check(section: Section, source: Any, request: Request, name: str, debug: bool) -> tuple[str, str] | None:
    """``None`` when every policy holds, else (audit reason, detail); logs results with ``debug``."""
    failure = section.first_failure(source, request, _now(section))
    if failure is None:
        if debug:
            log.info("%s[%s] every policy is true", name, section.name)
        return None
    index, why = failure
    # the detail names the policy and the result's type, never a value (headers, claims, bodies)
    detail = f"{section.name} policy #{index}: {why}"
    (log.info if debug else log.debug)("%s %s", name, detail)
    return _reason(why), detail


def _denied(error: PolicyError, reason: str, detail: str) -> Rejection:
    headers = (("Content-Type", error.content_type),) if error.body else ()
    return Rejection(error.status, reason=reason, policy=NAMESPACE, detail=detail, body=error.body, headers=headers)


def _backend_failed(error: PolicyError, reason: str, detail: str, context: dict[str, Any]) -> PipelineError:
    audit_decision(context, policy=NAMESPACE, decision="deny", reason=reason, detail=detail)
    message = error.body.decode() if error.body else "request aborted by a security policy"
    return PipelineError(message, status=error.status, content_type=error.content_type)


def policy_middleware(options: Policies, name: str, *, backend: bool) -> Middleware:
    """``req`` on the request, call next, ``resp`` on its response."""
    req, resp, debug = options.req, options.resp, options.debug

    def deny(error: PolicyError, failed: tuple[str, str], request: Request) -> Exception:
        if backend:
            return _backend_failed(error, *failed, request.context)
        return _denied(error, *failed)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def guarded(request: Request) -> Response:
            if req is not None:
                failed = _check(req, request, request, name, debug)
                if failed is not None:
                    raise deny(options.req_error, failed, request)
            response = await next_proxy(request)
            if resp is not None:
                failed = _check(resp, response, request, name, debug)
                if failed is not None:
                    raise deny(options.resp_error, failed, request)
            return response

        return guarded

    return middleware


def jwt_middleware(section: Section, name: str, debug: bool) -> Middleware:
    """401 unless every ``jwt`` policy holds on ``request.claims`` (no claims: 401, fail closed)."""

    def middleware(next_proxy: Proxy) -> Proxy:
        async def guarded(request: Request) -> Response:
            claims = request.claims
            if claims is None:
                raise Rejection(401, reason="no_credentials", policy=NAMESPACE, detail="jwt policies: no claims")
            failed = _check(section, claims, request, name, debug)
            if failed is not None:
                raise Rejection(401, reason=failed[0], policy=NAMESPACE, detail=failed[1])
            return await next_proxy(request)

        return guarded

    return middleware


def _report(options: Policies, resources: Resources) -> None:
    """The findings go to the build's warnings only (not logged as well: see validation/cel)."""
    resources.warnings.extend(f"{warning.path}: {warning.message}" for warning in options.warnings)


async def build_proxy(options: Policies, site: Site, resources: Resources) -> Middleware | None:
    """Endpoint level: ``req`` before the backends, ``resp`` after the merge."""
    if site.level != "endpoint" or site.endpoint is None:
        return None
    _report(options, resources)
    if options.req is None and options.resp is None:
        return None
    return policy_middleware(options, f"[ENDPOINT: {site.endpoint.endpoint}][POLICIES]", backend=False)


async def build_backend(options: Policies, site: Site, resources: Resources) -> Middleware | None:
    """Backend level: ``req`` on the backend request, ``resp`` on its response; a deny fails the backend."""
    if site.level != "backend" or site.backend is None:
        return None
    _report(options, resources)
    if options.req is None and options.resp is None:
        return None
    from krakenpy.telemetry.setup import backend_prefix

    return policy_middleware(options, backend_prefix(resources, site.backend.url_pattern, "POLICIES"), backend=True)


async def build_endpoint(options: Policies, site: Site, resources: Resources) -> Middleware | None:
    """The ``jwt`` policies, just after ``auth/validator``."""
    if site.level != "endpoint" or site.endpoint is None or options.jwt is None:
        return None
    return jwt_middleware(options.jwt, f"[ENDPOINT: {site.endpoint.endpoint}][POLICIES]", options.debug)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint", "backend"}),
    parse=parse,
    summary="CEL policies with advanced macros on the request, the response and the JWT: the configured error, 401",
    edition="ee",
    endpoint=build_endpoint,
    proxy=build_proxy,
    backend=build_backend,
)
