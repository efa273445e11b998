"""``qos/ratelimit/service/redis`` (KrakenD Enterprise's fields): the service rate limit kept in Redis,
so every krakenpy instance and worker shares one limit for the whole gateway. Same fields and pools
as ``qos/ratelimit/router/redis``; keys ``krakenpy:rl:service:g`` and ``krakenpy:rl:service:c:<client>``."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.qos.ratelimit import ServiceWide, service_wide
from krakenpy.components.qos.ratelimit.router import client_key
from krakenpy.proxy.types import Middleware
from krakenpy.ratelimit.options import REDIS_IGNORED, RedisLimitOptions
from krakenpy.ratelimit.redis_options import build_redis_limit, parse_redis_limit
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "qos/ratelimit/service/redis"
_LIMITER: Final = Key("qos/ratelimit/service/redis limiter", ServiceWide)


def _parse(raw: Any, site: Site) -> RedisLimitOptions:
    return parse_redis_limit(raw, site.at, site.service.extra_config)


async def _make(options: RedisLimitOptions, site: Site, resources: Resources) -> Middleware | None:
    extract = client_key(options.limit, site, resources)
    return build_redis_limit(
        options,
        extract,
        site.service.extra_config,
        resources,
        prefix="krakenpy:rl:service",
        policy=NAMESPACE,
        scope="service",
    )


async def _build(options: RedisLimitOptions | None, site: Site, resources: Resources) -> Middleware | None:
    return await service_wide(NAMESPACE, site, resources, _LIMITER, _make)


COMPONENT: Final[Component[RedisLimitOptions]] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="service rate limit shared by every instance through Redis (one atomic script per request)",
    edition="ee",
    endpoint=_build,
    always=True,  # built for every endpoint: the one limiter, at the rate-limit step
    ignored=REDIS_IGNORED,
)
