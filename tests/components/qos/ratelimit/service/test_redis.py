"""qos/ratelimit/service/redis (KrakenD Enterprise): the service limit in Redis, shared by every
endpoint of every instance; pools checked at parse time; Redis down: fail closed or open."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.components.qos.ratelimit.service.redis import COMPONENT
from krakenpy.errors import ConfigError
from tests.components.helpers import json_app
from tests.components.qos.helpers import site_for
from tests.conftest import make_config
from tests.redis_server import RedisServer


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"client_max_rate": 1}, "connection_name", "name a pool"),
        ({"connection_name": "nope", "max_rate": 1}, "connection_name", "no pool named 'nope'"),
        ({"connection_name": "shared", "max_rate": 1, "timeout": "-1s"}, "timeout", "positive"),
    ],
)
def test_redis_parse_errors_have_json_paths(value: dict[str, Any], path: str, message: str) -> None:
    pools = {"redis": {"connection_pools": [{"name": "shared", "address": "127.0.0.1:6379"}]}}
    site = site_for(COMPONENT.namespace, value, level="service", service_extra=pools)
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse(value, site)
    issue = info.value.issues[0]
    assert issue.path == f"extra_config.qos/ratelimit/service/redis.{path}"
    assert message in issue.message


def _doc(host: str, address: str, limit: dict[str, Any]) -> dict[str, Any]:
    endpoints = [
        {"endpoint": path, "backend": [{"host": [host], "url_pattern": "/"}]} for path in ("/a", "/b/{id}", "/c")
    ]
    extra = {
        "redis": {"connection_pools": [{"name": "shared", "address": address}]},
        # a 5 s step, not the default 100 ms: a loaded host's first call (connect, script load) took
        # 140 ms and the healthy store was taken as down; a killed Redis refuses at once all the same
        "qos/ratelimit/service/redis": {"connection_name": "shared", "timeout": "5s", **limit},
    }
    return make_config(endpoints, extra_config=extra)


async def test_redis_two_gateways_share_one_service_limit(
    backend: Any, gateway: Any, redis_server: RedisServer
) -> None:
    host = await backend(json_app({"ok": True}))
    limit = {"client_max_rate": 3, "client_capacity": 3, "every": "1h", "strategy": "header", "key": "X-User"}
    doc = _doc(host, redis_server.address, limit)
    one, two = await gateway(doc), await gateway(doc)  # two instances: their own pools and clients

    async def status(client: Any, path: str, user: str) -> int:
        return (await client.get(path, headers={"X-User": user})).status

    calls = [(one, "/a"), (two, "/b/1"), (one, "/c"), (two, "/a"), (one, "/b/2")]
    assert [await status(c, p, "alice") for c, p in calls] == [200, 200, 200, 429, 429]
    assert await status(two, "/c", "bob") == 200
    redis_server.kill()
    # KrakenD Enterprise's default: a failing store blocks (429: a client limit is set)
    response = await one.get("/a", headers={"X-User": "carol"})
    assert response.status == 429 and await response.read() == b""


async def test_redis_on_failure_allow_lets_requests_through(
    backend: Any, gateway: Any, redis_server: RedisServer
) -> None:
    host = await backend(json_app({"ok": True}))
    doc = _doc(host, redis_server.address, {"max_rate": 1, "capacity": 1, "every": "1h", "on_failure_allow": True})
    client = await gateway(doc)
    assert [(await client.get(p)).status for p in ("/a", "/c")] == [200, 503]
    redis_server.kill()
    assert [(await client.get(p)).status for p in ("/a", "/b/1", "/c")] == [200, 200, 200]
