"""An agent against a broker of its own: down at start, up, killed mid-run, back: the agent
reconnects with its backoff each time and the gateway serves HTTP throughout."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from tests.asyncagent.conftest import Sink, agent_doc
from tests.rabbitmq_server import RabbitNode
from tests.server.wirekit import gateway_server


async def _publish_until_seen(node: RabbitNode, publisher, sink: Sink, body: bytes, timeout: float = 20.0) -> None:
    """Publish ``body`` (again, while the agent's queue may not exist yet) until the sink got it."""
    publish = await publisher(node.url)
    async with asyncio.timeout(timeout):
        while body not in sink.bodies:
            await publish("reconnect-ex", "x.bar", body)
            await asyncio.sleep(0.3)


async def test_agent_reconnects_after_broker_down_and_killed(
    rabbit_node: RabbitNode, sink: Sink, publisher, caplog: pytest.LogCaptureFixture
) -> None:
    amqp = {"name": "reconnect-q", "exchange": "reconnect-ex", "nack_discard": True}
    doc = agent_doc(rabbit_node.url, sink, amqp, connection={"backoff_strategy": "fallback"})
    gw = await build_gateway(build_service(doc))
    client: TestClient[Any, Any] = TestClient(await gateway_server(gw.edge))
    await client.start_server()
    caplog.set_level(logging.INFO, logger="krakenpy")
    try:
        await gw.start()
        async with asyncio.timeout(10):  # an attempt against nothing (waited for, not a fixed 1.5 s)
            while "building the amqp subscriber" not in caplog.text:
                await asyncio.sleep(0.05)
        assert (await client.get("/ping")).status == 200

        await asyncio.to_thread(rabbit_node.start)
        await _publish_until_seen(rabbit_node, publisher, sink, b"first")
        assert "consuming '*.bar'" in caplog.text

        before = len(caplog.records)  # the loss may be logged while the kill is still waited for
        await asyncio.to_thread(rabbit_node.kill)

        def lost() -> list[str]:
            return [r.getMessage() for r in caplog.records[before:] if r.levelno == logging.ERROR]

        async with asyncio.timeout(10):  # the loss logged (waited for: a fixed 1.5 s bet on the host)
            while not any("[SERVICE: AsyncAgent][AMQP][agent-under-test]" in m for m in lost()):
                await asyncio.sleep(0.05)
        assert (await client.get("/ping")).status == 200

        await asyncio.to_thread(rabbit_node.start)
        await _publish_until_seen(rabbit_node, publisher, sink, b"second")
    finally:
        await client.close()
        await gw.close()
