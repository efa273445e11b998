"""``qos/circuit-breaker``: one gobreaker-style breaker per backend definition.

A failure is any error the backend stack below raises: transport errors, timeouts, a status other
than 200/201 (never on ``no-op`` backends), the proxy rate limit, Lua and backend CEL errors; not a
response body template's failure (the backend answered). A refused call is an ordinary backend
error (500, or a partial response when other backends answer).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from krakenpy.circuitbreaker import Breaker, BreakerOpen, log_change
from krakenpy.components.base import Component, Site
from krakenpy.errors import BackendError
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "BreakerOptions", "breaker_middleware"]

NAMESPACE = "qos/circuit-breaker"


@dataclass(frozen=True, slots=True)
class BreakerOptions:
    """Seconds and counts as KrakenD reads them (integers; other shapes are 0)."""

    interval: int = 0
    timeout: int = 0
    max_errors: int = 0
    name: str = ""
    log_status_change: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.interval or self.timeout or self.max_errors)


def _int(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return int(value)


def _parse(raw: Any, site: Site) -> BreakerOptions:
    raw = raw if isinstance(raw, Mapping) else {}
    name = raw.get("name")
    return BreakerOptions(
        interval=max(_int(raw, "interval"), 0),
        timeout=max(_int(raw, "timeout"), 0),
        max_errors=max(_int(raw, "max_errors"), 0),
        name=name if isinstance(name, str) else "",
        log_status_change=raw.get("log_status_change") is True,
    )


def breaker_middleware(breaker: Breaker) -> Middleware:
    """Guard the backend stack below with ``breaker``."""

    def middleware(next_proxy: Proxy) -> Proxy:
        async def guarded(request: Request) -> Response:
            try:
                generation = breaker.before()
            except BreakerOpen as exc:
                raise BackendError(str(exc)) from None
            try:
                response = await next_proxy(request)
            except asyncio.CancelledError:
                breaker.cancelled(generation)
                raise
            except BackendError as exc:
                # a response body template that failed (often on the client's own body): the backend
                # answered, so a client cannot open the breaker for everyone with bad bodies
                if exc.name == "TemplateError":
                    breaker.success(generation)
                else:
                    breaker.failure(generation)
                raise
            except BaseException:
                breaker.failure(generation)
                raise
            breaker.success(generation)
            return response

        return guarded

    return middleware


async def _build(options: BreakerOptions, site: Site, resources: Resources) -> Middleware | None:
    if not options.enabled:
        return None
    breaker = Breaker(
        interval=options.interval,
        timeout=options.timeout,
        max_errors=options.max_errors,
        name=options.name,
        on_change=log_change if options.log_status_change else None,
    )
    return breaker_middleware(breaker)


COMPONENT: Component[BreakerOptions] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="circuit breaker per backend (gobreaker): opens after max_errors consecutive failures",
    backend=_build,
)
