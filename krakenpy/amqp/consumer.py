"""``backend/amqp/consumer``: each call takes one message from a RabbitMQ queue (krakend-amqp's
consumer). The connection is kept open in the background from the moment the gateway serves,
reconnected with the backoff strategy; each message is acked once decoded, nacked when its body does
not decode (requeued unless ``nack_discard``)."""

from __future__ import annotations

import asyncio
import logging

import aiormq
from aiormq.abc import DeliveredMessage

from krakenpy.amqp.agent import connect, declare
from krakenpy.amqp.options import ConsumerOptions
from krakenpy.asyncagent.backoff import backoff
from krakenpy.backends.encoding import Decoder
from krakenpy.errors import BackendError
from krakenpy.proxy.formatter import Formatter
from krakenpy.proxy.types import Proxy, Request, Response

__all__ = ["Consumer"]

log = logging.getLogger("krakenpy")

#: a connection that lived this long restarts the retry count
_MIN_RUN = 5.0


class Consumer:
    """One backend's queue: a background session fills :attr:`inbox`, each call takes one message."""

    def __init__(self, options: ConsumerOptions, prefix: str, decode: Decoder, formatter: Formatter | None) -> None:
        self.options = options
        self.prefix = prefix
        self.decode = decode
        self.formatter = formatter
        self.inbox: asyncio.Queue[tuple[aiormq.abc.AbstractChannel, DeliveredMessage]] = asyncio.Queue()
        self.connected = False
        self.seen: set[str] = set()

    def _once(self, kind: str, message: str) -> None:
        log.log(logging.DEBUG if kind in self.seen else logging.ERROR, "%s %s", self.prefix, message)
        self.seen.add(kind)

    async def _session(self) -> None:
        queue = self.options.queue
        connection = await connect(queue.host)
        try:
            channel = await connection.channel()

            async def on_message(message: DeliveredMessage) -> None:
                self.inbox.put_nowait((channel, message))

            name = await declare(channel, queue, list(self.options.routing_key))
            await channel.basic_consume(name, on_message, no_ack=queue.auto_ack, exclusive=queue.exclusive)
            self.connected = True
            self.seen.clear()
            log.debug("%s consumer attached to %r", self.prefix, name)
            await asyncio.wait([connection.closing, channel.closing], return_when=asyncio.FIRST_COMPLETED)
            raise BackendError("the broker closed the connection")
        finally:
            self.connected = False
            while not self.inbox.empty():  # not acked: the broker delivers them again
                self.inbox.get_nowait()
            if not connection.is_closed:
                await connection.close()

    async def run(self) -> None:
        """Keep a session open until cancelled or out of retries."""
        loop = asyncio.get_running_loop()
        wait = backoff(self.options.backoff_strategy)
        retries = self.options.max_retries if self.options.max_retries > 0 else None
        attempt = 0
        while retries is None or attempt <= retries:
            started = loop.time()
            try:
                await self._session()
            except Exception as exc:  # the driver's errors name no secret
                self._once(f"{type(exc).__name__}:{exc}", f"consumer connection: {exc}")
            if loop.time() - started > _MIN_RUN:
                attempt = 0
            attempt += 1
            await asyncio.sleep(wait(attempt))
        log.error("%s too many retries (%d): the consumer stops", self.prefix, self.options.max_retries)

    async def take(self, _request: Request) -> Response:
        """One message, decoded and formatted; waits for it until the backend's deadline."""
        if not self.connected and self.inbox.empty():
            raise BackendError("connection not available, trying to reconnect", name="AMQP")
        channel, message = await self.inbox.get()
        auto_ack = self.options.queue.auto_ack
        try:
            data = self.decode(message.body) if message.body else {}
        except BackendError:
            if not auto_ack and message.delivery_tag is not None and not channel.is_closed:
                await channel.basic_nack(message.delivery_tag, requeue=not self.options.queue.nack_discard)
            raise
        if not auto_ack and message.delivery_tag is not None and not channel.is_closed:
            await channel.basic_ack(message.delivery_tag)
        if self.formatter is not None:
            data = self.formatter(data)
        return Response(data=data, is_complete=True)

    @property
    def proxy(self) -> Proxy:
        """The backend's executor."""
        return self.take
