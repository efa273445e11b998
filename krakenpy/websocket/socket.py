"""What the sessions share: the client socket's interface, bounded writes, pings, and the backend
connection's dial with ``max_retries`` / ``backoff_strategy``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import WSMessage

from krakenpy.websocket.backoff import delays
from krakenpy.websocket.options import WebSocketOptions

__all__ = ["ClientSocket", "Dialer", "close_quietly", "close_reason", "deliver", "dial", "pings"]

log = logging.getLogger("krakenpy.websocket")

#: close codes (RFC 6455 §7.4.1)
NORMAL, GOING_AWAY, TOO_BIG, INTERNAL = 1000, 1001, 1009, 1011


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


async def dial(connect: Dialer, options: WebSocketOptions, where: str) -> aiohttp.ClientWebSocketResponse | None:
    """Connect, retrying as ``max_retries`` and ``backoff_strategy`` say; None once they are spent."""
    waits = delays(options.backoff_strategy, options.max_retries)
    while True:
        try:
            async with asyncio.timeout(options.write_wait):
                return await connect()
        except RuntimeError:  # the gateway closed its client session: the end, never retried
            return None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            wait = next(waits, None)
            if wait is None:
                log.error("websocket %s: backend unreachable, retries spent: %s", where, type(exc).__name__)
                return None
            log.warning("websocket %s: backend unreachable (%s): retrying in %.2fs", where, type(exc).__name__, wait)
            await asyncio.sleep(wait)


def close_reason(code: int, text: str) -> tuple[int, bytes]:
    """A close frame's code and reason, kept to what RFC 6455 allows a server to send."""
    if code in (1005, 1006, 1015) or not (1000 <= code < 5000):
        code = NORMAL if code == 1005 else INTERNAL
    return code, text.encode()[:120]
