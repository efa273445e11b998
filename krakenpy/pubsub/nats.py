"""``nats://subject[?queue=group]`` (gocloud's natspubsub): NATS core publish/subscribe through
``nats-py``, the server from ``NATS_SERVER_URL`` as in KrakenD.

Metadata travels as NATS headers (servers since 2.2). NATS core has no acknowledgement: a message is
used once received. Messages arriving while no request waits are kept in the subscription's queue
(up to ``_PENDING`` of them; older ones are dropped with a warning, as a slow NATS consumer's).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any, Final

from krakenpy.errors import BackendError
from krakenpy.pubsub.driver import Message
from krakenpy.pubsub.urls import DriverURL

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

__all__ = ["NatsConnection", "NatsSubscription", "NatsTopic", "server_url"]

log = logging.getLogger("krakenpy.pubsub")
_PENDING: Final = 65_536
_CONNECT: Final = 2.0
ENV: Final = "NATS_SERVER_URL"


def server_url() -> str | None:
    """The server gocloud connects to; ``None`` when the variable is unset."""
    return os.environ.get(ENV) or None


class NatsConnection:
    """One connection per gateway, opened on first use and opened again after it failed."""

    def __init__(self) -> None:
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        found = self._client
        if found is not None and found.is_connected:
            return found
        async with self._lock:
            if self._client is not None and not self._client.is_closed:
                if self._client.is_connected:
                    return self._client
                raise BackendError("nats: not connected (reconnecting)")
            url = server_url()
            if url is None:
                raise BackendError(f"nats: {ENV} is not set")
            import nats

            try:
                # reconnects forever once connected; nats-py would also retry the first connection
                # forever (max_reconnect_attempts=-1), so that one is cut after _CONNECT seconds
                self._client = await asyncio.wait_for(
                    nats.connect(
                        servers=[url], connect_timeout=_CONNECT, allow_reconnect=True, max_reconnect_attempts=-1,
                        error_cb=_quiet, disconnected_cb=_disconnected, reconnected_cb=_reconnected,
                    ),
                    _CONNECT,
                )  # fmt: skip
            except Exception as exc:  # nats raises its own and OS errors alike
                raise BackendError(f"nats: cannot connect: {type(exc).__name__}") from None
            return self._client

    async def close(self) -> None:
        """Send what is buffered (drain) when connected; just close when not (a server that is gone)."""
        client = self._client
        if client is None or client.is_closed:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.drain(), 5)
        except Exception:  # a server that went away while draining: nothing more to send to
            pass
        finally:
            if not client.is_closed:
                await client.close()


async def _quiet(exc: Exception) -> None:
    log.debug("nats: %s", exc)


async def _disconnected() -> None:
    log.warning("nats: disconnected from the server, reconnecting")


async def _reconnected() -> None:
    log.warning("nats: reconnected")


def _subject(url: DriverURL) -> str:
    if not url.name:
        raise BackendError(f"nats: {url.text!r} names no subject")
    return url.name


class NatsTopic:
    """Publishes to one subject (buffered by the client, as nats.go's Publish)."""

    def __init__(self, connection: NatsConnection, url: DriverURL) -> None:
        self._connection = connection
        self._subject = _subject(url)

    async def send(self, body: bytes, metadata: dict[str, str]) -> None:
        client = await self._connection.client()
        try:
            await client.publish(self._subject, body, headers=metadata or None)
        except Exception as exc:
            raise BackendError(f"nats: publish failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        return None


class NatsSubscription:
    """Subscribes at start-up (or on the first ``receive``); messages go to a queue of ours (``next_msg`` can lose a
    message when its caller is cancelled)."""

    def __init__(self, connection: NatsConnection, url: DriverURL) -> None:
        self._connection = connection
        self._subject = _subject(url)
        self._queue_group = url.param("queue")
        self._queue: asyncio.Queue[Message] = asyncio.Queue(_PENDING)
        self._subscription: Any = None
        self._dropped = 0

    async def _take(self, msg: Msg) -> None:
        headers = msg.headers or {}
        if self._queue.full():
            self._queue.get_nowait()
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                log.warning("nats %s: %d messages dropped: nobody asked for them", self._subject, self._dropped)
        self._queue.put_nowait(Message(msg.data, dict(headers)))

    async def start(self) -> None:
        """Subscribe now (at start-up, as gocloud's OpenSubscription; a server that is down holds the
        start-up for the connect timeout): messages sent before the first request are kept. A
        failure is logged; ``receive`` tries again."""
        try:
            await self._subscribe()
        except BackendError as exc:
            log.error("[BACKEND: nats://%s][PubSub] cannot subscribe: %s", self._subject, exc)

    async def _subscribe(self) -> None:
        if self._subscription is None:
            client = await self._connection.client()
            if self._subscription is None:
                self._subscription = await client.subscribe(self._subject, queue=self._queue_group, cb=self._take)

    async def receive(self) -> Message:
        if self._subscription is None:
            await self._subscribe()
        return await self._queue.get()

    async def ack(self, message: Message) -> None:
        return None

    async def close(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception:  # the connection is gone already: nothing to undo
                pass
            self._subscription = None
