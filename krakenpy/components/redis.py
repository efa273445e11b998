"""The root ``redis`` namespace (KrakenD Enterprise): named Redis connection pools for components
that keep shared state (``qos/ratelimit/router/redis``). Parsed and checked here; the clients are
created by the components that use a pool (:func:`krakenpy.redis_pools.redis_client`)."""

from __future__ import annotations

from typing import Any

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError
from krakenpy.redis_pools import PoolOptions, parse_pools

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> dict[str, PoolOptions]:
    pools, issues = parse_pools(raw, site.path)
    if issues:
        raise ConfigError(issues)
    return pools


COMPONENT: Component[dict[str, PoolOptions]] = Component(
    namespace="redis",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="named Redis connection pools, opened by the components that use one (cluster-wide rate limit)",
    edition="ee",
    core=True,
    strict=True,
    ignored={
        "connection_pools[].pool_timeout": "the rate limit's own timeout bounds the wait",
        "connection_pools[].min_retry_backoff": "retries go at once, bounded by the rate limit's timeout",
        "connection_pools[].max_retry_backoff": "retries go at once, bounded by the rate limit's timeout",
        "connection_pools[].conn_max_idle_time": "pooled connections are reused until they fail",
        "connection_pools[].conn_max_life_time": "pooled connections are reused until they fail",
        "connection_pools[].max_active_conns": "pool_size alone bounds the connections",
        "connection_pools[].max_idle_conns": "pool_size alone bounds the connections",
        "connection_pools[].min_idle_conns": "pool_size alone bounds the connections",
        "connection_pools[].opentelemetry": "Redis calls are not traced",
        "clusters": "Redis Cluster is not supported: a rate limit naming a cluster is a configuration error",
    },
)
