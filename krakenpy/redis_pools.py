"""The root ``redis`` namespace (KrakenD Enterprise's shape): named connection pools that components
(the cluster-wide rate limit) refer to by ``connection_name``.

One ``redis.asyncio`` client per pool and gateway, created when a component first asks for it and
closed with the gateway. Pools accept EE's fields; krakenpy uses ``address``, ``db``, ``user_name``,
``password``, ``client_name``, ``dial_timeout``, ``pool_size`` (connections, and commands at once:
further ones queue, first come first served), ``max_retries`` and ``tls`` (on, with the system's
CAs); the others are accepted and have no effect (waiting for a connection is bounded by the rate
limit's own ``timeout``, not by ``pool_timeout``). Redis Cluster
(``clusters``) is not supported: a limit that names a cluster is a configuration error.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigIssue
from krakenpy.resources import Resources
from krakenpy.server import saidonce
from krakenpy.state import Key

if TYPE_CHECKING:  # redis is imported when a pool is opened: configs without one never load it
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["REDIS_CLIENTS", "PoolOptions", "RedisPool", "parse_pools", "redis_client"]

NAMESPACE = "redis"
#: the clients of this gateway, by pool name
REDIS_CLIENTS: Final = Key("redis clients by pool name", dict)

log = logging.getLogger("krakenpy.redis")


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """One ``connection_pools`` item."""

    name: str
    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None
    client_name: str | None = None
    dial_timeout: float = 5.0
    pool_size: int = 10
    max_retries: int = 3
    tls: bool = False

    def __repr__(self) -> str:  # the password never reaches a log line
        return f"PoolOptions(name={self.name!r}, address={self.host}:{self.port}, db={self.db})"


def _seconds(raw: Mapping[str, Any], key: str, default: float) -> float:
    if key not in raw:
        return default
    try:
        value = parse_duration(raw[key])
    except ValueError:
        return default
    return value if value > 0 else default


def _int(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return int(value)


def _address(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep:
        return (text, 6379) if text else None
    host = host.strip("[]")
    return (host, int(port)) if host and port.isdigit() else None


def parse_pools(raw: Any, path: str) -> tuple[dict[str, PoolOptions], list[ConfigIssue]]:
    """The pools of a ``redis`` value, by name, and the problems found (JSON paths under ``path``)."""
    pools: dict[str, PoolOptions] = {}
    issues: list[ConfigIssue] = []
    items = raw.get("connection_pools") if isinstance(raw, Mapping) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        where = f"{path}.connection_pools[{i}]"
        if not isinstance(item, Mapping):
            continue
        name = item.get("name")
        address = _address(str(item.get("address", "")))
        if not isinstance(name, str) or not name:
            issues.append(ConfigIssue(f"{where}.name", "a pool needs a name"))
            continue
        if name in pools:
            issues.append(ConfigIssue(f"{where}.name", f"pool name {name!r} is used twice"))
            continue
        if address is None:
            issues.append(ConfigIssue(f"{where}.address", "expected host:port"))
            continue
        pool_size = _int(item, "pool_size", 10)
        pools[name] = PoolOptions(
            name=name,
            host=address[0],
            port=address[1],
            db=_int(item, "db", 0),
            username=item.get("user_name") or None,
            password=item.get("password") or None,
            client_name=item.get("client_name") or None,
            dial_timeout=_seconds(item, "dial_timeout", 5.0),
            pool_size=pool_size if pool_size > 0 else 10,
            max_retries=max(_int(item, "max_retries", 3), 0),
            tls=isinstance(item.get("tls"), Mapping),
        )
    return pools, issues


def cluster_names(raw: Any) -> set[str]:
    """Names of the ``clusters`` items (not supported by krakenpy)."""
    items = raw.get("clusters") if isinstance(raw, Mapping) else None
    return {c["name"] for c in items or [] if isinstance(c, Mapping) and isinstance(c.get("name"), str)}


@dataclass(frozen=True, slots=True)
class RedisPool:
    """One pool of a gateway: the client, and ``slots`` (``pool_size`` commands at once, first come
    first served: redis-py's blocking pool can starve a waiter for seconds under contention)."""

    client: Redis
    slots: asyncio.Semaphore
    #: the Lua scripts registered through :meth:`script`, loaded into Redis when the gateway serves
    scripts: list[str] = field(default_factory=list)

    def script(self, text: str) -> AsyncScript:
        """``text`` as a callable script (``EVALSHA``, loaded on ``NOSCRIPT``), also loaded by
        :func:`warm_up` before the first request needs it."""
        self.scripts.append(text)
        return self.client.register_script(text)


async def warm_up(pool: RedisPool, options: PoolOptions) -> None:
    """Open one connection and load the registered scripts, once, when the gateway starts serving.

    Without it the first request of each worker paid the connect and, after ``NOSCRIPT``, the
    script's load inside its own bounded step (a rate limit's ``timeout`` is 100 ms by default): on a
    busy host that first step could time out and declare Redis down for a second, refusing traffic
    while Redis was fine. Best effort: a Redis that is down is logged once here and found out per
    request as before (the components' own timeouts and cool-down)."""
    from redis.exceptions import RedisError

    try:
        async with asyncio.timeout(options.dial_timeout + 1.0), pool.slots:
            await pool.client.ping()
            for text in pool.scripts:
                await pool.client.script_load(text)
    except (RedisError, OSError, TimeoutError) as exc:
        name = type(exc).__name__
        saidonce.say(  # once per gateway with run -w N: every worker pings it
            log,
            logging.WARNING,
            "redis pool %s (%s:%d): not reachable at start-up (%s)",
            options.name,
            options.host,
            options.port,
            name,
            topic=f"redis {options.name}",
        )


def redis_client(pool: PoolOptions, resources: Resources) -> RedisPool:
    """The gateway's client for ``pool``, created once and closed with the gateway."""
    clients: dict[str, RedisPool] = resources.state.setdefault(REDIS_CLIENTS, dict)
    found = clients.get(pool.name)
    if found is None:
        from redis.asyncio import ConnectionPool, Redis
        from redis.asyncio.connection import Connection, SSLConnection
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        connections = ConnectionPool(
            host=pool.host,
            port=pool.port,
            db=pool.db,
            username=pool.username,
            password=pool.password,
            client_name=pool.client_name,
            socket_connect_timeout=pool.dial_timeout,
            max_connections=pool.pool_size,
            retry=Retry(NoBackoff(), pool.max_retries),
            connection_class=SSLConnection if pool.tls else Connection,
        )
        client = Redis(connection_pool=connections)
        found = clients[pool.name] = RedisPool(client, asyncio.Semaphore(pool.pool_size))
        resources.stack.push_async_callback(client.aclose, close_connection_pool=True)
        if resources.serving:
            resources.on_serve.append(lambda: _start_warm_up(found, pool, resources))
    return found


async def _start_warm_up(pool: RedisPool, options: PoolOptions, resources: Resources) -> None:
    # in the background: serving never waits for a Redis that is slow to answer (or down); cancelled
    # at close, before the client closes (the stack unwinds in reverse)
    task = asyncio.get_running_loop().create_task(warm_up(pool, options))
    resources.stack.callback(task.cancel)
