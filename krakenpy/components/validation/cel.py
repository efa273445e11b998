"""``validation/cel``: CEL checks before and after the call (endpoint: proxy layer; backend: backend
layer) and on the verified JWT claims (endpoint layer, after ``auth/validator``).

The work is done by :mod:`krakenpy.cel`. Failures: ``request aborted by evaluator #N`` (500 at the
endpoint, a failed backend at the backend, the text only with ``router.return_error_msg``); a JWT
check that fails is a 401 :class:`~krakenpy.errors.Rejection` with an empty body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.errors import PipelineError, Rejection
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources
from krakenpy.telemetry.audit import audit_decision

if TYPE_CHECKING:  # the CEL engine (cel-expr-python) is imported by parse/build: only configs with CEL
    from krakenpy.cel import CelPhases, Phase

__all__ = ["COMPONENT", "NAMESPACE", "cel_middleware", "jwt_rejecter"]

NAMESPACE: Final = "validation/cel"
VALIDATOR: Final = "auth/validator"
log = logging.getLogger("krakenpy.cel")


def parse(raw: Any, site: Site) -> CelPhases:
    """Compile every ``check_expr`` once; syntax errors are :class:`ConfigError` at their path."""
    from krakenpy.cel import compile_phases

    expressions = [
        (site.at(i, "check_expr"), str(item.get("check_expr", "")) if isinstance(item, Mapping) else "")
        for i, item in enumerate(raw)
    ]
    jwt = site.level == "endpoint" and site.endpoint is not None and VALIDATOR in site.endpoint.extra_config
    return compile_phases(expressions, jwt=jwt)


def _aborted(name: str, phase: str, failure: tuple[int, str], context: dict[str, Any]) -> PipelineError:
    index, why = failure
    log.info("%s[%s] evaluator #%d failed: %s", name, phase, index, why)
    # KrakenD answers a false check with an error (500 at the endpoint, a failed backend): still a deny
    audit_decision(context, policy=NAMESPACE, decision="deny", reason="cel_false", detail=f"{phase} #{index}: {why}")
    return PipelineError(f"request aborted by evaluator #{index}")


def cel_middleware(pre: Phase | None, post: Phase | None, name: str) -> Middleware:
    """Run ``pre`` on the request, call next, run ``post`` on its response (one ``now`` for both)."""
    from krakenpy.cel import now_string

    wants_now = (pre is not None and pre.wants_now) or (post is not None and post.wants_now)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def checked(request: Request) -> Response:
            now = now_string() if wants_now else ""
            if pre is not None:
                failure = pre.first_failure(request, now)
                if failure is not None:
                    raise _aborted(name, "pre", failure, request.context)
            response = await next_proxy(request)
            if post is not None:
                failure = post.first_failure(response, now)
                if failure is not None:
                    raise _aborted(name, "post", failure, request.context)
            return response

        return checked

    return middleware


def jwt_rejecter(phase: Phase, name: str) -> Middleware:
    """401 unless every JWT check holds on ``request.claims`` (no claims at all: 401 too, fail closed)."""
    from krakenpy.cel import now_string

    def middleware(next_proxy: Proxy) -> Proxy:
        async def guarded(request: Request) -> Response:
            claims = request.claims
            if claims is None:
                failure: tuple[int, str] | None = (0, "no verified claims (is auth/validator before it?)")
            else:
                failure = phase.first_failure(claims, now_string() if phase.wants_now else "")
            if failure is not None:
                index, why = failure
                log.info("%s[JWT] rejecter #%d failed: %s", name, index, why)
                detail = f"JWT rejected by evaluator #{index}: {why}"
                raise Rejection(401, reason="cel_false", policy=NAMESPACE, detail=detail)
            return await next_proxy(request)

        return guarded

    return middleware


def _report(options: CelPhases, resources: Resources) -> None:
    """The checks' findings go to the build's warnings only: whoever builds prints them (``run`` once
    at start, a reload once in its summary, ``check`` with the others); logged here as well, they were
    said again by every process that built (the first worker's start printed them twice)."""
    resources.warnings.extend(f"{w.path}: {w.message}" for w in options.warnings)


async def build_proxy(options: CelPhases, site: Site, resources: Resources) -> Middleware | None:
    """Endpoint level: ``req``/``resp`` checks around the endpoint's proxy stack."""
    if site.level != "endpoint" or site.endpoint is None:
        return None
    _report(options, resources)
    if options.pre is None and options.post is None:
        return None
    return cel_middleware(options.pre, options.post, f"[ENDPOINT: {site.endpoint.endpoint}][CEL]")


async def build_backend(options: CelPhases, site: Site, resources: Resources) -> Middleware | None:
    """Backend level: ``req`` checks on the backend request (backend path and headers), ``resp`` on its
    response after the backend's filters; a failure fails that backend only."""
    if site.level != "backend" or site.backend is None:
        return None
    _report(options, resources)
    if options.pre is None and options.post is None:
        return None
    from krakenpy.telemetry.setup import backend_prefix

    return cel_middleware(options.pre, options.post, backend_prefix(resources, site.backend.url_pattern, "CEL"))


async def build_endpoint(options: CelPhases, site: Site, resources: Resources) -> Middleware | None:
    """The JWT rejecter: only on endpoints with ``auth/validator``, which must run just before it."""
    if site.level != "endpoint" or site.endpoint is None or options.jwt is None:
        return None
    return jwt_rejecter(options.jwt, f"[ENDPOINT: {site.endpoint.endpoint}][CEL]")


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint", "backend"}),
    parse=parse,
    summary="CEL checks on the request, the response and the JWT claims: 500, failed backend, 401",
    endpoint=build_endpoint,
    proxy=build_proxy,
    backend=build_backend,
    ignored={"[].mod_expr": "KrakenD reads it and never evaluates it"},
)
