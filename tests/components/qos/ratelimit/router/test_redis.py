"""qos/ratelimit/router/redis: EE's fields, pool references checked, two instances share one limit."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.components.qos.ratelimit.router.redis import COMPONENT
from krakenpy.errors import ConfigError, Rejection
from krakenpy.proxy.types import Request
from krakenpy.redis_pools import REDIS_CLIENTS
from tests.components.qos.helpers import resources_for, site_for
from tests.doubles import static_proxy
from tests.redis_server import RedisServer


def _pools(address: str = "127.0.0.1:6379") -> dict[str, Any]:
    return {
        "redis": {
            "connection_pools": [{"name": "shared", "address": address, "password": "s3cret"}],
            "clusters": [{"name": "big", "addresses": ["127.0.0.1:7000"]}],
        }
    }


def _site(value: dict[str, Any], address: str = "127.0.0.1:6379") -> Any:
    return site_for(COMPONENT.namespace, value, service_extra=_pools(address))


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"client_max_rate": 1}, "connection_name", "name a pool"),
        ({"connection_name": "nope", "max_rate": 1}, "connection_name", "no pool named 'nope'"),
        ({"connection_pool": "big", "max_rate": 1}, "connection_pool", "Redis Cluster"),
        ({"connection_name": "shared", "max_rate": 1, "timeout": "0s"}, "timeout", "positive"),
    ],
)
def test_redis_parse_errors_have_json_paths(value: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(value, _site(value))
    issue = info.value.issues[0]
    assert issue.path == f"endpoints[0].extra_config.qos/ratelimit/router/redis.{path}"
    assert message in issue.message


def test_redis_parse_ee_fields_and_deprecated_pool_name() -> None:
    value = {"connection_pool": "shared", "client_max_rate": 10, "every": "1m", "strategy": "jwt", "key": "sub"}
    options = COMPONENT.parse(value, _site(value))
    assert options.connection_name == "shared" and not options.on_failure_allow
    assert options.timeout == 0.1 and options.limit.strategy == "jwt"


def _request(user: str) -> Request:
    return Request(method="GET", path="/x", params={}, headers={"X-User": [user]}, query={})


async def test_redis_two_instances_share_the_limit_then_redis_dies(redis_server: RedisServer) -> None:
    value = {
        "connection_name": "shared",
        "client_max_rate": 3,
        "client_capacity": 3,
        "every": "1h",
        "strategy": "header",
        "key": "X-User",
    }
    pools = {"redis": {"connection_pools": [{"name": "shared", "address": redis_server.address}]}}
    site = site_for(COMPONENT.namespace, value, service_extra=pools)
    instances = []
    for _ in range(2):  # two gateways: their own resources, pools and clients
        resources = resources_for(site)
        assert COMPONENT.endpoint is not None
        mw = await COMPONENT.endpoint(COMPONENT.parse(value, site), site, resources)
        assert mw is not None
        instances.append((mw(static_proxy({})), resources))
    try:
        statuses = []
        for i in range(5):
            proxy = instances[i % 2][0]
            try:
                await proxy(_request("alice"))
                statuses.append(200)
            except Rejection as exc:
                statuses.append(exc.status)
        assert statuses == [200, 200, 200, 429, 429]
        assert len(instances[0][1].state[REDIS_CLIENTS]) == 1
        redis_server.kill()
        with pytest.raises(Rejection) as info:
            await instances[0][0](_request("bob"))  # a fresh client, but no store to ask: blocked
        assert info.value.status == 429 and info.value.detail == "rate limit store unavailable"
    finally:
        for _, resources in instances:
            await resources.stack.aclose()
