"""``rabbit://`` publishers and subscribers through the gateway against a real RabbitMQ node (the
session's, from tests/rabbitmq_server.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiormq
import pytest
from pamqp.commands import Basic

from tests.conftest import make_config
from tests.rabbitmq_server import RabbitNode, unique


@pytest.fixture
async def broker(rabbitmq: RabbitNode, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A channel on the session's node, and RABBIT_SERVER_URL pointing at it."""
    monkeypatch.setenv("RABBIT_SERVER_URL", rabbitmq.url)
    connection = await aiormq.connect(rabbitmq.url)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


async def _bound(channel: Any) -> tuple[str, str]:
    """A fanout exchange and a queue bound to it (gocloud declares nothing)."""
    exchange, queue = unique("ex"), unique("q")
    await channel.exchange_declare(exchange, exchange_type="fanout")
    await channel.queue_declare(queue)
    await channel.queue_bind(queue, exchange, routing_key="")
    return exchange, queue


def _config(exchange: str, queue: str, **sub: Any) -> dict[str, Any]:
    def backend(namespace: str, key: str, value: str, **extra: Any) -> dict[str, Any]:
        return {
            "host": ["rabbit://"],
            "disable_host_sanitize": True,
            "url_pattern": "/",
            "extra_config": {namespace: {key: value}},
            **extra,
        }

    return make_config(
        [
            {
                "endpoint": "/pub",
                "method": "POST",
                "input_headers": ["X-Tenant"],
                "backend": [backend("backend/pubsub/publisher", "topic_url", exchange)],
            },
            {
                "endpoint": "/sub",
                "timeout": "2s",
                "backend": [backend("backend/pubsub/subscriber", "subscription_url", queue, **sub)],
            },
        ]
    )


async def test_rabbit_publish_then_subscribe(gateway: Any, broker: Any) -> None:
    exchange, queue = await _bound(broker)
    client = await gateway(_config(exchange, queue))
    sent = await client.post("/pub", json={"n": 1}, headers={"X-Tenant": "acme"})
    assert (sent.status, await sent.json()) == (200, {})
    got = await client.get("/sub")
    assert (got.status, await got.json()) == (200, {"n": 1})


async def test_rabbit_headers_carry_the_metadata(gateway: Any, broker: Any) -> None:
    exchange, queue = await _bound(broker)
    client = await gateway(_config(exchange, queue))
    await client.post("/pub", json={}, headers={"X-Tenant": "acme"})
    message = await broker.basic_get(queue, no_ack=True)
    assert message.body == b"{}"
    assert message.header.properties.headers["X-Tenant"] in ("acme", b"acme")


async def test_rabbit_subscriber_acknowledges_what_it_answered(gateway: Any, broker: Any, rabbitmq: RabbitNode) -> None:
    exchange, queue = await _bound(broker)
    for n in range(3):
        await broker.basic_publish(b'{"n": %d}' % n, exchange=exchange, properties=Basic.Properties())
    client = await gateway(_config(exchange, queue))
    answers = [await (await client.get("/sub")).json() for _ in range(3)]
    assert answers == [{"n": 0}, {"n": 1}, {"n": 2}]
    # the consumer is still up: the three it answered are out of the queue (neither ready nor
    # unacknowledged, as they would be unacked, then ready again on close, without the acks). The
    # acknowledgements go beside the answers: until the broker has them, the counts say (0, n)
    counts = await asyncio.to_thread(rabbitmq.queue_counts, queue)
    deadline = asyncio.get_running_loop().time() + 15
    while counts != (0, 0) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        counts = await asyncio.to_thread(rabbitmq.queue_counts, queue)
    assert counts == (0, 0)


async def test_rabbit_undecodable_message_goes_back_to_the_queue(
    gateway: Any, broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    exchange, queue = await _bound(broker)
    await broker.basic_publish(b"not json", exchange=exchange)
    client = await gateway(_config(exchange, queue))
    assert (await client.get("/sub")).status == 500
    caplog.clear()
    assert (await client.get("/sub")).status == 500  # the same message, given back at once
    assert "invalid JSON" in caplog.text
    assert "deadline" not in caplog.text


async def test_rabbit_missing_exchange_fails_the_call_then_works(gateway: Any, broker: Any) -> None:
    exchange, queue = unique("ex"), unique("q")
    client = await gateway(_config(exchange, queue))
    assert (await client.post("/pub", json={})).status == 500  # nothing declared (as gocloud)
    await broker.exchange_declare(exchange, exchange_type="fanout")
    await broker.queue_declare(queue)
    await broker.queue_bind(queue, exchange, routing_key="")
    assert (await client.post("/pub", json={"ok": True})).status == 200
    assert await (await client.get("/sub")).json() == {"ok": True}


async def test_rabbit_without_server_url_fails_each_call(gateway: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RABBIT_SERVER_URL", raising=False)
    client = await gateway(_config("x", "y"))
    assert (await client.post("/pub", json={})).status == 500
