"""``backend/amqp/consumer`` on a real RabbitMQ: each call answers one message, decoded by the
backend's encoding and formatted; a body that does not decode is nacked."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiormq

from krakenpy.components.backend.amqp.consumer import COMPONENT
from krakenpy.config.build import build_service
from krakenpy.gateway import Gateway, build_gateway
from tests.conftest import make_config
from tests.rabbitmq_server import RabbitNode, unique
from tests.server.process import Gateway as Cli
from tests.server.process import wait_http, write_json
from tests.server.wirekit import gateway_server


def _doc(url: str, queue: str, exchange: str, **backend: Any) -> dict[str, Any]:
    options = {"name": queue, "exchange": exchange, "routing_key": ["orders.*"], "nack_discard": True}
    return make_config(
        [
            {
                "endpoint": "/next",
                "timeout": "1s",
                "backend": [
                    {
                        "host": [url],
                        "disable_host_sanitize": True,
                        "url_pattern": "/",
                        "extra_config": {"backend/amqp/consumer": options},
                        **backend,
                    }
                ],
            }
        ]
    )


async def _serving(doc: dict[str, Any]) -> tuple[Gateway, Any]:
    from aiohttp.test_utils import TestClient

    gw = await build_gateway(build_service(doc))
    await gw.start()  # the consumer connects once the gateway serves
    client: TestClient[Any, Any] = TestClient(await gateway_server(gw.edge))
    await client.start_server()
    return gw, client


async def _publish(url: str, exchange: str, key: str, *bodies: bytes) -> None:
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        await channel.exchange_declare(exchange, exchange_type="topic")
        for body in bodies:
            await channel.basic_publish(body, exchange=exchange, routing_key=key)
    finally:
        await connection.close()


async def _depth(url: str, queue: str) -> int:
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        return (await channel.queue_declare(queue, passive=True)).message_count or 0
    finally:
        await connection.close()


def test_consumer_component_is_an_executor() -> None:
    assert COMPONENT.layers == ("executor",) and COMPONENT.levels == frozenset({"backend"})


async def test_consumer_answers_one_message_per_call(rabbitmq: RabbitNode) -> None:
    queue, exchange = unique("q"), unique("ex")
    gw, client = await _serving(_doc(rabbitmq.url, queue, exchange, allow=["id"]))
    try:
        async with asyncio.timeout(10):  # the queue exists once the consumer attached
            while True:
                try:
                    await _depth(rabbitmq.url, queue)
                    break
                except aiormq.exceptions.AMQPError:
                    await asyncio.sleep(0.05)
        await _publish(rabbitmq.url, exchange, "orders.new", b'{"id": 1, "secret": "x"}', b'{"id": 2}')
        first = await client.get("/next")
        second = await client.get("/next")
        assert (first.status, await first.json()) == (200, {"id": 1})  # the backend's allow applies
        assert (second.status, await second.json()) == (200, {"id": 2})
        empty = await client.get("/next")  # nothing left: waits until the endpoint's timeout
        assert empty.status == 500
        assert await _depth(rabbitmq.url, queue) == 0
    finally:
        await client.close()
        await gw.close()


async def test_consumer_body_that_does_not_decode_is_nacked(rabbitmq: RabbitNode) -> None:
    queue, exchange = unique("q"), unique("ex")
    gw, client = await _serving(_doc(rabbitmq.url, queue, exchange))
    try:
        async with asyncio.timeout(10):
            while True:
                try:
                    await _depth(rabbitmq.url, queue)
                    break
                except aiormq.exceptions.AMQPError:
                    await asyncio.sleep(0.05)
        await _publish(rabbitmq.url, exchange, "orders.bad", b"not json", b'{"ok": true}')
        assert (await client.get("/next")).status == 500  # nacked and (nack_discard) dropped
        good = await client.get("/next")
        assert (good.status, await good.json()) == (200, {"ok": True})
    finally:
        await client.close()
        await gw.close()


async def _declared(url: str, queue: str) -> None:
    async with asyncio.timeout(10):  # the queue exists once the consumer's session declared it
        while True:
            try:
                await _depth(url, queue)
                return
            except aiormq.exceptions.AMQPError:
                await asyncio.sleep(0.05)


async def test_consumer_body_that_does_not_decode_is_requeued(rabbitmq: RabbitNode) -> None:
    queue, exchange = unique("q"), unique("ex")
    doc = _doc(rabbitmq.url, queue, exchange)
    doc["endpoints"][0]["backend"][0]["extra_config"]["backend/amqp/consumer"]["nack_discard"] = False
    gw, client = await _serving(doc)
    try:
        await _declared(rabbitmq.url, queue)
        await _publish(rabbitmq.url, exchange, "orders.bad", b"not json")
        assert (await client.get("/next")).status == 500
        assert await _depth(rabbitmq.url, queue) == 1  # nacked back to the queue, not acked
    finally:
        await client.close()
        await gw.close()


async def test_consumer_call_before_the_session_waits_for_a_message(rabbitmq: RabbitNode) -> None:
    queue, exchange = unique("q"), unique("ex")
    gw, client = await _serving(_doc(rabbitmq.url, queue, exchange))
    try:
        call = asyncio.ensure_future(client.get("/next"))  # sent before the consumer is connected
        await _declared(rabbitmq.url, queue)
        await _publish(rabbitmq.url, exchange, "orders.new", b'{"early": true}')
        response = await call
        assert (response.status, await response.json()) == (200, {"early": True})
    finally:
        await client.close()
        await gw.close()


async def test_consumer_auto_ack_keeps_unread_messages_in_the_queue(rabbitmq: RabbitNode) -> None:
    queue, exchange = unique("q"), unique("ex")
    doc = _doc(rabbitmq.url, queue, exchange)
    doc["endpoints"][0]["backend"][0]["extra_config"]["backend/amqp/consumer"]["auto_ack"] = True
    gw, client = await _serving(doc)
    try:
        await _declared(rabbitmq.url, queue)
        await _publish(rabbitmq.url, exchange, "orders.new", *[b'{"n": %d}' % i for i in range(50)])
        first = await client.get("/next")
        assert (first.status, await first.json()) == (200, {"n": 0})
    finally:
        await client.close()
        await gw.close()
    assert await _depth(rabbitmq.url, queue) == 49  # only the message a call took is gone


def test_consumer_cli_workers_each_answer_from_the_shared_queue(tmp_path: Path, rabbitmq: RabbitNode) -> None:
    from tests.conftest import free_port

    port, queue, exchange = free_port(), unique("q"), unique("ex")
    doc = _doc(rabbitmq.url, queue, exchange)
    doc["port"] = port
    doc["endpoints"][0]["timeout"] = "3s"
    cli = Cli(write_json(tmp_path / "krakend.json", doc), "-w", "3", cwd=tmp_path)
    try:
        cli.worker_pids(3)
        wait_http(f"http://127.0.0.1:{port}/__health")
        asyncio.run(_declared(rabbitmq.url, queue))
        time.sleep(1)  # every worker's session is up
        asyncio.run(_publish(rabbitmq.url, exchange, "orders.new", *[b'{"n": %d}' % i for i in range(6)]))
        got = []
        for _ in range(6):  # a new connection each: the kernel spreads them over the workers
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/next", timeout=10) as response:
                got.append(response.read())  # a timeout (500) would raise
        assert sorted(got) == [b'{"n":%d}' % i for i in range(6)]
    finally:
        cli.stop()


async def test_consumer_queue_deleted_is_declared_again(rabbitmq: RabbitNode) -> None:
    queue, exchange = unique("q"), unique("ex")
    doc = _doc(rabbitmq.url, queue, exchange)
    doc["endpoints"][0]["timeout"] = "5s"  # the session reconnects after its backoff (1 s)
    gw, client = await _serving(doc)
    try:
        await _declared(rabbitmq.url, queue)
        connection = await aiormq.connect(rabbitmq.url)
        try:
            await (await connection.channel()).queue_delete(queue)
        finally:
            await connection.close()
        call = asyncio.ensure_future(client.get("/next"))  # its get fails: the session reconnects
        await asyncio.sleep(0.2)
        await _declared(rabbitmq.url, queue)
        await _publish(rabbitmq.url, exchange, "orders.new", b'{"again": true}')
        response = await call
        assert (response.status, await response.json()) == (200, {"again": True})
    finally:
        await client.close()
        await gw.close()


async def test_consumer_check_connects_nowhere(dead_port: int) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{dead_port}/"
    gw = await build_gateway(build_service(_doc(url, "q", "e")), serving=False)
    try:
        assert len(gw.resources.on_serve) == 1  # the connection starts only with Gateway.start
    finally:
        await gw.close()
