"""``kafka://topic[?key_name=K]`` (gocloud's kafkapubsub) for publishers: one ``aiokafka`` producer
per gateway, the brokers from ``KAFKA_BROKERS`` (comma-separated) as in KrakenD.

The request body is the record's value, the metadata its headers; with ``key_name`` the value of
that metadata key is the record's key instead (the partition follows it). The producer starts on the
first message, acknowledged by the partition leader (``acks=1``, sarama's default); a broker that
cannot be reached fails the call and the next call starts it again. Kafka *subscriptions* (consumer
groups) are not built in.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Final

from krakenpy.errors import BackendError
from krakenpy.pubsub.urls import DriverURL

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

__all__ = ["ENV", "KafkaProducer", "KafkaTopic"]

log = logging.getLogger("krakenpy.pubsub")
ENV: Final = "KAFKA_BROKERS"
#: a first connection that does not come up within this fails the call (aiokafka waits 40 s)
_START: Final = 5.0


class KafkaProducer:
    """The gateway's producer, started on first use and started again after it failed."""

    def __init__(self) -> None:
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        found = self._producer
        if found is not None:
            return found
        async with self._lock:
            if self._producer is not None:
                return self._producer
            brokers = [b.strip() for b in os.environ.get(ENV, "").split(",") if b.strip()]
            if not brokers:
                raise BackendError(f"kafka: {ENV} is not set")
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(bootstrap_servers=brokers, acks=1, request_timeout_ms=int(_START * 1000))
            try:
                await asyncio.wait_for(producer.start(), _START)
            except BaseException as exc:
                await _stop(producer)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise BackendError(f"kafka: cannot reach the brokers: {type(exc).__name__}") from None
            self._producer = producer
            return producer

    async def close(self) -> None:
        if self._producer is not None:
            await _stop(self._producer)
            self._producer = None


async def _stop(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 10)
    except Exception as exc:  # a broker gone while flushing: nothing more to send to
        log.debug("kafka: stop: %s", exc)


class KafkaTopic:
    """Sends one record per call and waits for the leader's acknowledgement."""

    def __init__(self, producer: KafkaProducer, url: DriverURL) -> None:
        if not url.name:
            raise BackendError(f"kafka: {url.text!r} names no topic")
        self._producer = producer
        self._topic = url.name
        self._key_name = url.param("key_name")

    async def send(self, body: bytes, metadata: dict[str, str]) -> None:
        producer = await self._producer.producer()
        # as gocloud: the key_name value is the record key, not also a header
        key_name = self._key_name
        headers = [(name, value.encode()) for name, value in metadata.items() if name != key_name]
        key = metadata.get(key_name, "").encode() if key_name else b""
        try:
            await producer.send_and_wait(self._topic, body, key=key or None, headers=headers or None)
        except Exception as exc:  # aiokafka's errors name brokers and topics, never payloads
            raise BackendError(f"kafka: publish to {self._topic} failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        return None
