"""The endpoint rate limit in memory (krakend-ratelimit ``router/gin/gin.go``): the client bucket is
checked first (429, a rejected request does not consume the global bucket), then the endpoint's
global bucket (503). Both answer with an empty body and no KrakenD headers.
"""

from __future__ import annotations

import logging

from krakenpy.errors import Rejection
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.ratelimit.bucket import Clock, TokenBucket, fill_interval, monotonic
from krakenpy.ratelimit.headers import policy_header, rejection_headers
from krakenpy.ratelimit.keys import KeyExtractor
from krakenpy.ratelimit.options import RouterLimitOptions
from krakenpy.ratelimit.store import ClientStore

__all__ = ["NAMESPACE", "router_limit_middleware"]

NAMESPACE = "qos/ratelimit/router"
log = logging.getLogger("krakenpy.ratelimit")


def router_limit_middleware(
    options: RouterLimitOptions,
    extract: KeyExtractor | None,
    *,
    clock: Clock = monotonic,
    policy: str = NAMESPACE,
) -> Middleware | None:
    """The limiter of one endpoint; ``None`` when neither limit applies (nothing is paid per request)."""
    store: ClientStore | None = None
    if options.client_max_rate > 0 and extract is not None:
        store = ClientStore(
            fill_interval(options.client_max_rate),
            options.client_capacity,
            ttl=options.ttl,
            cleanup_period=options.cleanup_period,
            clock=clock,
        )
    bucket: TokenBucket | None = None
    if options.max_rate > 0:
        bucket = TokenBucket(fill_interval(options.max_rate), options.capacity, clock())
    if store is None and bucket is None:
        return None
    headers = options.rate_limit_headers
    client_policy = policy_header("client", options.client_max_rate, options.every)
    global_policy = policy_header("endpoint", options.max_rate, options.every)

    def reject(status: int, limited: TokenBucket | None, detail: str, now: int) -> Rejection:
        extra: tuple[tuple[str, str], ...] = ()
        if headers:
            wait = limited.wait(now) if limited is not None else 1.0
            name, pol = ("client", client_policy) if status == 429 else ("endpoint", global_policy)
            extra = rejection_headers(pol, name, wait)
        return Rejection(status, reason="rate_limited", policy=policy, detail=detail, headers=extra)

    def middleware(next_proxy: Proxy) -> Proxy:
        async def limited(request: Request) -> Response:
            now = clock()
            if store is not None and extract is not None:
                key = extract(request)
                if not key:
                    raise reject(429, None, "no client key", now)
                empty = store.take(key, now)
                if empty is not None:
                    raise reject(429, empty, "client limit", now)
            if bucket is not None:
                if bucket.tokens > 0:  # TokenBucket.allow's fast path, without the call
                    bucket.tokens -= 1
                elif not bucket.allow(now):
                    raise reject(503, bucket, "endpoint limit", now)
            return await next_proxy(request)

        return limited

    return middleware
