"""``qos/ratelimit/router`` and ``qos/ratelimit/proxy`` values as KrakenD reads them
(krakend-ratelimit ``router/router.go``, ``router/gin/gin.go``, ``proxy/proxy.go``), defaults and
quirks included:

- rates are per ``every`` and stored per second (``rate × 1s / every``); the router clamps ``every``
  to at least 1 s, the proxy does not;
- ``capacity`` defaults to the per-second rate (at least 1);
- ``client_capacity`` defaults to 1 when the *global* per-second rate is below 1 (also when
  ``max_rate`` is unset), else to the per-second client rate: KrakenD's bug, kept on purpose;
- an unknown ``strategy`` disables the client limit (KrakenD logs a warning; krakenpy too);
- idle client buckets live 10 min, or ``every × (1..1.25)`` when ``every`` is longer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.config.durations import parse_duration
from krakenpy.ratelimit.bucket import default_capacity

__all__ = [
    "DATA_TTL",
    "MEMORY_IGNORED",
    "REDIS_IGNORED",
    "REDIS_NAMESPACE",
    "ProxyLimitOptions",
    "RedisLimitOptions",
    "RouterLimitOptions",
    "parse_proxy_limit",
    "parse_router_limit",
]

SECOND = 1_000_000_000
#: krakend-ratelimit ``DataTTL``: how long an idle client bucket is kept
DATA_TTL = 600 * SECOND
DEFAULT_SHARDS = 2048
REDIS_NAMESPACE = "qos/ratelimit/router/redis"
#: the limit fields krakenpy accepts without using (``Component.ignored`` of every limit namespace)
MEMORY_IGNORED: Final[Mapping[str, str]] = {
    "num_shards": "each worker keeps one table in last-use order: one thread has no lock contention to spread",
    "cleanup_threads": "idle buckets are dropped on the request path, at most once per cleanup_period",
}
_IN_REDIS = "the counters live in Redis, whose keys expire when idle"
REDIS_IGNORED: Final[Mapping[str, str]] = dict.fromkeys(("num_shards", "cleanup_period", "cleanup_threads"), _IN_REDIS)


@dataclass(frozen=True, slots=True)
class RouterLimitOptions:
    """One endpoint's limits, per second, with KrakenD's defaults applied."""

    #: global tokens per second (0: no global limit ⇒ 503 never)
    max_rate: float = 0.0
    capacity: int = 1
    #: per-client tokens per second (0: no client limit ⇒ 429 never)
    client_max_rate: float = 0.0
    client_capacity: int = 1
    #: lower-cased as written; "" when absent
    strategy: str = ""
    key: str = ""
    #: the period as configured (seconds), for the RateLimit-Policy window
    every: float = 1.0
    #: nanoseconds an idle client bucket is kept
    ttl: int = DATA_TTL
    num_shards: int = DEFAULT_SHARDS
    cleanup_period: int = 60 * SECOND
    cleanup_threads: int = 1
    #: krakenpy extension: rejections carry ``Retry-After``, ``RateLimit-Policy`` and ``RateLimit``
    rate_limit_headers: bool = False


@dataclass(frozen=True, slots=True)
class RedisLimitOptions:
    """The limits (as the in-memory router reads them) and where and how they are kept."""

    limit: RouterLimitOptions
    connection_name: str
    on_failure_allow: bool = False
    #: seconds one Redis call may take (krakenpy extension)
    timeout: float = 0.1


@dataclass(frozen=True, slots=True)
class ProxyLimitOptions:
    """One backend's limit, per second (``max_rate`` 0: no limit)."""

    max_rate: float = 0.0
    capacity: int = 1
    every: float = 1.0


def _number(raw: Mapping[str, Any], key: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0  # KrakenD ignores values of other shapes
    return float(value)


def _count(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return max(int(value), 0)


def _duration(raw: Mapping[str, Any], key: str) -> float | None:
    if key not in raw:
        return None
    try:
        return parse_duration(str(raw[key]))
    except ValueError:
        return math.nan


def parse_router_limit(raw: Mapping[str, Any]) -> RouterLimitOptions:
    """``qos/ratelimit/router`` → options; never raises (the schema has checked types)."""
    max_rate = _number(raw, "max_rate")
    client_max_rate = _number(raw, "client_max_rate")
    ttl = DATA_TTL
    every = _duration(raw, "every")
    period = 1.0
    if every is not None:
        period = every if every >= 1.0 else 1.0  # invalid (nan) or under a second: 1 s
        factor = 1.0 / period
        max_rate *= factor
        client_max_rate *= factor
        if period * SECOND > ttl:
            ttl = int((1 + 0.25 * random.random()) * period * SECOND)
    capacity = _count(raw, "capacity", 0) or default_capacity(max_rate)
    client_capacity = _count(raw, "client_capacity", 0)
    if client_capacity == 0:
        client_capacity = 1 if max_rate < 1 else int(client_max_rate)  # KrakenD checks max_rate here
    cleanup = _duration(raw, "cleanup_period")
    cleanup_period = 60.0 if cleanup is None or math.isnan(cleanup) else max(cleanup, 1.0)
    strategy = raw.get("strategy")
    key = raw.get("key")
    return RouterLimitOptions(
        max_rate=max_rate,
        capacity=capacity,
        client_max_rate=client_max_rate,
        client_capacity=max(client_capacity, 1),
        strategy=str(strategy).lower() if strategy is not None else "",
        key=str(key) if key is not None else "",
        every=period,
        ttl=ttl,
        num_shards=_count(raw, "num_shards", DEFAULT_SHARDS),
        cleanup_period=int(cleanup_period * SECOND),
        cleanup_threads=_count(raw, "cleanup_threads", 1),
        rate_limit_headers=raw.get("rate_limit_headers") is True,
    )


def parse_proxy_limit(raw: Mapping[str, Any]) -> ProxyLimitOptions:
    """``qos/ratelimit/proxy`` → options. ``every`` has no minimum here; an invalid or zero one is 1 s
    (KrakenD divides by zero on ``"0s"``)."""
    max_rate = _number(raw, "max_rate")
    every = _duration(raw, "every")
    period = 1.0 if every is None or math.isnan(every) or every == 0 else every
    max_rate /= period
    capacity = _count(raw, "capacity", 0) or default_capacity(max_rate)
    return ProxyLimitOptions(max_rate=max_rate, capacity=capacity, every=period)
