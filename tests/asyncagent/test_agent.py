"""Async agents on a real RabbitMQ: messages through the agent's pipe, workers, ack and nack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiormq
import pytest
from aiohttp.test_utils import TestClient

from krakenpy.config.build import build_service
from krakenpy.gateway import Gateway, build_gateway
from tests.asyncagent.conftest import Sink, agent_doc, queue_depth
from tests.rabbitmq_server import RabbitNode, unique
from tests.server.wirekit import gateway_server

Serve = Callable[[dict[str, Any]], Awaitable[Gateway]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Build a gateway and start it as ``run`` does (the agents start with it); closed at the end."""
    gateways: list[Gateway] = []

    async def start(doc: dict[str, Any]) -> Gateway:
        gw = await build_gateway(build_service(doc))
        gateways.append(gw)
        await gw.start()
        return gw

    yield start
    for gw in gateways:
        await gw.close()


async def _consuming(url: str, queue: str, timeout: float = 10.0) -> None:
    """Until the agent's consumer is on ``queue``."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                if (await queue_depth(url, queue))[1] >= 1:
                    return
            except Exception:  # not declared yet: the passive declare closes the channel
                pass
            await asyncio.sleep(0.05)


async def _drained(url: str, queue: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while (await queue_depth(url, queue))[0]:
            await asyncio.sleep(0.05)


def _names() -> dict[str, str]:
    return {"name": unique("q"), "exchange": unique("ex")}


async def test_agent_messages_reach_the_backend(rabbitmq: RabbitNode, sink: Sink, serve: Serve, publisher) -> None:
    amqp = _names()
    await serve(agent_doc(rabbitmq.url, sink, amqp))
    await _consuming(rabbitmq.url, amqp["name"])
    publish = await publisher(rabbitmq.url)
    await publish(amqp["exchange"], "foo.baz", b'{"skipped": true}')  # not the agent's topic (*.bar)
    await publish(amqp["exchange"], "foo.bar", b'{"n": 1}', b'{"n": 2}', b'{"n": 3}')
    await sink.wait_for(3)
    assert sorted(sink.bodies) == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
    assert set(sink.methods) == {"POST"}  # the backend's method
    await _drained(rabbitmq.url, amqp["name"])  # every message acknowledged


@pytest.mark.parametrize("workers", [1, 3])
async def test_agent_workers_bound_the_messages_in_flight(
    rabbitmq: RabbitNode, sink: Sink, serve: Serve, publisher, workers: int
) -> None:
    amqp = _names()
    sink.delay = 0.3
    await serve(agent_doc(rabbitmq.url, sink, amqp, consumer={"workers": workers}))
    await _consuming(rabbitmq.url, amqp["name"])
    publish = await publisher(rabbitmq.url)
    await publish(amqp["exchange"], "a.bar", *[b"%d" % i for i in range(6)])
    await sink.wait_for(6)
    assert sink.most == workers


async def test_agent_failed_message_is_requeued(rabbitmq: RabbitNode, sink: Sink, serve: Serve, publisher) -> None:
    amqp = _names()
    sink.fail = True
    await serve(agent_doc(rabbitmq.url, sink, amqp))
    await _consuming(rabbitmq.url, amqp["name"])
    publish = await publisher(rabbitmq.url)
    await publish(amqp["exchange"], "a.bar", b"again")
    await sink.wait_for(3)  # nacked with requeue: delivered again and again
    sink.fail = False
    await _drained(rabbitmq.url, amqp["name"])
    assert set(sink.bodies) == {b"again"}


@pytest.mark.parametrize("amqp_flags", [{"nack_discard": True}, {"auto_ack": True}], ids=["nack_discard", "auto_ack"])
async def test_agent_failed_message_is_dropped(
    rabbitmq: RabbitNode, sink: Sink, serve: Serve, publisher, amqp_flags: dict[str, bool]
) -> None:
    amqp = {**_names(), **amqp_flags}
    sink.fail = True
    await serve(agent_doc(rabbitmq.url, sink, amqp))
    await _consuming(rabbitmq.url, amqp["name"])
    publish = await publisher(rabbitmq.url)
    await publish(amqp["exchange"], "a.bar", b"once", b"marker")
    await sink.wait_for(2)
    await asyncio.sleep(0.3)  # a requeued message would be back by now
    assert sink.bodies == [b"once", b"marker"]
    assert (await queue_depth(rabbitmq.url, amqp["name"]))[0] == 0


async def test_agent_consumer_timeout_fails_the_message(
    rabbitmq: RabbitNode, sink: Sink, serve: Serve, publisher, caplog: pytest.LogCaptureFixture
) -> None:
    amqp = {**_names(), "nack_discard": True}
    sink.delay = 2.0
    await serve(agent_doc(rabbitmq.url, sink, amqp, consumer={"timeout": "200ms"}))
    await _consuming(rabbitmq.url, amqp["name"])
    publish = await publisher(rabbitmq.url)
    with caplog.at_level(logging.ERROR, logger="krakenpy"):
        await publish(amqp["exchange"], "a.bar", b"slow")
        async with asyncio.timeout(5):  # the agent's ERROR line (its INFO/DEBUG lines may be captured too)
            while not [
                r for r in caplog.records if r.levelno >= logging.ERROR and "agent-under-test" in r.getMessage()
            ]:
                await asyncio.sleep(0.05)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("deadline" in e for e in errors), errors


async def test_agent_unreachable_broker_never_stops_http_and_logs_once(
    sink: Sink, serve: Serve, dead_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"amqp://guest:s3cret-pass@127.0.0.1:{dead_port}/"
    with caplog.at_level(logging.DEBUG, logger="krakenpy"):
        gw = await serve(agent_doc(url, sink, _names(), connection={"max_retries": 2}))
        client: TestClient[Any, Any] = TestClient(await gateway_server(gw.edge))
        await client.start_server()
        try:
            assert (await client.get("/ping")).status == 200
            async with asyncio.timeout(10):
                while "too many retries" not in caplog.text:
                    await asyncio.sleep(0.05)
            assert (await client.get("/ping")).status == 200
        finally:
            await client.close()
    failures = [r for r in caplog.records if "building the amqp subscriber" in r.getMessage()]
    assert len(failures) == 3  # max_retries 2: three attempts
    assert [r.levelno for r in failures] == [logging.ERROR, logging.DEBUG, logging.DEBUG]
    assert "s3cret-pass" not in caplog.text


async def test_agent_consumer_cancelled_by_the_broker_reconnects(
    rabbitmq: RabbitNode, sink: Sink, serve: Serve, publisher, caplog: pytest.LogCaptureFixture
) -> None:
    amqp = _names()
    with caplog.at_level(logging.ERROR, logger="krakenpy"):
        await serve(agent_doc(rabbitmq.url, sink, amqp))
        await _consuming(rabbitmq.url, amqp["name"])
        connection = await aiormq.connect(rabbitmq.url)
        try:
            channel = await connection.channel()
            await channel.queue_delete(amqp["name"])  # the broker cancels the agent's consumer
        finally:
            await connection.close()
        await _consuming(rabbitmq.url, amqp["name"])  # declared and consumed again by the agent
    publish = await publisher(rabbitmq.url)
    await publish(amqp["exchange"], "a.bar", b"after")
    await sink.wait_for(1)
    assert sink.bodies == [b"after"]
    assert caplog.text.count("cancelled the consumer") == 1


@pytest.mark.parametrize("amqp_flags", [{}, {"auto_ack": True}], ids=["ack", "auto_ack"])
async def test_agent_prefetch_defaults_to_the_workers(
    rabbitmq: RabbitNode, sink: Sink, serve: Serve, publisher, amqp_flags: dict[str, bool]
) -> None:
    amqp = {**_names(), **amqp_flags}
    sink.delay = 0.5
    gw = await serve(agent_doc(rabbitmq.url, sink, amqp, consumer={"workers": 2}))
    await _consuming(rabbitmq.url, amqp["name"])
    publish = await publisher(rabbitmq.url)
    await publish(amqp["exchange"], "a.bar", *[b"%d" % i for i in range(40)])
    await sink.wait_for(2)
    # two running, at most two more delivered ahead: the rest stays with the broker
    assert (await queue_depth(rabbitmq.url, amqp["name"]))[0] >= 40 - 4
    await gw.close()
    assert (await queue_depth(rabbitmq.url, amqp["name"]))[0] >= 40 - 4  # nothing lost at the stop


async def test_agent_runner_remembers_failure_kinds_not_texts(sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    from krakenpy.asyncagent.runner import AgentRunner
    from krakenpy.errors import BackendError
    from krakenpy.proxy.types import Request, Response

    agent = build_service(agent_doc("amqp://127.0.0.1/", sink, _names())).agents[0]

    async def failing(request: Request) -> Response:
        raise BackendError(f"backend said no to {request.body!r}")

    async def driver(*_args: Any) -> None:
        return None

    runner = AgentRunner(agent, failing, driver, "AMQP")
    with caplog.at_level(logging.DEBUG, logger="krakenpy"):
        results = [await runner.handle(b"message %d" % i) for i in range(50)]
    assert results == [False] * 50
    assert len(runner.seen) == 1  # one kind, however many texts
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "said no" in r.getMessage()]
    assert len(errors) == 1
