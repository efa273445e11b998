"""What the sessions share: the client socket's interface, bounded writes, pings, and the backend
connection's dial with ``max_retries`` / ``backoff_strategy``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import WSMessage

from krakenpy.websocket.backoff import Backoff
from krakenpy.websocket.options import WebSocketOptions

__all__ = ["ClientSocket", "Dialer", "Throttled", "close_quietly", "close_reason", "deliver", "dial", "pings", "redial"]

log = logging.getLogger("krakenpy.websocket")

#: a throttled warning is logged at most once per this many seconds (and says how many it held back)
_LOG_PERIOD = 10.0

#: close codes (RFC 6455 §7.4.1)
NORMAL, GOING_AWAY, PROTOCOL_ERROR, TOO_BIG, INTERNAL = 1000, 1001, 1002, 1009, 1011


class ClientSocket(Protocol):
    """The client's upgraded connection (aiohttp's ``WebSocketResponse``, or krakenpy's own
    :class:`~krakenpy.server.upgrade.ServerSocket`)."""

    async def receive(self, timeout: float | None = None) -> WSMessage: ...
    async def send_str(self, data: str) -> None: ...
    async def send_bytes(self, data: bytes) -> None: ...
    async def ping(self, message: bytes = b"") -> None: ...
    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool: ...


#: ``dial()``: one attempt at the backend connection
Dialer = Callable[[], Awaitable[aiohttp.ClientWebSocketResponse]]


async def deliver(client: Any, data: str | bytes, write_wait: float) -> bool:
    """Write one message to the client within ``write_wait``; False (and the client closed) when it
    cannot take it in time or is gone."""
    try:
        async with asyncio.timeout(write_wait):
            if isinstance(data, str):
                await client.send_str(data)
            else:
                await client.send_bytes(data)
        return True
    except TimeoutError:
        await close_quietly(client, GOING_AWAY)
        return False
    except (ConnectionError, RuntimeError):
        return False


async def close_quietly(client: Any, code: int, message: bytes = b"") -> None:
    """Close the client, whatever state it is in (bounded: a client that does not read is dropped)."""
    try:
        async with asyncio.timeout(1.0):
            await client.close(code=code, message=message)
    except (TimeoutError, ConnectionError, RuntimeError):
        pass


async def pings(client: Any, period: float) -> None:
    """Ping the client every ``period`` seconds (its pongs keep its reads alive: ``pong_wait``)."""
    while True:
        await asyncio.sleep(period)
        try:
            await client.ping()
        except (ConnectionError, RuntimeError):
            return


class Throttled:
    """A warning logged at most once per ``_LOG_PERIOD``: a flapping backend or a slow client would
    otherwise write one line per event."""

    __slots__ = ("_held", "_last")

    def __init__(self) -> None:
        self._last = -_LOG_PERIOD
        self._held = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last < _LOG_PERIOD:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        if held:
            log.warning(message + " (%d more like it not logged)", *args, held)
        else:
            log.warning(message, *args)


async def dial(
    connect: Dialer,
    options: WebSocketOptions,
    where: str,
    backoff: Backoff | None = None,
    warn: Throttled | None = None,
    wanted: Callable[[], bool] | None = None,
) -> aiohttp.ClientWebSocketResponse | None:
    """Connect, retrying as ``max_retries`` and ``backoff_strategy`` say; None once they are spent.
    ``backoff`` carries the waits over from the connection's previous dials (a redial); ``wanted``
    says whether anyone still waits for the connection (None too when no one does)."""
    if backoff is None:
        backoff = Backoff(options.backoff_strategy, options.max_retries)
    warn = warn or Throttled()
    while True:
        try:
            async with asyncio.timeout(options.write_wait):
                backend = await connect()
            backoff.connected()
            return backend
        except RuntimeError:  # the gateway closed its client session: the end, never retried
            return None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            wait = backoff.next_wait()
            if wait is None:
                log.error("websocket %s: backend unreachable, retries spent: %s", where, type(exc).__name__)
                return None
            warn.warning("websocket %s: backend unreachable (%s): retrying in %.2fs", where, type(exc).__name__, wait)
            await asyncio.sleep(wait)
            if wanted is not None and not wanted():
                return None


async def redial(
    connect: Dialer,
    options: WebSocketOptions,
    where: str,
    backoff: Backoff,
    warn: Throttled,
    wanted: Callable[[], bool] | None = None,
) -> aiohttp.ClientWebSocketResponse | None:
    """Connect again after the connection was lost: the next wait first (a backend that accepts and
    drops at once is not hammered), then :func:`dial`."""
    wait = backoff.next_wait()
    if wait is None:
        log.error("websocket %s: backend connection lost, retries spent", where)
        return None
    warn.warning("websocket %s: backend connection lost: reconnecting in %.2fs", where, wait)
    await asyncio.sleep(wait)
    if wanted is not None and not wanted():
        return None
    return await dial(connect, options, where, backoff, warn, wanted)


def close_reason(code: int, text: str) -> tuple[int, bytes]:
    """A close frame's code and reason, kept to what RFC 6455 allows a server to send."""
    if code in (0, 1005, 1006, 1015) or not (1000 <= code < 5000):
        # 0 is how aiohttp reads a close without a status: that is 1005, which goes on as 1000
        code = NORMAL if code in (0, 1005) else INTERNAL
    return code, text.encode()[:120]
