"""``qos/ratelimit/service`` (KrakenD Enterprise's fields): the router limit's buckets for the whole
gateway, in memory. One global bucket (503) and one bucket per client (429) shared by every endpoint,
checked at each endpoint's rate-limit step (see :mod:`krakenpy.components.qos.ratelimit`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.qos.ratelimit import ServiceWide, service_wide
from krakenpy.components.qos.ratelimit.router import client_key
from krakenpy.proxy.types import Middleware
from krakenpy.ratelimit.options import MEMORY_IGNORED, RouterLimitOptions, parse_router_limit
from krakenpy.ratelimit.router import router_limit_middleware
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "qos/ratelimit/service"
_LIMITER: Final = Key("qos/ratelimit/service limiter", ServiceWide)


def _parse(raw: Any, site: Site) -> RouterLimitOptions:
    return parse_router_limit(raw if isinstance(raw, Mapping) else {})


async def _make(options: RouterLimitOptions, site: Site, resources: Resources) -> Middleware | None:
    extract = client_key(options, site, resources)
    return router_limit_middleware(options, extract, policy=NAMESPACE, scope="service")


async def _build(options: RouterLimitOptions | None, site: Site, resources: Resources) -> Middleware | None:
    return await service_wide(NAMESPACE, site, resources, _LIMITER, _make)


COMPONENT: Final[Component[RouterLimitOptions]] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="service rate limit: one global bucket (503) and per-client buckets (429) for all endpoints together",
    edition="ee",
    endpoint=_build,
    always=True,  # built for every endpoint: the one limiter, at the rate-limit step
    ignored=MEMORY_IGNORED,
)
