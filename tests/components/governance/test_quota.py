"""governance/processors + governance/quota (KrakenD Enterprise): tiers from headers, counters in a
real Redis, weights from the backend's answer, exhaustion and its answer, a Redis that dies, the
rejecter cache; bad values fail with JSON paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from krakenpy.components.governance.quota import COMPONENT
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway
from tests.components.helpers import json_app
from tests.components.qos.helpers import site_for
from tests.conftest import make_config
from tests.redis_server import RedisServer
from tests.server.wirekit import gateway_server

# corpus 002's attachment, with small limits
TIERS = [
    {"rule_name": "poweruser", "key": "X-User-Id", "strategy": "header", "tier_value": "moderator"},
    {"rule_name": "basic", "key": "X-User-Id", "strategy": "header", "tier_value_as": "*"},
]


def processors_extra(address: str, **extra: Any) -> dict[str, Any]:
    quota = {
        "name": "llm_tokens",
        "connection_name": "default",
        "rules": [
            {"name": "poweruser", "limits": [{"amount": 10, "unit": "day"}]},
            {"name": "basic", "limits": [{"amount": 3, "unit": "day"}, {"amount": 100, "unit": "month"}]},
        ],
        **extra,
    }
    return {
        "redis": {"connection_pools": [{"name": "default", "address": address}]},
        "governance/processors": {"quotas": [quota]},
    }


def _usage_app() -> web.Application:
    """An LLM-like backend: its answer reports the tokens used (the X-Tokens header of the request)."""

    async def handle(request: web.Request) -> web.Response:
        tokens = request.headers.get("X-Tokens")
        body: dict[str, Any] = {"text": "hi"}
        if tokens is not None:
            body["usage"] = int(tokens) if tokens.isdigit() else tokens
        return web.json_response(body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def quota_doc(host: str, address: str, quota: dict[str, Any], **processor: Any) -> dict[str, Any]:
    endpoint = {
        "endpoint": "/llm",
        "method": "POST",
        "input_headers": ["X-Role", "X-User-Id", "X-Tokens"],
        "backend": [{"host": [host], "url_pattern": "/"}],
        "extra_config": {"governance/quota": quota},
    }
    return make_config([endpoint], extra_config=processors_extra(address, **processor))


def weighted() -> dict[str, Any]:
    return {
        "quota_name": "llm_tokens",
        "tier_key": "X-Role",
        "tiers": TIERS,
        "weight_key": "usage",
        "weight_strategy": "body",
    }


def _parse_error(quota: dict[str, Any], service_extra: dict[str, Any]) -> tuple[str, str]:
    site = site_for(COMPONENT.namespace, quota, service_extra=service_extra)
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(quota, site)
    issue = info.value.issues[0]
    return issue.path, issue.message


def test_quota_parse_unknown_processor_and_rule_have_json_paths() -> None:
    extra = processors_extra("127.0.0.1:6379")
    path, message = _parse_error({**weighted(), "quota_name": "nope"}, extra)
    assert path == "endpoints[0].extra_config.governance/quota.quota_name" and "'nope'" in message
    tiers = [{"rule_name": "gold", "key": "X-User-Id"}]
    path, message = _parse_error({**weighted(), "tiers": tiers}, extra)
    assert path == "endpoints[0].extra_config.governance/quota.tiers[0].rule_name" and "'gold'" in message
    path, message = _parse_error(weighted(), {})
    assert path.endswith("governance/quota.quota_name") and "governance/processors" in message


async def test_quota_weighted_by_the_backends_usage_until_exhausted(
    backend: Any, gateway: Any, redis_server: RedisServer
) -> None:
    host = await backend(_usage_app())
    client = await gateway(quota_doc(host, redis_server.address, weighted()))
    mod = {"X-Role": "moderator", "X-User-Id": "ann@example.com"}
    seen = []
    for tokens in ("4", "4", "4"):  # 4, 8, 12: the third is allowed (8 < 10) and overshoots
        resp = await client.post("/llm", headers={**mod, "X-Tokens": tokens})
        assert resp.status == 200
        seen.append((resp.headers["X-Quota-Limit"], resp.headers["X-Quota-Remaining"]))
    assert seen == [("10", "6"), ("10", "2"), ("10", "0")]
    resp = await client.post("/llm", headers={**mod, "X-Tokens": "1"})
    assert resp.status == 429 and await resp.read() == b""
    assert resp.headers["X-Quota-Limit"] == "10" and resp.headers["X-Quota-Remaining"] == "0"
    assert 1 <= int(resp.headers["Retry-After"]) <= 86_400
    # another user, and the same user in the basic tier (a shared counter: 12 ≥ 3)
    other = await client.post("/llm", headers={"X-Role": "reader", "X-User-Id": "bob", "X-Tokens": "2"})
    assert other.status == 200 and other.headers["X-Quota-Limit"] == "3" and other.headers["X-Quota-Remaining"] == "1"
    assert (await client.post("/llm", headers={**mod, "X-Role": "reader"})).status == 429
    # an answer without a number at weight_key adds nothing
    for value in ("lots", None):
        headers = {"X-Role": "reader", "X-User-Id": "bob"} | ({"X-Tokens": value} if value else {})
        resp = await client.post("/llm", headers=headers)
        assert resp.status == 200 and resp.headers["X-Quota-Remaining"] == "1"


async def test_quota_unmatched_tier_and_missing_caller(backend: Any, gateway: Any, redis_server: RedisServer) -> None:
    host = await backend(_usage_app())
    quota = {"quota_name": "llm_tokens", "tier_key": "X-Role", "tiers": TIERS[:1]}
    client = await gateway(quota_doc(host, redis_server.address, quota))
    assert (await client.post("/llm", headers={"X-Role": "reader", "X-User-Id": "bob"})).status == 400
    assert (await client.post("/llm", headers={"X-Role": "moderator"})).status == 400  # no caller key
    lenient = await gateway(quota_doc(host, redis_server.address, {**quota, "on_unmatched_tier_allow": True}))
    resp = await lenient.post("/llm", headers={"X-Role": "reader", "X-User-Id": "bob"})
    assert resp.status == 200 and "X-Quota-Limit" not in resp.headers  # through, uncounted


async def test_quota_counts_requests_shared_by_instances_and_hashes_keys(
    backend: Any, gateway: Any, redis_server: RedisServer
) -> None:
    from redis.asyncio import Redis

    host = await backend(_usage_app())
    quota = {"quota_name": "llm_tokens", "tier_key": "X-Role", "tiers": TIERS, "disable_quota_headers": True}
    doc = quota_doc(host, redis_server.address, quota, hash_keys=True)
    one, two = await gateway(doc), await gateway(doc)
    bob = {"X-Role": "reader", "X-User-Id": "bob@example.com", "X-Tokens": "50"}  # no weight_key: 1 each
    statuses = [(await c.post("/llm", headers=bob)).status for c in (one, two, one, two)]
    assert statuses == [200, 200, 200, 429]
    last = await one.post("/llm", headers=bob)
    assert last.status == 429 and "X-Quota-Limit" not in last.headers and "Retry-After" not in last.headers
    redis = Redis(host="127.0.0.1", port=redis_server.port)
    try:
        keys = [k.decode() if isinstance(k, bytes) else k for k in await redis.keys("krakenpy:quota:*")]
        assert len(keys) == 2 and all("bob" not in k for k in keys)  # day and month counters, hashed
        assert {k.split(":")[3] for k in keys} == {"day", "month"}
        ttls = [await redis.ttl(k) for k in keys]
        assert all(0 < ttl <= 31 * 86_400 for ttl in ttls)  # each counter expires with its window
    finally:
        await redis.aclose()


@pytest.mark.parametrize("allow", [True, False])
async def test_quota_redis_down_follows_on_failure_allow(
    backend: Any, gateway: Any, redis_server: RedisServer, allow: bool
) -> None:
    host = await backend(json_app({"usage": 1}))
    client = await gateway(quota_doc(host, redis_server.address, weighted(), on_failure_allow=allow))
    ann = {"X-Role": "moderator", "X-User-Id": "ann"}
    assert (await client.post("/llm", headers=ann)).status == 200
    redis_server.kill()
    resp = await client.post("/llm", headers=ann)
    assert resp.status == (200 if allow else 503)
    assert "X-Quota-Remaining" not in resp.headers


async def test_quota_rejecter_cache_refuses_without_redis(
    backend: Any, gateway: Any, redis_server: RedisServer
) -> None:
    host = await backend(json_app({"usage": 6}))
    cache = {"N": 1000, "P": 1e-8, "hash_name": "optimal"}
    client = await gateway(quota_doc(host, redis_server.address, weighted(), rejecter_cache=cache))
    ann = {"X-Role": "moderator", "X-User-Id": "ann"}
    assert [(await client.post("/llm", headers=ann)).status for _ in range(3)] == [200, 200, 429]
    redis_server.kill()  # the used-up caller is refused from the cache; others find Redis down
    resp = await client.post("/llm", headers=ann)
    assert resp.status == 429 and resp.headers["X-Quota-Remaining"] == "0"
    assert (await client.post("/llm", headers={**ann, "X-User-Id": "bob"})).status == 503


async def test_quota_service_level_counts_every_endpoint_once(
    backend: Any, gateway: Any, redis_server: RedisServer
) -> None:
    host = await backend(json_app({"usage": 1000}))
    extra = processors_extra(redis_server.address)
    extra["governance/quota"] = weighted()  # weight_key ignored at service level: 1 per request
    endpoints = [{"endpoint": f"/{name}", "backend": [{"host": [host], "url_pattern": "/"}]} for name in "ab"]
    doc = make_config(endpoints, extra_config=extra)
    client = await gateway(doc)
    bob = {"X-Role": "reader", "X-User-Id": "bob"}
    statuses = [(await client.get(path, headers=bob)).status for path in ("/a", "/b", "/a", "/b")]
    assert statuses == [200, 200, 200, 429]
    gw = await build_gateway(build_service(doc))
    try:
        assert any("weight_key: ignored at service level" in w for w in gw.warnings)
    finally:
        await gw.close()


async def test_quota_decisions_reach_the_audit_trail(backend: Any, redis_server: RedisServer, tmp_path: Path) -> None:
    """Through the audit interface, as the rate limits: an allow (sensitive route), the 429 and the 400."""
    host = await backend(json_app({"usage": 10}))
    audit_file = tmp_path / "audit.log"
    doc = quota_doc(host, redis_server.address, weighted())
    doc["extra_config"]["telemetry/audit"] = {"sink": "file", "path": str(audit_file), "sensitive": True}
    gw = await build_gateway(build_service(doc))
    await gw.start()
    client: TestClient[Any, Any] = TestClient(await gateway_server(gw.edge))
    await client.start_server()
    try:
        ann = {"X-Role": "moderator", "X-User-Id": "ann"}
        statuses = [(await client.post("/llm", headers=h)).status for h in (ann, ann, {"X-Role": "moderator"})]
        assert statuses == [200, 429, 400]
    finally:
        await client.close()
        await gw.close()
    got = [
        (r["decision"], r["policy"]["type"], r["reason"], r["response"]["status"])
        for r in map(orjson.loads, audit_file.read_bytes().splitlines())
    ]
    assert got == [
        ("allow", "governance/quota", "allowed", 200),
        ("deny", "governance/quota", "rate_limited", 429),
        ("deny", "governance/quota", "no_credentials", 400),
    ]
