"""``backend/amqp/consumer``: each call takes one message from a RabbitMQ queue (krakend-amqp's
consumer). A background session keeps the connection open from the moment the gateway serves
(declaring and binding the queue), reconnected with the backoff strategy. Each call asks the broker
for one message (``basic.get``) until one comes or the backend's deadline cuts it: no message is
held in a worker's memory, so with several worker processes a call never waits for a message another
worker holds, and nothing is lost when a worker stops. A message is acked once decoded, nacked when
its body does not decode (requeued unless ``nack_discard``); ``auto_ack`` acks it on receipt."""

from __future__ import annotations

import asyncio
import logging

import aiormq
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from krakenpy.amqp.agent import connect, declare, session_end, settle
from krakenpy.amqp.options import ConsumerOptions
from krakenpy.asyncagent.backoff import backoff
from krakenpy.backends.encoding import Decoder
from krakenpy.errors import BackendError
from krakenpy.proxy.formatter import Formatter
from krakenpy.proxy.types import Proxy, Request, Response
from krakenpy.tasks import spawn

__all__ = ["Consumer"]

log = logging.getLogger("krakenpy")

#: a connection that lived this long restarts the retry count
_MIN_RUN = 5.0
#: an empty queue is asked again after this, doubling up to :data:`_POLL_MAX` while the call waits
_POLL_MIN = 0.01
_POLL_MAX = 0.2
#: what a broken channel raises in aiormq (ChannelInvalidStateError is a RuntimeError)
_BROKEN = (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, OSError)


class Consumer:
    """One backend's queue: a background session holds the channel, each call gets one message."""

    def __init__(self, options: ConsumerOptions, prefix: str, decode: Decoder, formatter: Formatter | None) -> None:
        self.options = options
        self.prefix = prefix
        self.decode = decode
        self.formatter = formatter
        #: the open channel and the queue's name while a session runs
        self.channel: aiormq.abc.AbstractChannel | None = None
        self.queue = ""
        self.seen: set[str] = set()

    def _once(self, kind: str, message: str) -> None:
        log.log(logging.DEBUG if kind in self.seen else logging.ERROR, "%s %s", self.prefix, message)
        self.seen.add(kind)

    async def _session(self) -> None:
        queue = self.options.queue
        connection = await connect(queue.host)
        try:
            channel = await connection.channel()
            self.queue = await declare(channel, queue, list(self.options.routing_key))
            self.channel = channel
            self.seen.clear()
            log.debug("%s consumer attached to %r", self.prefix, self.queue)
            await session_end(queue.host, connection, channel, asyncio.get_running_loop().create_future())
            raise BackendError("the broker closed the connection")
        finally:
            self.channel = None
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
                self._once(getattr(exc, "kind", type(exc).__name__), f"consumer connection: {exc}")
            if loop.time() - started > _MIN_RUN:
                attempt = 0
            attempt += 1
            await asyncio.sleep(wait(attempt))
        log.error("%s too many retries (%d): the consumer stops", self.prefix, self.options.max_retries)

    async def _get(self, channel: aiormq.abc.AbstractChannel) -> DeliveredMessage | None:
        """One message of the queue, or None when it is empty; the get runs in its own task so that a
        call cut by its deadline while the broker answers hands the message back instead of losing it."""
        task = spawn(channel.basic_get(self.queue, no_ack=False))
        try:
            message = await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_give_back)
            raise
        return None if isinstance(message.delivery, Basic.GetEmpty) else message

    async def _next(self) -> tuple[aiormq.abc.AbstractChannel, DeliveredMessage]:
        """The next message, waiting for one (and for a session) until the call is cancelled."""
        pause = _POLL_MIN
        while True:
            channel = self.channel
            if channel is not None and not channel.is_closed:
                try:
                    message = await self._get(channel)
                except _BROKEN as exc:  # the session ends and reconnects; this call keeps waiting
                    log.debug("%s get failed: %s", self.prefix, type(exc).__name__)
                    message = None
                if message is not None:
                    return channel, message
            await asyncio.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)

    async def take(self, _request: Request) -> Response:
        """One message, decoded and formatted; waits for it until the backend's deadline."""
        channel, message = await self._next()
        tag = message.delivery_tag or 0  # a GetOk always carries one
        auto_ack = self.options.queue.auto_ack
        if auto_ack:  # at most once, as the broker's own auto-ack
            await settle(channel, tag, True, False)
        try:
            data = self.decode(message.body) if message.body else {}
        except BackendError:
            if not auto_ack:
                await settle(channel, tag, False, not self.options.queue.nack_discard)
            raise
        if not auto_ack:
            await settle(channel, tag, True, False)
        if self.formatter is not None:
            data = self.formatter(data)
        return Response(data=data, is_complete=True)

    @property
    def proxy(self) -> Proxy:
        """The backend's executor."""
        return self.take


def _give_back(task: asyncio.Task[DeliveredMessage]) -> None:
    """Requeue the message a cancelled call's get brought after all."""
    if task.cancelled() or task.exception() is not None:
        return
    message = task.result()
    channel, tag = message.channel, message.delivery_tag
    if isinstance(message.delivery, Basic.GetOk) and tag is not None and not channel.is_closed:
        _ = spawn(settle(channel, tag, False, True))
