"""The async agent tests: a recording backend and a publisher (the RabbitMQ nodes: tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiormq
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Sink:
    """A backend that records the bodies it got; ``fail`` answers 500, ``delay`` holds each call."""

    url: str = ""
    bodies: list[bytes] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    fail: bool = False
    delay: float = 0.0
    running: int = 0
    most: int = 0

    async def wait_for(self, count: int, timeout: float = 15.0) -> None:
        """Until ``count`` bodies arrived (fails the test after ``timeout``)."""
        async with asyncio.timeout(timeout):
            while len(self.bodies) < count:
                await asyncio.sleep(0.02)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    recorded = Sink()

    async def handle(request: web.Request) -> web.Response:
        recorded.running += 1
        recorded.most = max(recorded.most, recorded.running)
        try:
            recorded.bodies.append(await request.read())
            recorded.methods.append(request.method)
            if recorded.delay:
                await asyncio.sleep(recorded.delay)
            return web.json_response({"ok": True}, status=500 if recorded.fail else 200)
        finally:
            recorded.running -= 1

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    recorded.url = f"http://127.0.0.1:{server.port}"
    yield recorded
    await server.close()


def agent_doc(url: str, sink: Sink, amqp: dict[str, Any], **agent: Any) -> dict[str, Any]:
    """A config with one endpoint (``/ping`` on the sink) and one agent posting to the sink."""
    body = {
        "name": "agent-under-test",
        "consumer": {"topic": "*.bar", "workers": 1},
        "connection": {"backoff_strategy": "linear"},  # the first attempt at once
        "backend": [{"host": [sink.url], "url_pattern": "/sink", "method": "POST"}],
        "extra_config": {"async/amqp": {"host": url, **amqp}},
    }
    for key, value in agent.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) and key in body else value
    return {
        "version": 3,
        "endpoints": [{"endpoint": "/ping", "backend": [{"host": [sink.url], "url_pattern": "/ping"}]}],
        "async_agent": [body],
    }


Publish = Callable[..., Awaitable[None]]


@pytest.fixture
async def publisher() -> AsyncIterator[Callable[[str], Awaitable[Publish]]]:
    """``publish = await publisher(url)``; ``await publish(exchange, key, *bodies)``."""
    connections: list[aiormq.abc.AbstractConnection] = []

    async def open_(url: str) -> Publish:
        connection = await aiormq.connect(url)
        connections.append(connection)
        channel = await connection.channel()

        async def publish(exchange: str, key: str, *bodies: bytes) -> None:
            await channel.exchange_declare(exchange, exchange_type="topic")
            for body in bodies:
                await channel.basic_publish(body, exchange=exchange, routing_key=key)

        return publish

    yield open_
    for connection in connections:
        await connection.close()


async def queue_depth(url: str, queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of ``queue``, asked of the broker."""
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        declared = await channel.queue_declare(queue, passive=True)
        return declared.message_count or 0, declared.consumer_count or 0
    finally:
        await connection.close()
