"""The Redis-backed limits' options (KrakenD Enterprise's fields, shared by
``qos/ratelimit/router/redis``, ``qos/ratelimit/service/redis`` and a tier's ``ratelimit_redis``):
the router-limit fields, plus the pool named by ``connection_name`` (or the deprecated
``connection_pool``) among the root ``redis`` namespace's ``connection_pools``, checked at parse time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.ratelimit.keys import KeyExtractor
from krakenpy.ratelimit.options import REDIS_NAMESPACE, RedisLimitOptions, parse_router_limit
from krakenpy.redis_pools import cluster_names, parse_pools, redis_client
from krakenpy.resources import Resources

if TYPE_CHECKING:
    from krakenpy.proxy.types import Middleware

__all__ = ["DEFAULT_TIMEOUT", "build_redis_limit", "parse_redis_limit"]

#: seconds a request waits for Redis (krakenpy extension ``timeout``)
DEFAULT_TIMEOUT = 0.1


def parse_redis_limit(raw: Any, at: Callable[[str], str], service_extra: Mapping[str, Any]) -> RedisLimitOptions:
    """A Redis limit's value → options; ``at(field)`` gives a field's JSON path. Raises
    :class:`ConfigError` for a missing or unknown pool, a Redis Cluster name or a bad ``timeout``."""
    raw = raw if isinstance(raw, Mapping) else {}
    field = "connection_name" if raw.get("connection_name") else "connection_pool"
    name = raw.get(field)
    issues: list[ConfigIssue] = []
    if not isinstance(name, str) or not name:
        issues.append(ConfigIssue(at("connection_name"), "name a pool of the root redis namespace"))
    else:
        root = service_extra.get("redis")
        pools, pool_issues = parse_pools(root, "extra_config.redis")
        issues.extend(pool_issues)  # `redis` is parsed by no one else: its problems surface here
        if name in cluster_names(root) and name not in pools:
            issues.append(ConfigIssue(at(field), f"{name!r} is a Redis Cluster: not supported by krakenpy"))
        elif name not in pools:
            issues.append(ConfigIssue(at(field), f"no pool named {name!r} in extra_config.redis.connection_pools"))
    timeout = DEFAULT_TIMEOUT
    if "timeout" in raw:
        try:
            timeout = parse_duration(raw["timeout"])
        except ValueError:
            timeout = 0.0
        if timeout <= 0:
            issues.append(ConfigIssue(at("timeout"), "expected a positive duration"))
    if issues:
        raise ConfigError(issues)
    return RedisLimitOptions(
        limit=parse_router_limit(raw),
        connection_name=str(name),
        on_failure_allow=raw.get("on_failure_allow") is True,
        timeout=timeout,
    )


def build_redis_limit(
    options: RedisLimitOptions,
    extract: KeyExtractor | None,
    service_extra: Mapping[str, Any],
    resources: Resources,
    *,
    prefix: str,
    policy: str = REDIS_NAMESPACE,
    scope: str = "endpoint",
) -> Middleware | None:
    """The limiter on the gateway's client for the option's pool (opened on first use); ``None`` when
    neither limit applies, so no pool is opened for nothing."""
    if options.limit.max_rate <= 0 and (options.limit.client_max_rate <= 0 or extract is None):
        return None
    from krakenpy.fingerprint import store_name_key
    from krakenpy.ratelimit.cluster import redis_limit_middleware  # loads redis: only when used
    from krakenpy.telemetry.setup import hub_for

    pools, _ = parse_pools(service_extra.get("redis"), "extra_config.redis")
    client = redis_client(pools[options.connection_name], resources)
    limit = options.limit
    # a client key read from a credential header (Authorization, X-Api-Key, the redactor's list) is
    # hashed into the Redis key name: Redis' KEYS, MONITOR and slow log never show a token
    hashed = limit.strategy.lower() == "header" and hub_for(resources).redactor.is_sensitive_header(limit.key)
    # keyed by the operator's fingerprint key when one is configured (a guessed weak key cannot be
    # confirmed from a key listing); the same on every instance, so counters stay shared
    name_key = store_name_key(service_extra) if hashed else b""
    return redis_limit_middleware(
        options, extract, client, prefix=prefix, policy=policy, scope=scope, hashed=hashed, name_key=name_key
    )
