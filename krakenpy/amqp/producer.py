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

from krakenpy.amqp.agent import AmqpError, connect
from krakenpy.amqp.options import ProducerOptions
from krakenpy.asyncagent.backoff import backoff
from krakenpy.errors import BackendError
from krakenpy.proxy.types import Proxy, Request, Response

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
        self.lock = asyncio.Lock()
        self.failures = 0
        self.retry_at = 0.0
        self.wait = backoff(options.backoff_strategy)

    async def _open(self) -> aiormq.abc.AbstractChannel:
        if self.channel is not None and not self.channel.is_closed:
            return self.channel
        async with self.lock:
            if self.channel is not None and not self.channel.is_closed:
                return self.channel
            if time.monotonic() < self.retry_at:
                raise BackendError("the AMQP broker is unreachable (waiting to reconnect)", name="AMQP")
            await self.close()
            queue = self.options.queue
            try:
                self.connection = await connect(queue.host)
                channel = await self.connection.channel()
                await channel.exchange_declare(
                    queue.exchange, exchange_type="topic", durable=queue.durable, auto_delete=queue.delete
                )
            except (AmqpError, aiormq.exceptions.AMQPError, OSError) as exc:
                self.failures += 1
                self.retry_at = time.monotonic() + self.wait(self.failures)
                level = logging.ERROR if self.failures == 1 else logging.DEBUG
                log.log(level, "[BACKEND: %s][AMQP] cannot connect the producer: %s", self.where, exc)
                await self.close()
                raise BackendError(f"AMQP producer: {exc}", name="AMQP") from None
            self.failures, self.channel = 0, channel
            return channel

    async def close(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except Exception:  # already broken: nothing to hand back
                pass

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
            await self.close()


def producer_executor(options: ProducerOptions, where: str) -> tuple[Proxy, _Publisher]:
    """The executor publishing each request, and its publisher (to close with the gateway)."""
    publisher = _Publisher(options, where)

    async def produce(request: Request) -> Response:
        return await publisher.publish(request)

    return produce, publisher
