"""qos/ratelimit/tiered (KrakenD Enterprise): a header picks a plan, the plan's limits apply; at
endpoint or service level; in memory or in Redis; tier headers from guards are trusted, not clients'."""

from __future__ import annotations

from typing import Any

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from tests.components.helpers import json_app
from tests.conftest import make_config
from tests.redis_server import RedisServer

GOLD = "gold-4d2c61e1-34c4-e96c-9456-15bd983c50"
SILVER = "silver-4d2c61e1-34c4-e96c-9456-15bd983c50"
BRONZE = "bronze-4d2c61e1-34c4-e96c-9456-15bd983c50"


def _per_key(rate: int) -> dict[str, Any]:
    return {
        "client_max_rate": rate,
        "client_capacity": rate,
        "every": "1h",
        "strategy": "header",
        "key": "Authorization",
    }


def _api_keys_doc(host: str) -> dict[str, Any]:
    """Corpus 013's shape: API keys propagate the matched role, the tier header of the limit."""
    endpoint = {
        "endpoint": "/test",
        "input_headers": ["Authorization", "X-Krakend-Role"],
        "backend": [{"host": [host], "url_pattern": "/"}],
        "extra_config": {
            "auth/api-keys": {"roles": ["gold", "silver", "bronze"]},
            "qos/ratelimit/tiered": {
                "tier_key": "X-Krakend-Role",
                "tiers": [
                    {"tier_value": "gold", "tier_value_as": "literal", "ratelimit": _per_key(3)},
                    {"tier_value": "value.matches('silver.*')", "tier_value_as": "policy", "ratelimit": _per_key(1)},
                ],
            },
        },
    }
    keys = [
        {"key": GOLD, "roles": ["user", "gold"]},
        {"key": SILVER, "roles": ["user", "silver"]},
        {"key": BRONZE, "roles": ["bronze"]},
    ]
    service = {"auth/api-keys": {"propagate_role": "X-Krakend-Role", "keys": keys}}
    return make_config([endpoint], extra_config=service)


async def test_tiered_plans_from_api_key_roles(backend: Any, gateway: Any) -> None:
    host = await backend(json_app({"ok": True}))
    client = await gateway(_api_keys_doc(host))

    async def statuses(key: str, n: int, claimed: str = "gold") -> list[int]:
        # every client claims the gold tier: the guard's propagated role replaces the claim
        headers = {"Authorization": f"Bearer {key}", "X-Krakend-Role": claimed}
        return [(await client.get("/test", headers=headers)).status for _ in range(n)]

    assert await statuses(GOLD, 4) == [200, 200, 200, 429]
    assert await statuses(SILVER, 2) == [200, 429]
    assert await statuses(BRONZE, 5) == [200] * 5  # matches no tier: not limited by this block
    response = await client.get("/test", headers={"Authorization": f"Bearer {SILVER}"})
    assert response.status == 429 and await response.read() == b""


async def test_tiered_service_and_endpoint_levels(backend: Any, gateway: Any) -> None:
    host = await backend(json_app({"ok": True}))
    headers_on = {"rate_limit_headers": True, "every": "1h"}
    service_tiers = {
        "tier_key": "X-Plan",
        "tiers": [
            {"tier_value": "free", "ratelimit": {"max_rate": 2, "capacity": 2, **headers_on}},
            {"tier_value": "vip"},  # no limits: unlimited
            {"tier_value_as": "*", "ratelimit": {"max_rate": 1, "capacity": 1, **headers_on}},
        ],
    }
    endpoint_tiers = {
        "tier_key": "X-Plan",
        "tiers": [{"tier_value": "free", "ratelimit": {"max_rate": 1, "capacity": 1, **headers_on}}],
    }
    endpoints = [
        {"endpoint": "/a", "backend": [{"host": [host], "url_pattern": "/"}]},
        {
            "endpoint": "/b",
            "backend": [{"host": [host], "url_pattern": "/"}],
            "extra_config": {"qos/ratelimit/tiered": endpoint_tiers},
        },
    ]
    client = await gateway(make_config(endpoints, extra_config={"qos/ratelimit/tiered": service_tiers}))

    async def get(path: str, plan: str | None) -> Any:
        return await client.get(path, headers={"X-Plan": plan} if plan else {})

    assert (await get("/b", "free")).status == 200
    refused = await get("/b", "free")  # the endpoint's free tier (1), after the service's (2, now 0)
    assert refused.status == 503 and refused.headers["RateLimit-Policy"] == '"endpoint";q=1;w=3600'
    refused = await get("/a", "free")  # the service's free tier is shared by every endpoint
    assert refused.status == 503 and refused.headers["RateLimit-Policy"] == '"service";q=2;w=3600'
    assert [(await get(p, "vip")).status for p in ("/a", "/b", "/a")] == [200, 200, 200]
    assert [(await get("/a", None)).status, (await get("/a", "other")).status] == [200, 503]  # '*': one bucket


async def test_tiered_warnings_for_unreachable_and_unmatched_tiers() -> None:
    def doc(tiers: list[dict[str, Any]]) -> dict[str, Any]:
        endpoint = {
            "endpoint": "/a",
            "backend": [{"host": ["http://127.0.0.1:9000"], "url_pattern": "/"}],
            "extra_config": {"qos/ratelimit/tiered": {"tier_key": "X-Plan", "tiers": tiers}},
        }
        return make_config([endpoint])

    limit = {"ratelimit": {"max_rate": 1}}
    gw = await build_gateway(build_service(doc([{"tier_value_as": "*", **limit}, {"tier_value": "x", **limit}])))
    assert gw.resources.warnings == [
        "endpoints[0].extra_config.qos/ratelimit/tiered.tiers[1]: after a '*' tier: never matches"
    ]
    await gw.close()
    gw = await build_gateway(build_service(doc([{"tier_value": "x", **limit}])))
    assert gw.resources.warnings == [
        "endpoints[0].extra_config.qos/ratelimit/tiered: requests whose X-Plan matches no tier are not limited"
        " by it (a last tier with tier_value_as '*' limits them)"
    ]
    await gw.close()


async def test_tiered_redis_tier_is_shared_by_instances(backend: Any, gateway: Any, redis_server: RedisServer) -> None:
    host = await backend(json_app({"ok": True}))
    tiers = {
        "tier_key": "X-Plan",
        "tiers": [
            {
                "tier_value": "free",
                # a 5 s step, not the default 100 ms (a loaded host's first call took 140 ms)
                "ratelimit_redis": {"connection_name": "shared", "max_rate": 2, "capacity": 2, "every": "1h"}
                | {"timeout": "5s"},
            }
        ],
    }
    endpoint = {
        "endpoint": "/a",
        "backend": [{"host": [host], "url_pattern": "/"}],
        "extra_config": {"qos/ratelimit/tiered": tiers},
    }
    pools = {"redis": {"connection_pools": [{"name": "shared", "address": redis_server.address}]}}
    doc = make_config([endpoint], extra_config=pools)
    one, two = await gateway(doc), await gateway(doc)
    free = {"X-Plan": "free"}
    assert [(await c.get("/a", headers=free)).status for c in (one, two, one)] == [200, 200, 503]
    assert (await two.get("/a", headers={"X-Plan": "paid"})).status == 200
    redis_server.kill()
    assert (await one.get("/a", headers=free)).status == 503  # store down: fail closed (EE's default)
