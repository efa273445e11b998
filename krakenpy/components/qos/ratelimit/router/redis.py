"""``qos/ratelimit/router/redis`` (KrakenD Enterprise's fields): the endpoint rate limit kept in
Redis, so every krakenpy instance shares one limit. The pool is named by ``connection_name`` (or the
deprecated ``connection_pool``) among the root ``redis`` namespace's ``connection_pools``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from krakenpy.components.base import Component, Site
from krakenpy.components.qos.ratelimit.router import client_key
from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.types import Middleware
from krakenpy.ratelimit.options import REDIS_NAMESPACE as NAMESPACE
from krakenpy.ratelimit.options import RedisLimitOptions, parse_router_limit
from krakenpy.redis_pools import cluster_names, parse_pools, redis_client
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]

DEFAULT_TIMEOUT = 0.1


def _parse(raw: Any, site: Site) -> RedisLimitOptions:
    raw = raw if isinstance(raw, Mapping) else {}
    field = "connection_name" if raw.get("connection_name") else "connection_pool"
    name = raw.get(field)
    issues: list[ConfigIssue] = []
    if not isinstance(name, str) or not name:
        issues.append(ConfigIssue(site.at("connection_name"), "name a pool of the root redis namespace"))
    else:
        root = site.service.extra_config.get("redis")
        pools, pool_issues = parse_pools(root, "extra_config.redis")
        issues.extend(pool_issues)  # `redis` is parsed by no one else: its problems surface here
        if name in cluster_names(root) and name not in pools:
            issues.append(ConfigIssue(site.at(field), f"{name!r} is a Redis Cluster: not supported by krakenpy"))
        elif name not in pools:
            issues.append(ConfigIssue(site.at(field), f"no pool named {name!r} in extra_config.redis.connection_pools"))
    timeout = DEFAULT_TIMEOUT
    if "timeout" in raw:
        try:
            timeout = parse_duration(raw["timeout"])
        except ValueError:
            timeout = 0.0
        if timeout <= 0:
            issues.append(ConfigIssue(site.at("timeout"), "expected a positive duration"))
    if issues:
        raise ConfigError(issues)
    return RedisLimitOptions(
        limit=parse_router_limit(raw),
        connection_name=str(name),
        on_failure_allow=raw.get("on_failure_allow") is True,
        timeout=timeout,
    )


async def _build(options: RedisLimitOptions, site: Site, resources: Resources) -> Middleware | None:
    from krakenpy.ratelimit.cluster import redis_limit_middleware  # loads redis: only when used

    extract = client_key(options.limit, site, resources)
    if options.limit.max_rate <= 0 and extract is None:
        return None
    pools, _ = parse_pools(site.service.extra_config.get("redis"), "extra_config.redis")
    client = redis_client(pools[options.connection_name], resources)
    endpoint = site.endpoint
    route = f"{endpoint.method} {endpoint.endpoint}" if endpoint is not None else site.path
    return redis_limit_middleware(options, extract, client, prefix=f"krakenpy:rl:{route}")


COMPONENT: Component[RedisLimitOptions] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint"}),
    parse=_parse,
    summary="endpoint rate limit shared by every instance through Redis (one atomic script per request)",
    edition="ee",
    endpoint=_build,
)
