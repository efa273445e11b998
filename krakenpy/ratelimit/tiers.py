"""KrakenD Enterprise's tiered rate limit (``qos/ratelimit/tiered``): the value of one header
(``tier_key``) picks the first matching tier of an ordered list, and that tier's limits apply.

A tier matches when ``tier_value_as`` is ``literal`` and the header's value equals ``tier_value``
(exactly: case and spaces count), ``*`` (always), or ``policy`` and the CEL expression
``tier_value`` is true with ``value`` bound to the header's value (the CEL standard library:
``value.matches('gold|platinum')``, ``value.startsWith('gold-')``…). A missing header is the value
``""``. A request that matches no tier is not limited by the block (``*`` last is the fallback).

Which tier a value picks depends on the value alone, so it is remembered (up to :data:`CACHE_SIZE`
values of at most :data:`CACHEABLE` characters): after the first request of a plan, the choice is
one dictionary look-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.names import canonical_header
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.ratelimit.options import RedisLimitOptions, RouterLimitOptions, parse_router_limit
from krakenpy.ratelimit.redis_options import parse_redis_limit

__all__ = [
    "CACHE_SIZE",
    "NAMESPACE",
    "Tier",
    "TierSelector",
    "TieredOptions",
    "parse_tiered",
    "tier_policy",
    "tiered_middleware",
]

NAMESPACE: Final = "qos/ratelimit/tiered"
TierKind: TypeAlias = Literal["literal", "policy", "*"]
#: how many header values keep their chosen tier; more distinct values clear the memory
CACHE_SIZE: Final = 1024
#: longer values are matched every time, never remembered
CACHEABLE: Final = 256


@dataclass(frozen=True, slots=True)
class Tier:
    """One item of ``tiers``: how it matches and the limits it applies (none: unlimited)."""

    value: str
    kind: TierKind
    limit: RouterLimitOptions | None = None
    redis: RedisLimitOptions | None = None
    #: the compiled policy (``kind == "policy"``)
    policy: Callable[[str], bool] | None = None

    def matches(self, value: str) -> bool:
        if self.kind == "literal":
            return value == self.value
        if self.kind == "*":
            return True
        return self.policy is not None and self.policy(value)


@dataclass(frozen=True, slots=True)
class TieredOptions:
    """A ``qos/ratelimit/tiered`` value: the tier header (canonical) and the tiers in order."""

    tier_key: str
    tiers: tuple[Tier, ...]


def tier_policy(source: str, path: str, issues: list[ConfigIssue]) -> Callable[[str], bool] | None:
    """The compiled CEL policy of a tier (``value`` bound to the header's value); ``None`` and an issue
    when it does not compile."""
    from krakenpy.cel.engine import CelCheckError, CelSyntaxError, compile_value_predicate  # loads CEL

    try:
        return compile_value_predicate(source)
    except CelSyntaxError as exc:
        issues.append(ConfigIssue(path, f"policy does not parse: {exc}"))
    except CelCheckError as exc:
        issues.append(ConfigIssue(path, f"policy not supported by krakenpy (CEL on `value` only): {exc}"))
    return None


def parse_tiered(raw: Any, at: Callable[..., str], service_extra: Mapping[str, Any]) -> TieredOptions:
    """A tiered value → options; ``at(*keys)`` gives a field's JSON path. Policies are compiled here:
    one that does not compile, and a tier's bad Redis pool, are :class:`ConfigError` s."""
    raw = raw if isinstance(raw, Mapping) else {}
    issues: list[ConfigIssue] = []
    tier_key = str(raw.get("tier_key") or "")
    if not tier_key:
        issues.append(ConfigIssue(at("tier_key"), "name the header holding the tier"))
    tiers: list[Tier] = []
    items = raw.get("tiers")
    for i, item in enumerate(items if isinstance(items, list) else []):
        item = item if isinstance(item, Mapping) else {}
        kind: TierKind = item.get("tier_value_as") or "literal"
        if kind not in ("literal", "policy", "*"):
            issues.append(ConfigIssue(at("tiers", i, "tier_value_as"), "expected literal, policy or *"))
        value = str(item.get("tier_value") or "")
        policy = tier_policy(value, at("tiers", i, "tier_value"), issues) if kind == "policy" else None
        limit = parse_router_limit(item["ratelimit"]) if isinstance(item.get("ratelimit"), Mapping) else None
        redis: RedisLimitOptions | None = None
        if isinstance(item.get("ratelimit_redis"), Mapping):
            where = at("tiers", i, "ratelimit_redis")

            def field(name: str, where: str = where) -> str:
                return f"{where}.{name}"

            try:
                redis = parse_redis_limit(item["ratelimit_redis"], field, service_extra)
            except ConfigError as exc:
                issues.extend(exc.issues)
        tiers.append(Tier(value, kind, limit, redis, policy))
    if issues:
        raise ConfigError(issues)
    return TieredOptions(canonical_header(tier_key), tuple(tiers))


class TierSelector:
    """The index of the first tier a header value matches (-1: none), remembered per value."""

    __slots__ = ("_known", "_tiers")

    def __init__(self, tiers: Sequence[Tier]) -> None:
        self._tiers = tuple(tiers)
        self._known: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        found = self._known.get(value)
        if found is not None:
            return found
        found = next((i for i, tier in enumerate(self._tiers) if tier.matches(value)), -1)
        if len(value) <= CACHEABLE:
            if len(self._known) >= CACHE_SIZE:
                self._known.clear()  # many distinct values (a client making them up): start over
            self._known[value] = found
        return found


def tiered_middleware(options: TieredOptions, limiters: Sequence[Middleware | None]) -> Middleware | None:
    """Each request goes through the limiter of its tier (``limiters[i]`` for ``options.tiers[i]``;
    ``None``: that tier is unlimited); ``None`` when no tier limits anything."""
    if all(limiter is None for limiter in limiters):
        return None
    header = options.tier_key
    select = TierSelector(options.tiers)

    def middleware(next_proxy: Proxy) -> Proxy:
        # one wrapped proxy per tier, built once: the per-request cost is the look-up
        proxies = [limiter(next_proxy) if limiter is not None else next_proxy for limiter in limiters]

        async def tiered(request: Request) -> Response:
            values = request.headers.get(header)
            index = select(values[0] if values else "")
            if index < 0:
                return await next_proxy(request)
            return await proxies[index](request)

        return tiered

    return middleware
