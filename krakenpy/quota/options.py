"""The quota namespaces' options: ``governance/processors`` (service) and ``governance/quota``
(service, endpoint). The JSON Schemas own the types; these functions check what crosses fields and
namespaces: the Redis pool a processor names, the processor and rule an attachment names."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.jose.bloomhash import HASH_NAMES
from krakenpy.names import canonical_header
from krakenpy.quota.windows import UNITS
from krakenpy.ratelimit.keys import KeyExtractor, key_extractor
from krakenpy.ratelimit.tiers import Tier, TierKind, tier_policy
from krakenpy.redis_pools import cluster_names, parse_pools

__all__ = [
    "PROCESSORS",
    "QUOTA",
    "Limit",
    "ProcessorOptions",
    "QuotaOptions",
    "QuotaTier",
    "parse_processors",
    "parse_quota",
]

PROCESSORS: Final = "governance/processors"
QUOTA: Final = "governance/quota"
WeightStrategy: TypeAlias = Literal["body", "header"]


@dataclass(frozen=True, slots=True)
class Limit:
    """``amount`` units of weight per calendar ``unit``."""

    amount: int
    unit: str


@dataclass(frozen=True, slots=True)
class ProcessorOptions:
    """One ``quotas`` item: its counters' pool and its rules (rule name → limits)."""

    name: str
    connection_name: str
    rules: Mapping[str, tuple[Limit, ...]]
    hash_keys: bool = False
    on_failure_allow: bool = False
    #: ``rejecter_cache`` ``(N, P, hash_name)``; ``None``: every check asks Redis
    rejecter: tuple[int, float, str] | None = None


@dataclass(frozen=True, slots=True)
class QuotaTier:
    """One ``tiers`` item: how it matches, who the caller is, and the rule's limits."""

    tier: Tier
    rule_name: str
    limits: tuple[Limit, ...]
    #: the caller's key for one request ("" when it has none)
    extract: KeyExtractor
    #: the header the caller's key is read from ("" for another strategy): a credential header's
    #: values are hashed into the counters' names (:meth:`Processor.step`)
    header: str = ""


@dataclass(frozen=True, slots=True)
class QuotaOptions:
    """A ``governance/quota`` value, resolved against its processor."""

    processor: ProcessorOptions
    tier_key: str
    tiers: tuple[QuotaTier, ...]
    weight_key: str = ""
    weight_strategy: WeightStrategy = "body"
    disable_quota_headers: bool = False
    on_unmatched_tier_allow: bool = False


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _limits(raw: Any, at: Callable[..., str], issues: list[ConfigIssue]) -> tuple[Limit, ...]:
    limits: list[Limit] = []
    for j, item in enumerate(raw if isinstance(raw, list) else []):
        item = item if isinstance(item, Mapping) else {}
        amount = _number(item.get("amount"))
        unit = item.get("unit")
        if amount is None or amount < 0:
            issues.append(ConfigIssue(at("limits", j, "amount"), "expected a number ≥ 0"))
        elif unit not in UNITS:
            issues.append(ConfigIssue(at("limits", j, "unit"), f"expected one of {', '.join(UNITS)}"))
        elif any(limit.unit == unit for limit in limits):
            # one counter per unit and caller: a second limit would add every weight to it twice
            issues.append(ConfigIssue(at("limits", j, "unit"), f"a second limit per {unit}: keep the smaller one"))
        else:
            limits.append(Limit(int(amount), str(unit)))
    return tuple(limits)


def parse_processors(raw: Any, path: str, service_extra: Mapping[str, Any]) -> dict[str, ProcessorOptions]:
    """A ``governance/processors`` value (at ``path``) → processors by name; raises
    :class:`ConfigError` for duplicate names and rules, and pools missing from the ``redis`` namespace."""
    found, issues = _processors(raw, path, service_extra)
    if issues:
        raise ConfigError(issues)
    return found


