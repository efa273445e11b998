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
)
