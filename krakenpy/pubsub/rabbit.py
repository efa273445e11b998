"""``rabbit://exchange`` topics and ``rabbit://queue`` subscriptions (gocloud's rabbitpubsub) through
aiormq, the server from ``RABBIT_SERVER_URL`` as in KrakenD.

As gocloud, nothing is declared: the exchange (fanout, or any type: the routing key is empty) and
the queue must exist. Metadata travels as AMQP headers; a publish waits for the broker's confirm.
A subscription consumes with a prefetch of ``_PREFETCH``: messages no request asked for yet stay
unacknowledged and go back to the queue when the connection closes; one that cannot be decoded is
rejected back to the queue at once (an unacknowledged message would hold a prefetch slot for the
connection's life).
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
    import aiormq.abc

__all__ = ["ENV", "RabbitConnection", "RabbitSubscription", "RabbitTopic"]

log = logging.getLogger("krakenpy.pubsub")
ENV: Final = "RABBIT_SERVER_URL"
_PREFETCH: Final = 16
_TIMEOUT: Final = 5.0
#: after a failed connection attempt, calls fail at once for this long
_RETRY_AFTER: Final = 2.0


class RabbitConnection:
    """One connection per gateway and scheme, opened on first use and again after it closed."""

    def __init__(self) -> None:
        self._connection: aiormq.abc.AbstractConnection | None = None
        self._lock = asyncio.Lock()
        self._failed_at = -_RETRY_AFTER

    async def channel(self) -> aiormq.abc.AbstractChannel:
        """A new channel (publisher confirms on) on the open connection."""
        connection = await self._open()
        try:
            return await asyncio.wait_for(connection.channel(), _TIMEOUT)
        except Exception as exc:
            raise BackendError(f"rabbit: cannot open a channel: {type(exc).__name__}") from None

    async def _open(self) -> aiormq.abc.AbstractConnection:
        found = self._connection
        if found is not None and not found.is_closed:
            return found
        async with self._lock:
            if self._connection is not None and not self._connection.is_closed:
                return self._connection
            url = os.environ.get(ENV)
            if not url:
                raise BackendError(f"rabbit: {ENV} is not set")
            loop = asyncio.get_running_loop()
            if loop.time() - self._failed_at < _RETRY_AFTER:
                raise BackendError("rabbit: cannot connect (tried less than 2 s ago)")
            from krakenpy.amqp.agent import AmqpError, connect

            try:
                self._connection = await connect(url if "://" in url else f"amqp://{url}")
            except AmqpError as exc:  # its text is free of the password
                self._failed_at = loop.time()
                raise BackendError(f"rabbit: cannot connect: {exc}") from None
            return self._connection

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            try:
                await asyncio.wait_for(self._connection.close(), _TIMEOUT)
            except Exception as exc:  # a broker gone already
                log.debug("rabbit: close: %s", exc)


def _name(url: DriverURL, what: str) -> str:
    if not url.name:
        raise BackendError(f"rabbit: {url.text!r} names no {what}")
    return url.name


class RabbitTopic:
    """Publishes to one exchange with an empty routing key and waits for the confirm."""

    def __init__(self, connection: RabbitConnection, url: DriverURL) -> None:
        self._connection = connection
        self._exchange = _name(url, "exchange")
        self._channel: aiormq.abc.AbstractChannel | None = None

    async def send(self, body: bytes, metadata: dict[str, str]) -> None:
        from pamqp.commands import Basic

        channel = self._channel
        if channel is None or channel.is_closed:
            channel = self._channel = await self._connection.channel()
        properties = Basic.Properties(headers=dict(metadata) or None)
        try:
            confirm = await channel.basic_publish(
                body, exchange=self._exchange, routing_key="", properties=properties, timeout=_TIMEOUT
            )
        except Exception as exc:  # a missing exchange closes the channel: the next call opens one
            raise BackendError(f"rabbit: publish to {self._exchange} failed: {type(exc).__name__}") from None
        if not isinstance(confirm, Basic.Ack):
            raise BackendError(f"rabbit: the broker did not confirm the message to {self._exchange}")

    async def close(self) -> None:
        return None


class RabbitSubscription:
    """Consumes one queue (on the first ``receive``, and again after the channel closed)."""

    def __init__(self, connection: RabbitConnection, url: DriverURL) -> None:
        self._connection = connection
        self._queue_name = _name(url, "queue")
        self._inbox: asyncio.Queue[tuple[aiormq.abc.AbstractChannel, Any]] = asyncio.Queue()
        self._channel: aiormq.abc.AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def _consume(self) -> None:
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return
            while not self._inbox.empty():  # delivered on a closed channel: the broker has them back
                self._inbox.get_nowait()
            channel = await self._connection.channel()
            inbox = self._inbox

            async def deliver(message: Any) -> None:
                inbox.put_nowait((channel, message))

            try:
                await channel.basic_qos(prefetch_count=_PREFETCH, timeout=_TIMEOUT)
                await channel.basic_consume(self._queue_name, deliver, timeout=_TIMEOUT)
            except Exception as exc:  # a missing queue closes the channel
                raise BackendError(f"rabbit: cannot consume {self._queue_name}: {type(exc).__name__}") from None
            self._channel = channel

    async def receive(self) -> Message:
        while True:
            if self._channel is None or self._channel.is_closed:
                await self._consume()
            channel, delivered = await self._inbox.get()
            if channel.is_closed:  # the broker redelivers what an old channel held
                continue
            headers = getattr(delivered.header.properties, "headers", None) or {}
            metadata = {str(k): v.decode() if isinstance(v, bytes) else str(v) for k, v in headers.items()}
            # a delivery tag means something on its own channel only
            return Message(bytes(delivered.body), metadata, f"{id(channel)}:{delivered.delivery_tag}")

    def _tag(self, message: Message) -> int | None:
        """The delivery tag when the message came on the current channel (else it is back in the queue)."""
        channel = self._channel
        owner, _, tag = message.ack_id.partition(":")
        if channel is None or channel.is_closed or owner != str(id(channel)):
            return None
        return int(tag)

    async def ack(self, message: Message) -> None:
        tag = self._tag(message)
        if tag is not None and self._channel is not None:
            await self._channel.basic_ack(tag)

    async def nack(self, message: Message) -> None:
        tag = self._tag(message)
        if tag is not None and self._channel is not None:
            await self._channel.basic_nack(tag, requeue=True)

    async def close(self) -> None:
        self._channel = None
