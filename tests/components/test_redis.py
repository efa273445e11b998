"""redis (root, KrakenD Enterprise): named pools, checked with JSON paths, the password kept private,
warmed (a connection, the scripts) when the gateway serves."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

import pytest

from krakenpy.components.redis import COMPONENT as POOLS
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway
from krakenpy.ratelimit.cluster import SCRIPT as RATE_SCRIPT
from tests.components.qos.helpers import site_for
from tests.conftest import make_config
from tests.redis_server import RedisServer
from tests.redis_server import redis_server as redis_server

RAW = {"connection_pools": [{"name": "shared", "address": "127.0.0.1:6379", "password": "s3cret", "db": 2}]}


def test_redis_pools_parse_and_password_never_printed() -> None:
    site = site_for("redis", RAW, level="service")
    pools = POOLS.parse(RAW, site)
    assert (pools["shared"].host, pools["shared"].port) == ("127.0.0.1", 6379)
    assert "s3cret" not in repr(pools["shared"])
    with pytest.raises(ConfigError) as info:
        POOLS.parse({"connection_pools": [{"name": "a", "address": "h:x"}]}, site)
    assert info.value.issues[0].path == "extra_config.redis.connection_pools[0].address"


def test_redis_pool_names_must_be_unique() -> None:
    site = site_for("redis", RAW, level="service")
    pools = [{"name": "a", "address": "h:1"}, {"name": "a", "address": "h:2"}]
    with pytest.raises(ConfigError) as info:
        POOLS.parse({"connection_pools": pools}, site)
    assert info.value.issues[0].path == "extra_config.redis.connection_pools[1].name"


def _limited(address: str) -> dict[str, Any]:
    limit = {"connection_name": "shared", "client_max_rate": 3, "every": "1h", "strategy": "header", "key": "X-User"}
    endpoint = {
        "endpoint": "/x",
        "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}],
        "extra_config": {"qos/ratelimit/router/redis": limit},
    }
    return make_config(
        [endpoint], extra_config={"redis": {"connection_pools": [{"name": "shared", "address": address}]}}
    )


async def test_redis_pool_loads_its_scripts_when_the_gateway_serves(redis_server: RedisServer) -> None:
    """The rate limit's script is in Redis (and a connection open) once the gateway serves, before
    any request: a first request no longer pays the connect and the load inside its 100 ms step."""
    from redis.asyncio import Redis

    host, port = redis_server.address.split(":")
    probe = Redis(host=host, port=int(port))
    sha = hashlib.sha1(RATE_SCRIPT.encode()).hexdigest()
    gw = await build_gateway(build_service(_limited(redis_server.address)))
    try:
        assert await probe.script_exists(sha) == [False]  # building loads nothing (check builds too)
        await gw.start()
        # polled up to 10 s (200 polls of 10 ms could end before the warm-up on a loaded host)
        deadline = time.monotonic() + 10
        while not (await probe.script_exists(sha))[0] and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await probe.script_exists(sha) == [True]
    finally:
        await gw.close()
        await probe.aclose()


async def test_redis_pool_silent_at_start_is_logged_and_serving_does_not_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Redis that accepts and never answers: a warm-up in the foreground would hold the start until
    its bound (``dial_timeout`` + 1 s) and log before it returns. A refused port proves nothing here
    (a refused connect fails at once either way)."""
    accepted = asyncio.Event()
    peers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)
        accepted.set()
        await reader.read()  # reads the PING, answers nothing, until the client gives up

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    config = _limited(address)
    config["extra_config"]["redis"]["connection_pools"][0]["dial_timeout"] = "2s"
    gw = await build_gateway(build_service(config))

    def warned() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "not reachable at start-up" in r.getMessage()]

    try:
        await gw.start()
        # started, and the warm-up has not given up yet: it was not waited for
        assert warned() == []
        await asyncio.wait_for(accepted.wait(), 10)  # ... and it does run: its connection arrives
        deadline = time.monotonic() + 15  # its bound is 3 s; polled up to 15 s, however loaded the host
        while not warned() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        [record] = warned()
        # timed out on a connection that never answered (refused would say ConnectionError)
        assert record.levelname == "WARNING" and address in record.getMessage()
        assert "(TimeoutError)" in record.getMessage()
    finally:
        await gw.close()
        for peer in peers:
            peer.close()
        server.close()
        await server.wait_closed()
