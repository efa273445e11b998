"""What a request goes through under a ``governance/quota`` attachment.

1. The header ``tier_key`` picks the first matching tier (:class:`~krakenpy.ratelimit.tiers.TierSelector`,
   as the tiered rate limit); the tier's ``strategy``/``key`` name the caller. No tier: 400, unless
   ``on_unmatched_tier_allow`` lets the request through uncounted; a tier without its caller key: 400.
2. A counter of the tier's rule that is exhausted (in the rejecter cache, or in Redis) refuses the
   request: 429 with ``X-Quota-Limit``, ``X-Quota-Remaining: 0`` and ``Retry-After`` (seconds to the
   window's end), unless ``disable_quota_headers``.
3. Without ``weight_key`` the check also adds 1 to every counter (one atomic step, before the
   backends: concurrent requests never overshoot). With it, the backends answer first, and the
   number at ``weight_key`` (:mod:`krakenpy.quota.weights`) is added afterwards; a response without
   a number there adds nothing.
4. The answer carries ``X-Quota-Limit`` and ``X-Quota-Remaining`` of the tightest limit.

Redis down (or a step it refuses): with ``on_failure_allow`` the request goes through uncounted,
otherwise 503 (audited as ``policy_error``: nothing was used up).
"""

from __future__ import annotations

import math
from dataclasses import replace

from krakenpy.errors import Rejection
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.quota.options import QUOTA, QuotaOptions
from krakenpy.quota.processor import Processor, Step
from krakenpy.quota.weights import HEADER_WEIGHTS, weight_reader
from krakenpy.ratelimit.tiers import TierSelector
from krakenpy.telemetry.audit import audit_decision

__all__ = ["quota_middleware"]


def quota_middleware(
    options: QuotaOptions, processor: Processor, weighted: bool, credentials: frozenset[str] = frozenset()
) -> Middleware:
    """The attachment as a middleware; ``weighted``: the weight comes from the response;
    ``credentials``: the (lower-case) credential headers, whose values name counters by their hash."""
    header = options.tier_key
    tiers = options.tiers
    hashed = tuple(bool(t.header) and t.header.lower() in credentials for t in tiers)
    select = TierSelector([t.tier for t in tiers])
    rejecter = processor.rejecter
    send_headers = not options.disable_quota_headers
    allow_unmatched = options.on_unmatched_tier_allow
    allow_on_failure = processor.options.on_failure_allow
    cap = max((limit.amount for tier in tiers for limit in tier.limits), default=0)
    read_weight = weight_reader(options.weight_key, options.weight_strategy, cap)
    record_headers = weighted and options.weight_strategy == "header"

    def exhausted(step: Step, index: int, now: float) -> Rejection:
        limit = step.limits[index]
        extra: tuple[tuple[str, str], ...] = ()
        if send_headers:
            retry = max(math.ceil(step.ends[index] - now), 1)
            extra = (("X-Quota-Limit", str(limit.amount)), ("X-Quota-Remaining", "0"), ("Retry-After", str(retry)))
        detail = f"quota {processor.options.name}: {limit.amount}/{limit.unit} used up"
        return Rejection(429, reason="rate_limited", policy=QUOTA, detail=detail, headers=extra)

    def remember(step: Step, values: list[int], now: float) -> None:
        if rejecter is not None:
            generation = processor.generation(now)
            for key, limit, value in zip(step.keys, step.limits, values, strict=True):
                if value >= limit.amount:
                    rejecter.add(key, generation)

    def headers(step: Step, values: list[int]) -> dict[str, list[str]]:
        left = [(limit.amount - value, limit.amount) for limit, value in zip(step.limits, values, strict=True)]
        remaining, amount = min(left)
        return {"X-Quota-Limit": [str(amount)], "X-Quota-Remaining": [str(max(remaining, 0))]}

    def middleware(next_proxy: Proxy) -> Proxy:
        async def quota(request: Request) -> Response:
            values = request.headers.get(header)
            index = select(values[0] if values else "")
            if index < 0:
                if allow_unmatched:
                    return await next_proxy(request)
                raise Rejection(400, reason="no_credentials", policy=QUOTA, detail="no tier matches")
            caller = tiers[index].extract(request)
            if not caller:  # on_unmatched_tier_allow is about the tier: a known tier always needs its key
                raise Rejection(400, reason="no_credentials", policy=QUOTA, detail="no caller key")
            tier = tiers[index]
            if not tier.limits:
                return await next_proxy(request)
            now = processor.clock()
            step = processor.step(tier.limits, caller, now, hashed[index])
            if rejecter is not None:
                generation = processor.generation(now)
                for i, key in enumerate(step.keys):
                    if rejecter.check(key, generation):
                        raise exhausted(step, i, now)
            result = await processor.run(step, 0 if weighted else 1, check=True)
            if result is None:
                if allow_on_failure:
                    return await next_proxy(request)
                # not rate_limited: nobody used anything up, the policy could not be evaluated
                raise Rejection(503, reason="policy_error", policy=QUOTA, detail="quota store unavailable")
            refused, counts = result
            if refused:
                remember(step, counts, now)
                raise exhausted(step, refused - 1, now)
            audit_decision(request.context, policy=QUOTA)
            recorded: list[str] = []
            if record_headers:
                token = HEADER_WEIGHTS.set(recorded)
                try:
                    response = await next_proxy(request)
                finally:
                    HEADER_WEIGHTS.reset(token)
            else:
                response = await next_proxy(request)
            if weighted:
                weight = read_weight(response, recorded)
                if weight:
                    after = await processor.run(step, weight, check=False)
                    if after is not None:
                        counts = after[1]
            remember(step, counts, now)
            if not send_headers:
                return response
            merged = dict(response.override_headers or {})
            merged.update(headers(step, counts))
            return replace(response, override_headers=merged)

        return quota

    return middleware
