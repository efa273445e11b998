"""The ``qos/ratelimit/*`` components, and how a service-level limit reaches every endpoint.

A service-level value is usually built once and wraps every endpoint *outside* the endpoint-level
middlewares. The service-wide rate limits (``qos/ratelimit/service``, ``…/service/redis`` and a
service-level ``qos/ratelimit/tiered``) must instead run where rate limits run: after the endpoint's
JWT validator, API-key check and Lua endpoint script, so that claims are known, the tier header a
guard propagates is set, and refused credentials consume nothing. Their components are therefore
``always`` built for every endpoint, at their place in ``registry.ENDPOINT``, and each endpoint gets
the *same* limiter (one set of buckets for the whole gateway), built once by :func:`service_wide`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from krakenpy.components.base import Site
from krakenpy.proxy.types import Middleware, Proxy
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["ServiceWide", "chain", "service_wide"]

#: ``make(options, site, resources)``: builds a limiter (``None``: nothing to limit)
Make = Callable[[Any, Site, Resources], Awaitable[Middleware | None]]


@dataclass(frozen=True, slots=True)
class ServiceWide:
    """A service-level limiter, built once per gateway (``None``: nothing to limit)."""

    middleware: Middleware | None


async def service_wide(
    namespace: str, site: Site, resources: Resources, key: Key[ServiceWide], make: Make
) -> Middleware | None:
    """The service-level value of ``namespace`` as a limiter for the endpoint at ``site`` (the same
    object for every endpoint); ``None`` at the service site itself and when the service has no value."""
    if site.level == "service":
        return None  # not outside the endpoint's guards: each endpoint places it at the rate-limit step
    built = resources.state.get(key)
    if built is None:
        options = resources.options("", namespace)
        resources.state.set(key, ServiceWide(None))  # a failed build reports its errors once
        if options is None:
            return None
        service_site = Site("service", f"extra_config.{namespace}", site.service)
        built = resources.state.set(key, ServiceWide(await make(options, service_site, resources)))
    return built.middleware


def chain(*middlewares: Middleware | None) -> Middleware | None:
    """The given middlewares, outermost first, as one; ``None`` when none is given."""
    present = [m for m in middlewares if m is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def middleware(next_proxy: Proxy) -> Proxy:
        for wrap in reversed(present):
            next_proxy = wrap(next_proxy)
        return next_proxy

    return middleware
