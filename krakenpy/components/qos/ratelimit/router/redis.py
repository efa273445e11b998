"""``qos/ratelimit/router/redis`` (KrakenD Enterprise's fields): the endpoint rate limit kept in
Redis, so every krakenpy instance shares one limit. The pool is named by ``connection_name`` (or the
deprecated ``connection_pool``) among the root ``redis`` namespace's ``connection_pools``."""

from __future__ import annotations

from typing import Any

from krakenpy.components.base import Component, Site
from krakenpy.components.qos.ratelimit.router import client_key
from krakenpy.proxy.types import Middleware
from krakenpy.ratelimit.options import REDIS_IGNORED, RedisLimitOptions
from krakenpy.ratelimit.options import REDIS_NAMESPACE as NAMESPACE
from krakenpy.ratelimit.redis_options import build_redis_limit, parse_redis_limit
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> RedisLimitOptions:
    return parse_redis_limit(raw, site.at, site.service.extra_config)


async def _build(options: RedisLimitOptions, site: Site, resources: Resources) -> Middleware | None:
    extract = client_key(options.limit, site, resources)
    endpoint = site.endpoint
    route = f"{endpoint.method} {endpoint.endpoint}" if endpoint is not None else site.path
    return build_redis_limit(
        options, extract, site.service.extra_config, resources, prefix=f"krakenpy:rl:{route}", policy=NAMESPACE
    )


COMPONENT: Component[RedisLimitOptions] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint"}),
    parse=_parse,
    summary="endpoint rate limit shared by every instance through Redis (one atomic script per request)",
    edition="ee",
    endpoint=_build,
    ignored=REDIS_IGNORED,
)
