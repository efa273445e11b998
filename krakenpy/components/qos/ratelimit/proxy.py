"""``qos/ratelimit/proxy``: one token bucket per backend definition; over it the backend call fails
with ``rate limit exceded`` (sic, KrakenD's text) without contacting the backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from krakenpy.components.base import Component, Site
from krakenpy.errors import BackendError
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.ratelimit.bucket import Clock, TokenBucket, fill_interval, monotonic
from krakenpy.ratelimit.options import ProxyLimitOptions, parse_proxy_limit
from krakenpy.resources import Resources
from krakenpy.telemetry.audit import audit_decision

__all__ = ["COMPONENT", "ERR_LIMITED", "NAMESPACE", "proxy_limit_middleware"]

NAMESPACE = "qos/ratelimit/proxy"
#: krakend-ratelimit ``ErrLimited``, misspelt there
ERR_LIMITED = "rate limit exceded"


def _parse(raw: Any, site: Site) -> ProxyLimitOptions:
    return parse_proxy_limit(raw if isinstance(raw, Mapping) else {})


def proxy_limit_middleware(options: ProxyLimitOptions, *, clock: Clock = monotonic) -> Middleware | None:
    """The backend limiter; ``None`` when ``max_rate`` is not positive."""
    if options.max_rate <= 0:
        return None
    bucket = TokenBucket(fill_interval(options.max_rate), options.capacity, clock())

    def middleware(next_proxy: Proxy) -> Proxy:
        async def limited(request: Request) -> Response:
            if not bucket.allow(clock()):
                # the backend call refused: the audit trail's deny (one dict lookup, only when limited)
                audit_decision(request.context, policy=NAMESPACE, decision="deny", reason="rate_limited")
                raise BackendError(ERR_LIMITED)
            return await next_proxy(request)

        return limited

    return middleware


async def _build(options: ProxyLimitOptions, site: Site, resources: Resources) -> Middleware | None:
    return proxy_limit_middleware(options)


COMPONENT: Component[ProxyLimitOptions] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="backend rate limit: one token bucket per backend; over it the call fails without reaching it",
    backend=_build,
)