def _processors(
    raw: Any, path: str, service_extra: Mapping[str, Any]
) -> tuple[dict[str, ProcessorOptions], list[ConfigIssue]]:
    raw = raw if isinstance(raw, Mapping) else {}
    issues: list[ConfigIssue] = []
    found: dict[str, ProcessorOptions] = {}
    root = service_extra.get("redis")
    pools, pool_issues = parse_pools(root, "extra_config.redis")
    items = raw.get("quotas")
    for i, item in enumerate(items if isinstance(items, list) else []):
        item = item if isinstance(item, Mapping) else {}
        where = f"{path}.quotas[{i}]"
        name = item.get("name")
        if not isinstance(name, str) or not name:
            issues.append(ConfigIssue(f"{where}.name", "a quota processor needs a name"))
            continue
        if name in found:
            issues.append(ConfigIssue(f"{where}.name", f"quota name {name!r} is used twice"))
        pool = item.get("connection_name")
        if not isinstance(pool, str) or not pool:
            issues.append(ConfigIssue(f"{where}.connection_name", "name a pool of the root redis namespace"))
        elif pool in cluster_names(root) and pool not in pools:
            issues.append(ConfigIssue(f"{where}.connection_name", f"{pool!r} is a Redis Cluster: not supported"))
        elif pool not in pools:
            issues.extend(pool_issues)
            issues.append(ConfigIssue(f"{where}.connection_name", f"no pool named {pool!r} in extra_config.redis"))
        rules: dict[str, tuple[Limit, ...]] = {}
        declared_rules = item.get("rules")
        for j, rule in enumerate(declared_rules if isinstance(declared_rules, list) else []):
            rule = rule if isinstance(rule, Mapping) else {}
            rule_name = str(rule.get("name") or "")

            def at(*keys: str | int, base: str = f"{where}.rules[{j}]") -> str:
                return base + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)

            if not rule_name:
                issues.append(ConfigIssue(at("name"), "a rule needs a name"))
            elif rule_name in rules:
                issues.append(ConfigIssue(at("name"), f"rule name {rule_name!r} is used twice"))
            rules[rule_name] = _limits(rule.get("limits"), at, issues)
        cache = item.get("rejecter_cache")
        rejecter: tuple[int, float, str] | None = None
        if isinstance(cache, Mapping):
            n, p = _number(cache.get("N")), _number(cache.get("P"))
            hash_name = cache.get("hash_name") or "optimal"
            if n is None or n < 1:
                issues.append(ConfigIssue(f"{where}.rejecter_cache.N", "expected a number of elements ≥ 1"))
            elif p is None or not 0 < p < 1:
                issues.append(ConfigIssue(f"{where}.rejecter_cache.P", "expected a probability between 0 and 1"))
            elif hash_name not in HASH_NAMES:
                issues.append(ConfigIssue(f"{where}.rejecter_cache.hash_name", "expected optimal or default"))
            else:
                rejecter = (int(n), p, str(hash_name))
        found[name] = ProcessorOptions(
            name=name,
            connection_name=str(pool),
            rules=rules,
            hash_keys=item.get("hash_keys") is True,
            on_failure_allow=item.get("on_failure_allow") is True,
            rejecter=rejecter,
        )
    return found, issues


def parse_quota(raw: Any, at: Callable[..., str], service_extra: Mapping[str, Any]) -> QuotaOptions:
    """A ``governance/quota`` value → options, its processor and rules resolved; ``at(*keys)`` gives
    a field's JSON path. Unknown processors and rules, and policies that do not compile, are errors."""
    raw = raw if isinstance(raw, Mapping) else {}
    issues: list[ConfigIssue] = []
    quota_name = str(raw.get("quota_name") or "")
    processors: dict[str, ProcessorOptions] = {}
    declared = service_extra.get(PROCESSORS)
    if declared is None:
        issues.append(ConfigIssue(at("quota_name"), f"no {PROCESSORS} at service level declares {quota_name!r}"))
    else:  # the processors' own problems are reported at their path, by their component
        processors, _ = _processors(declared, f"extra_config.{PROCESSORS}", service_extra)
    processor = processors.get(quota_name)
    if declared is not None and processor is None and (processors or quota_name):
        issues.append(ConfigIssue(at("quota_name"), f"no quota processor named {quota_name!r}"))
    tier_key = str(raw.get("tier_key") or "")
    if not tier_key:
        issues.append(ConfigIssue(at("tier_key"), "name the header holding the tier"))
    tiers: list[QuotaTier] = []
    items = raw.get("tiers")
    for i, item in enumerate(items if isinstance(items, list) else []):
        item = item if isinstance(item, Mapping) else {}
        kind: TierKind = item.get("tier_value_as") or "literal"
        value = str(item.get("tier_value") or "")
        policy = tier_policy(value, at("tiers", i, "tier_value"), issues) if kind == "policy" else None
        rule_name = str(item.get("rule_name") or "")
        limits: tuple[Limit, ...] = ()
        if processor is not None:
            if rule_name not in processor.rules:
                issues.append(
                    ConfigIssue(at("tiers", i, "rule_name"), f"no rule {rule_name!r} in quota {quota_name!r}")
                )
            else:
                limits = processor.rules[rule_name]
        strategy = str(item.get("strategy") or "header").lower()
        key = str(item.get("key") or "")
        extract = key_extractor(strategy, key) if strategy in ("header", "ip", "param") else None
        if extract is None:
            issues.append(ConfigIssue(at("tiers", i, "strategy"), "expected header, ip or param"))
            continue
        if strategy in ("header", "param") and not key:
            issues.append(ConfigIssue(at("tiers", i, "key"), f"name the {strategy} identifying the caller"))
        header = key if strategy == "header" else ""
        tiers.append(QuotaTier(Tier(value, kind, policy=policy), rule_name, limits, extract, header))
    strategy_raw = raw.get("weight_strategy") or "body"
    if issues or processor is None:
        raise ConfigError(issues or [ConfigIssue(at("quota_name"), "no quota processor")])
    return QuotaOptions(
        processor=processor,
        tier_key=canonical_header(tier_key),
        tiers=tuple(tiers),
        weight_key=str(raw.get("weight_key") or ""),
        weight_strategy="header" if strategy_raw == "header" else "body",
        disable_quota_headers=raw.get("disable_quota_headers") is True,
        on_unmatched_tier_allow=raw.get("on_unmatched_tier_allow") is True,
    )
