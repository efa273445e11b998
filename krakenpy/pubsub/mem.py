"""``mem://topic``: topics inside one gateway process (gocloud's mempubsub), for tests and demos.

Every subscription of a topic receives every message sent after it was opened; a message sent to a
topic nobody subscribes to is dropped. A received message that is not acknowledged within the
subscription's ``ackdeadline`` (default 1m, a Go duration) is delivered again. With several
workers each process has its own topics (they are memory).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Final

from krakenpy.config.durations import parse_duration
from krakenpy.errors import BackendError
from krakenpy.pubsub.driver import Message
from krakenpy.pubsub.urls import DriverURL
from krakenpy.state import Key

__all__ = ["BROKER", "MemBroker", "MemSubscription", "MemTopic"]

_DEFAULT_ACK_DEADLINE: Final = 60.0


class MemSubscription:
    """One subscriber's queue; unacknowledged messages come back after the ack deadline."""

    def __init__(self, ack_deadline: float) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.ack_deadline = ack_deadline
        self._outstanding: dict[str, asyncio.TimerHandle] = {}
        self._ids = itertools.count(1)

    def deliver(self, body: bytes, metadata: dict[str, str]) -> None:
        self.queue.put_nowait(Message(body, dict(metadata)))

    async def receive(self) -> Message:
        message = await self.queue.get()  # Queue.get loses nothing when cancelled
        message.ack_id = str(next(self._ids))
        loop = asyncio.get_running_loop()
        self._outstanding[message.ack_id] = loop.call_later(self.ack_deadline, self._redeliver, message)
        return message

    def _redeliver(self, message: Message) -> None:
        if self._outstanding.pop(message.ack_id, None) is not None:
            self.queue.put_nowait(Message(message.body, message.metadata))

    async def ack(self, message: Message) -> None:
        handle = self._outstanding.pop(message.ack_id, None)
        if handle is not None:
            handle.cancel()

    async def nack(self, message: Message) -> None:
        return None  # comes back after its ack deadline / visibility timeout (NATS core: never)

    async def close(self) -> None:
        for handle in self._outstanding.values():
            handle.cancel()
        self._outstanding.clear()


@dataclass(slots=True)
class MemTopic:
    """A named topic: the subscriptions opened on it."""

    name: str
    subscriptions: list[MemSubscription] = field(default_factory=list)

    async def send(self, body: bytes, metadata: dict[str, str]) -> None:
        for subscription in self.subscriptions:
            subscription.deliver(body, metadata)

    async def close(self) -> None:
        return None


class MemBroker:
    """The topics of one gateway, by name."""

    def __init__(self) -> None:
        self.topics: dict[str, MemTopic] = {}

    def topic(self, url: DriverURL) -> MemTopic:
        name = _name(url)
        found = self.topics.get(name)
        if found is None:
            found = self.topics[name] = MemTopic(name)
        return found

    def subscription(self, url: DriverURL) -> MemSubscription:
        """Subscribes to the topic (krakenpy opens a topic no publisher opened yet: gocloud refuses)."""
        text = url.param("ackdeadline")
        deadline = _DEFAULT_ACK_DEADLINE
        if text:
            try:
                deadline = parse_duration(text)
            except ValueError:
                raise BackendError(f"mem pub/sub: ackdeadline {text!r} is not a duration") from None
        subscription = MemSubscription(deadline)
        self.topic(url).subscriptions.append(subscription)
        return subscription


def _name(url: DriverURL) -> str:
    if not url.name:
        raise BackendError(f"mem pub/sub: {url.text!r} names no topic")
    return url.name


BROKER: Final = Key("mem pub/sub topics", MemBroker)
