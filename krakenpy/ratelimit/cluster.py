"""The endpoint rate limit shared by every instance through Redis (``qos/ratelimit/router/redis``).

Same buckets and answers as the in-memory limit (:mod:`krakenpy.ratelimit.router`), kept in Redis
and updated by one Lua script per request (one ``EVALSHA`` round trip, atomic, on the Redis
server's clock). Redis trouble is explicit:

- each call is bounded by ``timeout`` (krakenpy extension, 100 ms by default);
- on an error or a timeout the request is refused as over the limit (429 when the endpoint has a
  client limit, else 503) unless ``on_failure_allow`` lets it through, as in KrakenD Enterprise;
- after a failure Redis is left alone for :data:`COOLDOWN` seconds (the failure rule applies at
  once), so a dead Redis never adds its timeout to every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from importlib.resources import files

from redis.exceptions import RedisError

from krakenpy.errors import Rejection
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.ratelimit.bucket import fill_interval
from krakenpy.ratelimit.headers import policy_header, rejection_headers
from krakenpy.ratelimit.keys import KeyExtractor
from krakenpy.ratelimit.options import REDIS_NAMESPACE as NAMESPACE
from krakenpy.ratelimit.options import RedisLimitOptions
from krakenpy.redis_pools import RedisPool

__all__ = ["COOLDOWN", "NAMESPACE", "RedisLimitOptions", "redis_limit_middleware"]

#: seconds Redis is not asked again after a failure
COOLDOWN = 1.0
SCRIPT = files("krakenpy.ratelimit").joinpath("bucket.lua").read_text()
#: client names longer than this are hashed into the Redis key (a header can be kilobytes)
_MAX_KEY = 128

log = logging.getLogger("krakenpy.ratelimit")
#: the audit reason of a refusal for want of the store: nobody used anything up, the policy could
#: not be evaluated (an error in the trail, not a rate limit; the client's status stays 429/503)
_STORE_DOWN = "policy_error"


def _client_part(key: str, hashed: bool = False, name_key: bytes = b"") -> bytes:
    # the bytes the client sent: a header's bytes that are not UTF-8 arrive as surrogate escapes,
    # which redis-py's strict UTF-8 encoding refuses (such a client is limited like any other)
    raw = key.encode("utf-8", "surrogateescape")
    if len(key) <= _MAX_KEY and not hashed:
        return raw
    return b"#" + hashlib.blake2b(raw, digest_size=16, key=name_key).hexdigest().encode()


def redis_limit_middleware(
    options: RedisLimitOptions,
    extract: KeyExtractor | None,
    pool: RedisPool,
    *,
    prefix: str,
    clock: Callable[[], float] = time.monotonic,
    policy: str = NAMESPACE,
    scope: str = "endpoint",
    hashed: bool = False,
    name_key: bytes = b"",
) -> Middleware | None:
    """The shared limiter of one endpoint (or of the service: ``scope`` names the global bucket in
    rejections); ``prefix`` names its keys (the same on every instance); ``hashed``: every client
    name is hashed into its key (the client key is a credential: a token is no Redis key name)."""
    limit = options.limit
    use_client = limit.client_max_rate > 0 and extract is not None
    use_global = limit.max_rate > 0
    if not use_client and not use_global:
        return None
    ttl_ms = str(max(limit.ttl // 1_000_000, 1000))
    client_args = [str(fill_interval(limit.client_max_rate)), str(limit.client_capacity), ttl_ms]
    global_args = [str(fill_interval(limit.max_rate)), str(limit.capacity), ttl_ms]
    global_key = f"{prefix}:g"
    client_prefix = f"{prefix}:c:".encode()
    script = pool.script(SCRIPT)
    slots = pool.slots
    timeout = options.timeout
    allow_on_failure = options.on_failure_allow
    failure_status = 429 if use_client else 503
    headers = limit.rate_limit_headers
    policies = {
        429: ("client", policy_header("client", limit.client_max_rate, limit.every)),
        503: (scope, policy_header(scope, limit.max_rate, limit.every)),
    }
    down_until = 0.0

    def reject(status: int, wait: float, detail: str, reason: str = "rate_limited") -> Rejection:
        extra = rejection_headers(policies[status][1], policies[status][0], wait) if headers else ()
        return Rejection(status, reason=reason, policy=policy, detail=detail, headers=extra)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def limited(request: Request) -> Response:
            nonlocal down_until
            keys: list[str | bytes] = []
            args: list[str] = []
            if use_client and extract is not None:
                name = extract(request)
                if not name:
                    raise reject(429, 1.0, "no client key")
                keys.append(client_prefix + _client_part(name, hashed, name_key))
                args += client_args
            if use_global:
                keys.append(global_key)
                args += global_args
            now = clock()
            if now < down_until:
                if allow_on_failure:
                    return await next_proxy(request)
                raise reject(failure_status, down_until - now, "rate limit store unavailable", _STORE_DOWN)
            try:
                async with asyncio.timeout(timeout), slots:
                    refused, wait_us = await script(keys=keys, args=args)
            except (RedisError, OSError, TimeoutError) as exc:
                failed_at = clock()
                if failed_at >= down_until:  # once per cooldown, not once per request in flight
                    action = "allowing" if allow_on_failure else "refusing"
                    log.warning(
                        "%s: Redis unavailable (%s); %s for %.1fs", prefix, type(exc).__name__, action, COOLDOWN
                    )
                down_until = failed_at + COOLDOWN
                if allow_on_failure:
                    return await next_proxy(request)
                raise reject(failure_status, COOLDOWN, "rate limit store unavailable", _STORE_DOWN) from None
            if refused:
                status = 429 if use_client and refused == 1 else 503
                raise reject(status, int(wait_us) / 1e6, "client limit" if status == 429 else f"{scope} limit")
            return await next_proxy(request)

        return limited

    return middleware
