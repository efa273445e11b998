"""The Redis token bucket: the same decisions as KrakenD's in-memory bucket, shared by instances,
and an explicit answer when Redis is down or slow."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from krakenpy.errors import Rejection
from krakenpy.proxy.types import Proxy, Request
from krakenpy.ratelimit.cluster import COOLDOWN, redis_limit_middleware
from krakenpy.ratelimit.keys import key_extractor
from krakenpy.ratelimit.options import RedisLimitOptions, parse_router_limit
from krakenpy.redis_pools import RedisPool
from tests.doubles import static_proxy
from tests.redis_server import RedisServer


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    # no retries with backoff, as the gateway's pools (krakenpy.redis_pools): a stopped Redis fails the
    # call at once, not after the limiter's step (10 s here, see _limiter)
    client = Redis(host="127.0.0.1", port=redis_server.port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    yield client
    await client.aclose()


def _limiter(
    client: Redis,
    raw: dict[str, object],
    *,
    allow: bool = False,
    # 0.5 s, then 2 s, met a stall of the whole-suite process on a loaded host (a healthy Redis taken as
    # "down": the refill test's third call was refused for the 1 s cool-down); a stopped Redis refuses
    # at once and the slow-Redis test sets its own
    timeout: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> Proxy:
    limit = parse_router_limit(raw)
    options = RedisLimitOptions(limit=limit, connection_name="p", on_failure_allow=allow, timeout=timeout)
    pool = RedisPool(client, asyncio.Semaphore(10))
    extract = key_extractor(limit.strategy, limit.key)
    mw = redis_limit_middleware(options, extract, pool, prefix="t:/x", clock=clock)
    assert mw is not None
    return mw(static_proxy({"ok": True}))


def _request(user: str = "a") -> Request:
    return Request(method="GET", path="/x", params={}, headers={"X-User": [user]}, query={}, client_ip="192.0.2.1")


async def _statuses(proxy: Proxy, n: int, user: str = "a") -> list[int]:
    out = []
    for _ in range(n):
        try:
            await proxy(_request(user))
            out.append(200)
        except Rejection as exc:
            out.append(exc.status)
    return out


async def test_cluster_client_then_global_like_memory(redis: Redis) -> None:
    raw = {
        "max_rate": 3,
        "capacity": 3,
        "client_max_rate": 2,
        "client_capacity": 2,
        "strategy": "header",
        "key": "X-User",
        "every": "1h",
    }
    proxy = _limiter(redis, raw)
    assert await _statuses(proxy, 3, "a") == [200, 200, 429]  # the 429 did not take a global token
    assert await _statuses(proxy, 2, "b") == [200, 503]


async def test_cluster_two_instances_share_one_limit(redis: Redis, redis_server: RedisServer) -> None:
    other = Redis(host="127.0.0.1", port=redis_server.port)
    try:
        raw = {"client_max_rate": 4, "client_capacity": 4, "strategy": "header", "key": "X-User", "every": "1h"}
        one, two = _limiter(redis, raw), _limiter(other, raw)
        results = await _statuses(one, 2) + await _statuses(two, 2) + await _statuses(one, 1) + await _statuses(two, 1)
        assert results == [200, 200, 200, 200, 429, 429]
    finally:
        await other.aclose()


async def test_cluster_refill_and_retry_after(redis: Redis) -> None:
    # one token every 10 s: nothing refills between two calls, however slow the machine
    raw = {"max_rate": 1, "capacity": 1, "every": "10s", "rate_limit_headers": True}
    proxy = _limiter(redis, raw)
    started = time.monotonic()
    assert await _statuses(proxy, 2) == [200, 503]
    with pytest.raises(Rejection) as info:
        await proxy(_request())
    passed = time.monotonic() - started
    # the seconds to the next token, rounded up: 10 less the time since the token was taken (10 unless
    # the host stalled for a second, as a loaded one did)
    assert math.ceil(10 - passed) <= int(dict(info.value.headers)["Retry-After"]) <= 10
    # ten seconds pass, on the bucket's clock: its last refill moves back (the script runs on Redis'
    # own clock, which the test cannot advance)
    last = float(await redis.hget("t:/x:g", "r"))
    await redis.hset("t:/x:g", "r", f"{last - 10_000_000:.3f}")
    assert await _statuses(proxy, 2) == [200, 503]  # one token came back, not more


async def test_cluster_long_client_names_are_hashed(redis: Redis) -> None:
    raw = {"client_max_rate": 1, "client_capacity": 1, "strategy": "header", "key": "X-User", "every": "1h"}
    proxy = _limiter(redis, raw)
    assert await _statuses(proxy, 2, "u" * 10_000) == [200, 429]
    keys = [k for k in await redis.keys("t:/x:c:*")]
    assert len(keys) == 1 and len(keys[0]) < 100


async def test_cluster_idle_buckets_expire_in_redis(redis: Redis) -> None:
    proxy = _limiter(redis, {"client_max_rate": 1, "strategy": "header", "key": "X-User"})
    await _statuses(proxy, 1)
    ttl = await redis.pttl("t:/x:c:a")
    assert 0 < ttl <= 600_000


async def test_cluster_redis_down_fails_closed_then_open(redis: Redis, redis_server: RedisServer) -> None:
    raw = {"client_max_rate": 100, "strategy": "header", "key": "X-User"}
    closed, open_ = _limiter(redis, raw), _limiter(redis, raw, allow=True)
    assert await _statuses(closed, 1) == [200]
    redis_server.kill()
    assert await _statuses(closed, 2) == [429, 429]  # blocked, as KrakenD Enterprise by default
    assert await _statuses(open_, 2) == [200, 200]  # on_failure_allow


class SilentRedis:
    """A "Redis" on 127.0.0.1 that accepts connections, reads what it is sent and never answers."""

    def __init__(self) -> None:
        self.connections = 0
        self.received = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while chunk := await reader.read(65536):
                self.received += len(chunk)
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in self.writers:
                writer.close()
            await self.server.wait_closed()


async def test_cluster_slow_redis_is_bounded_by_timeout() -> None:
    silent = SilentRedis()
    await silent.start()
    client = Redis(host="127.0.0.1", port=silent.port)
    now = [100.0]  # the limiter's clock for the cooldown, moved by hand
    try:
        proxy = _limiter(client, {"max_rate": 10}, timeout=0.2, clock=lambda: now[0])
        async with asyncio.timeout(10):  # Redis never answers: only the limiter's timeout ends the call
            assert await _statuses(proxy, 1) == [503]
        assert silent.connections == 1 and silent.received > 0
        seen = (silent.connections, silent.received)
        assert await _statuses(proxy, 5) == [503] * 5  # cooldown: not even tried
        assert (silent.connections, silent.received) == seen
        now[0] += COOLDOWN  # the cooldown is over: Redis is asked again (and times out again)
        async with asyncio.timeout(10):
            assert await _statuses(proxy, 1) == [503]
        assert (silent.connections, silent.received) != seen
    finally:
        await client.aclose()
        await silent.close()
