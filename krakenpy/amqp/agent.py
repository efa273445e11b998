"""The ``async/amqp`` driver: one connection's life for an agent (krakend-amqp's ``initConsumer``):
declare the topic exchange and the queue, bind the agent's topic, consume, ack or nack each message
once the agent's pipe has run it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from urllib.parse import unquote

import aiormq
from aiormq.abc import DeliveredMessage

from krakenpy.amqp.options import QueueOptions, redact
from krakenpy.asyncagent.types import Driver, Handler
from krakenpy.config.model import AgentConfig
from krakenpy.userinfo import mask_userinfo, password_of

__all__ = ["AmqpError", "agent_driver", "connect", "settle"]

log = logging.getLogger("krakenpy")

#: aiormq logs every failed connection itself: the agent and the producer report them, once per kind
logging.getLogger("aiormq").setLevel(logging.CRITICAL)

#: how long connecting and each declaration may take before the attempt counts as failed
CONNECT_TIMEOUT = 10.0


class AmqpError(Exception):
    """A broker failure, its message free of the broker's password; ``kind`` names the failure for
    logging it once (the original exception's type)."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind or type(self).__name__


def _clean(exc: BaseException, host: str) -> AmqpError:
    text = str(exc) or type(exc).__name__
    password = password_of(host)
    for secret in (host, password, unquote(password) if password else None):
        if secret:
            text = text.replace(secret, redact(host) if secret == host else "[REDACTED]")
    text = mask_userinfo(text, keep_user=True)
    return AmqpError(f"{type(exc).__name__}: {text}" if str(exc) else text, type(exc).__name__)


def _reason(closing: asyncio.Future[object]) -> BaseException | None:
    """Why a connection or channel closed, if it did with an error."""
    if not closing.done() or closing.cancelled():
        return None
    return closing.exception()


def cancelled_by_broker(channel: aiormq.abc.AbstractChannel) -> asyncio.Future[None]:
    """Done once the broker cancels a consumer of ``channel`` (its queue deleted, a node failover):
    the channel stays open but nothing arrives any more, so the session must end like a closed one."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_cancel(_frame: object) -> None:
        if not done.done():
            done.set_result(None)

    channel.on_consumer_cancel_callbacks.add(on_cancel)
    return done


async def session_end(
    host: str,
    connection: aiormq.abc.AbstractConnection,
    channel: aiormq.abc.AbstractChannel,
    cancel: asyncio.Future[None],
) -> None:
    """Wait until the connection or the channel closes or the broker cancels the consumer (``cancel``,
    from :func:`cancelled_by_broker`); raises :class:`AmqpError` saying why."""
    try:
        await asyncio.wait([connection.closing, channel.closing, cancel], return_when=asyncio.FIRST_COMPLETED)
    finally:
        cancel.cancel()
    reason = _reason(connection.closing) or _reason(channel.closing)
    if reason is not None:
        raise _clean(reason, host)
    if cancel.done() and not cancel.cancelled():
        raise AmqpError("the broker cancelled the consumer (queue deleted or moved)", "ConsumerCancelled")


async def connect(host: str) -> aiormq.abc.AbstractConnection:
    """An open connection to ``host``; raises :class:`AmqpError`."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            return await aiormq.connect(host)
    except (OSError, TimeoutError, aiormq.exceptions.AMQPError, ValueError) as exc:
        raise _clean(exc, host) from None


async def declare(channel: aiormq.abc.AbstractChannel, options: QueueOptions, routing_keys: list[str]) -> str:
    """Declare the topic exchange and the queue and bind ``routing_keys``; the queue's name."""
    durable, delete, exclusive = options.durable, options.delete, options.exclusive
    queue = options.name
    if options.no_wait:  # nothing comes back: a refusal closes the channel later
        await channel.exchange_declare(
            options.exchange, exchange_type="topic", durable=durable, auto_delete=delete, nowait=True
        )
        await channel.queue_declare(queue, durable=durable, exclusive=exclusive, auto_delete=delete, nowait=True)
        for key in routing_keys:
            await channel.queue_bind(queue, options.exchange, routing_key=key, nowait=True)
    else:
        await channel.exchange_declare(options.exchange, exchange_type="topic", durable=durable, auto_delete=delete)
        declared = await channel.queue_declare(queue, durable=durable, exclusive=exclusive, auto_delete=delete)
        queue = declared.queue or options.name  # the broker names an anonymous queue
        for key in routing_keys:
            await channel.queue_bind(queue, options.exchange, routing_key=key)
    if options.prefetch_count or options.prefetch_size:
        await channel.basic_qos(prefetch_count=options.prefetch_count, prefetch_size=options.prefetch_size)
    return queue


async def settle(channel: aiormq.abc.AbstractChannel, tag: int, ack: bool, requeue: bool) -> None:
    """Ack or nack ``tag``; a failure is logged here since aiormq's own logger is muted."""
    if channel.is_closed:  # the broker hands the message out again
        return
    try:
        if ack:
            await channel.basic_ack(tag)
        else:
            await channel.basic_nack(tag, requeue=requeue)
    except (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, OSError) as exc:
        log.warning("[AMQP] cannot %s a message: %s", "ack" if ack else "nack", type(exc).__name__)


def agent_driver(options: QueueOptions) -> Driver:
    """The driver of agents whose ``async/amqp`` is ``options``."""

    async def consume(agent: AgentConfig, handle: Handler, connected: Callable[[], None]) -> None:
        connection = await connect(options.host)
        try:
            channel = await connection.channel()

            async def on_message(message: DeliveredMessage) -> None:
                tag = message.delivery_tag
                if tag is None:
                    return
                if options.auto_ack:  # acked as a worker takes it: at most once, yet bounded by the QoS
                    await handle(message.body, partial(settle, channel, tag, True, False))
                    return
                ok = await handle(message.body, None)
                await settle(channel, tag, ok, not options.nack_discard)

            queue = await declare(channel, options, [agent.topic])
            if not options.prefetch_count:
                # unacked deliveries wait in this process: never more than the agent can run at once
                await channel.basic_qos(prefetch_count=agent.workers, prefetch_size=options.prefetch_size)
            cancel = cancelled_by_broker(channel)
            # auto_ack is a manual ack (above): the broker's own would deliver without any bound
            await channel.basic_consume(
                queue, on_message, no_ack=False, exclusive=options.exclusive, consumer_tag="krakend"
            )
            connected()
            await session_end(options.host, connection, channel, cancel)
        except (OSError, TimeoutError, aiormq.exceptions.AMQPError) as exc:
            raise _clean(exc, options.host) from None
        finally:
            if not connection.is_closed:
                await connection.close()

    return consume
