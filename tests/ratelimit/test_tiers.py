"""Tier matching (KrakenD Enterprise's qos/ratelimit/tiered): literal, CEL policy on `value`, `*`,
first match wins, a missing header is "", the remembered choices stay bounded."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.errors import ConfigError
from krakenpy.ratelimit import tiers as tiers_module
from krakenpy.ratelimit.tiers import CACHE_SIZE, TierSelector, parse_tiered


def _at(*keys: str | int) -> str:
    out = "q"
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else f".{key}"
    return out


def _parse(tiers: list[dict[str, Any]], service_extra: dict[str, Any] | None = None) -> Any:
    return parse_tiered({"tier_key": "x-tier", "tiers": tiers}, _at, service_extra or {})


def test_tiers_first_match_wins_in_order() -> None:
    options = _parse(
        [
            {"tier_value": "gold"},  # literal by default
            {"tier_value": "value.startsWith('gold') || value == 'platinum'", "tier_value_as": "policy"},
            {"tier_value": "", "tier_value_as": "literal"},  # a missing header is the value ""
            {"tier_value_as": "*"},
            {"tier_value": "never", "tier_value_as": "literal"},
        ]
    )
    assert options.tier_key == "X-Tier"
    select = TierSelector(options.tiers)
    assert [select(v) for v in ("gold", "gold-2", "platinum", "", "Gold", "silver")] == [0, 1, 1, 2, 3, 3]
    assert select("never") == 3  # after '*': unreachable


def test_tiers_without_fallback_leave_unmatched_values_alone() -> None:
    select = TierSelector(_parse([{"tier_value": "value.matches('silver.*')", "tier_value_as": "policy"}]).tiers)
    assert [select(v) for v in ("silver", "user,silver", "gold", "")] == [0, 0, -1, -1]


def test_tiers_remembered_choices_are_bounded() -> None:
    calls: list[str] = []
    select = TierSelector(_parse([{"tier_value": "value.size() > 3", "tier_value_as": "policy"}]).tiers)
    real = select._tiers[0].policy
    assert real is not None

    def counted(value: str) -> bool:
        calls.append(value)
        return real(value)

    object.__setattr__(select._tiers[0], "policy", counted)
    assert select("abcd") == 0 and select("abcd") == 0 and calls == ["abcd"]  # evaluated once
    for i in range(CACHE_SIZE + 5):
        select(f"client-made-up-{i}")
    assert len(select._known) <= CACHE_SIZE
    long = "x" * (tiers_module.CACHEABLE + 1)
    select(long)
    assert long not in select._known


@pytest.mark.parametrize(
    ("tier", "path", "message"),
    [
        ({"tier_value": "value ==", "tier_value_as": "policy"}, "q.tiers[0].tier_value", "does not parse"),
        ({"tier_value": "hasHeader('x')", "tier_value_as": "policy"}, "q.tiers[0].tier_value", "not supported"),
        ({"tier_value": "req_headers", "tier_value_as": "policy"}, "q.tiers[0].tier_value", "undeclared"),
        ({"tier_value": "value", "tier_value_as": "policy"}, "q.tiers[0].tier_value", "must give a boolean"),
        ({"tier_value": "value.matches('[')", "tier_value_as": "policy"}, "q.tiers[0].tier_value", "regular"),
        ({"ratelimit_redis": {"connection_name": "nope"}}, "q.tiers[0].ratelimit_redis.connection_name", "no pool"),
    ],
)
def test_tiers_parse_errors_have_json_paths(tier: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse([tier])
    issue = info.value.issues[0]
    assert issue.path == path and message in issue.message


def test_tiers_parse_limits_of_each_kind() -> None:
    pools = {"redis": {"connection_pools": [{"name": "shared", "address": "127.0.0.1:6379"}]}}
    options = _parse(
        [
            {"tier_value": "a", "ratelimit": {"client_max_rate": 10, "every": "10s", "strategy": "ip"}},
            {"tier_value": "b", "ratelimit_redis": {"connection_name": "shared", "max_rate": 5}},
            {"tier_value": "c"},
        ],
        pools,
    )
    a, b, c = options.tiers
    assert a.limit is not None and a.limit.client_max_rate == 1.0 and a.redis is None
    assert b.redis is not None and b.redis.connection_name == "shared" and b.limit is None
    assert c.limit is None and c.redis is None  # a tier without limits: unlimited
