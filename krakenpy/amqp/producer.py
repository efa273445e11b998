"""``backend/amqp/producer``: publish the request body to a topic exchange instead of an HTTP call
(krakend-amqp's producer). The connection is opened on first use and again after a failure, no
sooner than the backoff strategy allows: a broker that is down costs each call one fast error."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import aiormq
from pamqp.commands import Basic

from krakenpy.amqp.agent import CONNECT_TIMEOUT, AmqpError, connect
from krakenpy.amqp.options import ProducerOptions
from krakenpy.asyncagent.backoff import backoff
from krakenpy.errors import BackendError
from krakenpy.proxy.types import Proxy, Request, Response
from krakenpy.tasks import spawn

__all__ = ["producer_executor"]

log = logging.getLogger("krakenpy")

#: what a broken channel or connection raises in aiormq (ChannelInvalidStateError is a RuntimeError)
_BROKEN = (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, OSError)


def _param(params: dict[str, str], key: str) -> str | None:
    """The request parameter ``key`` names (``Id``: capitalised, as KrakenD stores them), if set."""
    return (params.get(key) or None) if key else None


def _invalid(what: str) -> BackendError:
    return BackendError(f"AMQP producer: invalid {what}", name="AMQP")


def _shortstr(what: str, value: str | None) -> str | None:
    """``value`` if AMQP can carry it as a short string (at most 255 bytes)."""
    if value is not None and len(value.encode()) > 255:
        raise _invalid(what)
    return value


def _priority(value: str | None) -> int | None:
    """A message priority: ASCII digits up to 255; anything else not a number is ignored (as KrakenD)."""
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    if int(value) > 255:
        raise _invalid("priority")
    return int(value)


def _expiration(value: str | None) -> str | None:
    """RabbitMQ takes only a whole number of milliseconds and closes the channel on anything else."""
    if value is not None and not (value.isascii() and value.isdigit() and len(value) <= 255):
        raise _invalid("expiration")
    return value


class _Publisher:
    """One connection and channel for a backend, reopened on demand after a failure."""

    def __init__(self, options: ProducerOptions, where: str) -> None:
        self.options = options
        self.where = where
        self.channel: aiormq.abc.AbstractChannel | None = None
        self.connection: aiormq.abc.AbstractConnection | None = None
        #: the connection attempt in flight: the publisher's own task, so a call cut by its deadline
        #: neither cancels it nor starts another
        self.opening: asyncio.Task[aiormq.abc.AbstractChannel] | None = None
        #: a call's deadline ran out during :attr:`opening`: the calls after it fail at once
        self.stalled = False
        self.stall_logged = False
        self.failures = 0
        self.retry_at = 0.0
        self.wait = backoff(options.backoff_strategy)

    async def _open(self) -> aiormq.abc.AbstractChannel:
        channel = self.channel
        if channel is not None and not channel.is_closed:
            return channel
        if time.monotonic() < self.retry_at:
            raise BackendError("the AMQP broker is unreachable (waiting to reconnect)", name="AMQP")
        if self.opening is None:
            self.stalled = False
            self.opening = spawn(self._connect())
            self.opening.add_done_callback(_retrieved)
        elif self.stalled:
            raise BackendError("the AMQP broker does not answer (still connecting)", name="AMQP")
        opening = self.opening
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            if not opening.done():  # the broker accepted TCP and says nothing: a blackhole until it times out
                self.stalled = True
                level = logging.DEBUG if self.stall_logged else logging.ERROR
                self.stall_logged = True
                log.log(level, "[BACKEND: %s][AMQP] the broker does not answer the producer's connection", self.where)
            raise

    async def _connect(self) -> aiormq.abc.AbstractChannel:
        queue = self.options.queue
        try:
            await self._close_connection()
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    self.connection = await connect(queue.host)
                    channel = await self.connection.channel()
                    await channel.exchange_declare(
                        queue.exchange, exchange_type="topic", durable=queue.durable, auto_delete=queue.delete
                    )
            except (AmqpError, TimeoutError, *_BROKEN) as exc:
                self.failures += 1
                self.retry_at = time.monotonic() + self.wait(self.failures)
                level = logging.ERROR if self.failures == 1 else logging.DEBUG
                text = str(exc) if isinstance(exc, AmqpError) else type(exc).__name__
                log.log(level, "[BACKEND: %s][AMQP] cannot connect the producer: %s", self.where, text)
                await self._close_connection()
                raise BackendError(f"AMQP producer: {text}", name="AMQP") from None
            self.failures, self.channel, self.stall_logged = 0, channel, False
            return channel
        finally:
            self.opening = None

    async def _close_connection(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except Exception:  # already broken: nothing to hand back
                pass

    async def close(self) -> None:
        """Stop a connection attempt in flight and close the connection."""
        opening, self.opening = self.opening, None
        if opening is not None:  # its failure, if any, is logged and retrieved already
            opening.cancel()
            await asyncio.wait([opening])
        await self._close_connection()

    async def publish(self, request: Request) -> Response:
        options = self.options
        params = request.params
        key = options.routing_key if options.static_routing_key else params.get(options.routing_key, "")
        # a value AMQP cannot encode is this call's error, checked before anything reaches the channel
        properties = Basic.Properties(
            headers={_shortstr("header name", name) or "": list(values) for name, values in request.headers.items()},
            content_type=_shortstr("content type", request.headers.get("Content-Type", [""])[0] or None),
            timestamp=datetime.now(UTC),
            expiration=_expiration(_param(params, options.exp_key)),
            reply_to=_shortstr("reply-to", _param(params, options.reply_to_key)),
            message_id=_shortstr("message id", _param(params, options.msg_id_key)),
            priority=_priority(_param(params, options.priority_key)),
        )
        key = _shortstr("routing key", key) or ""
        channel = await self._open()
        try:
            await channel.basic_publish(
                request.body,
                exchange=options.queue.exchange,
                routing_key=key,
                properties=properties,
                mandatory=options.mandatory,
                immediate=options.immediate,
            )
        except aiormq.exceptions.DeliveryError as exc:  # returned (mandatory) or nacked: this message only
            raise BackendError(f"AMQP producer: {type(exc).__name__}", name="AMQP") from None
        except _BROKEN as exc:
            await self._drop(channel)
            raise BackendError(f"AMQP producer: {type(exc).__name__}", name="AMQP") from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # the call's own deadline
                raise
            # aiormq cancels the confirmations a closing channel still waits for
            await self._drop(channel)
            raise BackendError("AMQP producer: the channel closed", name="AMQP") from None
        return Response(data={}, is_complete=True)

    async def _drop(self, channel: aiormq.abc.AbstractChannel) -> None:
        """Close the connection after ``channel`` broke, unless another call already reopened it."""
        if self.channel is channel:
            await self._close_connection()


def _retrieved(task: asyncio.Task[aiormq.abc.AbstractChannel]) -> None:
    """Read a failed attempt's error (logged by :meth:`_Publisher._connect`) when no call waited for it."""
    if not task.cancelled():
        task.exception()


def producer_executor(options: ProducerOptions, where: str) -> tuple[Proxy, _Publisher]:
    """The executor publishing each request, and its publisher (to close with the gateway)."""
    publisher = _Publisher(options, where)

    async def produce(request: Request) -> Response:
        return await publisher.publish(request)

    return produce, publisher
