"""``qos/ratelimit/tiered`` (KrakenD Enterprise's fields): per-plan rate limits, chosen by a header.

At endpoint level each tier's ``ratelimit`` (in memory) and ``ratelimit_redis`` (shared through
Redis) limit that endpoint; at service level they limit all endpoints together, at each endpoint's
rate-limit step (see :mod:`krakenpy.components.qos.ratelimit`). Both levels may be set: the
service's tiers are checked first. The matching rules are in :mod:`krakenpy.ratelimit.tiers`.
"""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.qos.ratelimit import ServiceWide, chain, service_wide
from krakenpy.components.qos.ratelimit.router import client_key
from krakenpy.proxy.types import Middleware
from krakenpy.ratelimit.options import MEMORY_IGNORED, REDIS_IGNORED
from krakenpy.ratelimit.redis_options import build_redis_limit
from krakenpy.ratelimit.router import router_limit_middleware
from krakenpy.ratelimit.tiers import NAMESPACE, TieredOptions, parse_tiered, tiered_middleware
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT", "NAMESPACE"]

_SERVICE_LIMITER: Final = Key("qos/ratelimit/tiered service limiter", ServiceWide)


def _parse(raw: Any, site: Site) -> TieredOptions:
    return parse_tiered(raw, site.at, site.service.extra_config)


def _warn(options: TieredOptions, site: Site, resources: Resources) -> None:
    kinds = [tier.kind for tier in options.tiers]
    if "*" in kinds:
        last = kinds.index("*")
        if last < len(kinds) - 1:
            resources.warnings.append(f"{site.at('tiers', last + 1)}: after a '*' tier: never matches")
    else:
        resources.warnings.append(
            f"{site.path}: requests whose {options.tier_key} matches no tier are not limited by it"
            " (a last tier with tier_value_as '*' limits them)"
        )


async def _limiter(options: TieredOptions, site: Site, resources: Resources) -> Middleware | None:
    """The tiers of one value as one middleware (``site``: where the value sits)."""
    _warn(options, site, resources)
    endpoint = site.endpoint
    scope = "endpoint" if endpoint is not None else "service"
    route = f"{endpoint.method} {endpoint.endpoint}" if endpoint is not None else "service"
    limiters: list[Middleware | None] = []
    for i, tier in enumerate(options.tiers):
        memory = redis = None
        if tier.limit is not None:
            at = Site(site.level, site.at("tiers", i, "ratelimit"), site.service, endpoint)
            extract = client_key(tier.limit, at, resources)
            memory = router_limit_middleware(tier.limit, extract, policy=NAMESPACE, scope=scope)
        if tier.redis is not None:
            at = Site(site.level, site.at("tiers", i, "ratelimit_redis"), site.service, endpoint)
            extract = client_key(tier.redis.limit, at, resources)
            redis = build_redis_limit(
                tier.redis,
                extract,
                site.service.extra_config,
                resources,
                prefix=f"krakenpy:rl:{route}:tier{i}",
                policy=NAMESPACE,
                scope=scope,
            )
        limiters.append(chain(memory, redis))  # both set: both must allow (memory first: no round trip)
    return tiered_middleware(options, limiters)


async def _build(options: TieredOptions | None, site: Site, resources: Resources) -> Middleware | None:
    service = await service_wide(NAMESPACE, site, resources, _SERVICE_LIMITER, _limiter)
    endpoint = await _limiter(options, site, resources) if options is not None and site.level == "endpoint" else None
    return chain(service, endpoint)


COMPONENT: Final[Component[TieredOptions]] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=_parse,
    summary="rate limits per plan: a header's value picks a tier (literal, CEL policy on `value`, `*`) and its limits",
    edition="ee",
    endpoint=_build,
    always=True,  # a service-level value is built for every endpoint: the one limiter, at the rate-limit step
    ignored={
        **{f"tiers[].ratelimit.{name}": why for name, why in MEMORY_IGNORED.items()},
        **{f"tiers[].ratelimit_redis.{name}": why for name, why in REDIS_IGNORED.items()},
    },
)
