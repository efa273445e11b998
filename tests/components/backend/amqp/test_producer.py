"""``backend/amqp/producer`` on a real RabbitMQ: the request body published with the routing key and
properties its parameters give; a broker that is down is a fast backend error."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiormq
import pytest
from aiormq.abc import DeliveredMessage

from krakenpy.components.backend.amqp.producer import COMPONENT
from krakenpy.errors import ConfigError
from tests.components.helpers import site
from tests.conftest import make_config
from tests.rabbitmq_server import RabbitNode, unique


def _endpoint(url: str, exchange: str, **producer: Any) -> dict[str, Any]:
    options = {"name": "ignored", "exchange": exchange, "routing_key": "Route", "msg_id_key": "Id", **producer}
    return {
        "endpoint": "/produce/{route}/{id}",
        "method": "POST",
        "backend": [
            {
                "host": [url],
                "disable_host_sanitize": True,
                "url_pattern": "/",
                "extra_config": {"backend/amqp/producer": options},
            }
        ],
    }


async def _bound_queue(url: str, exchange: str) -> tuple[aiormq.abc.AbstractConnection, str]:
    connection = await aiormq.connect(url)
    channel = await connection.channel()
    await channel.exchange_declare(exchange, exchange_type="topic")
    queue = (await channel.queue_declare(unique("q"), auto_delete=True)).queue
    await channel.queue_bind(queue, exchange, routing_key="#")
    return connection, queue


async def _get(connection: aiormq.abc.AbstractConnection, queue: str) -> DeliveredMessage:
    channel = await connection.channel()
    async with asyncio.timeout(5):
        while True:
            try:
                return await channel.basic_get(queue, no_ack=True)
            except aiormq.exceptions.AMQPError:
                channel = await connection.channel()
            await asyncio.sleep(0.05)


def test_producer_component_is_an_executor_and_needs_a_host() -> None:
    assert COMPONENT.layers == ("executor",)
    doc = {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/"}]}]}
    with pytest.raises(ConfigError) as info:
        COMPONENT.parse({"exchange": "e"}, site("backend/amqp/producer", "backend", doc))
    assert info.value.issues[0].path == "endpoints[0].backend[0].extra_config.backend/amqp/producer"


async def test_producer_publishes_the_body_with_the_parameters(rabbitmq: RabbitNode, gateway) -> None:
    exchange = unique("ex")
    connection, queue = await _bound_queue(rabbitmq.url, exchange)
    try:
        client = await gateway(make_config([_endpoint(rabbitmq.url, exchange)]))
        response = await client.post(
            "/produce/orders.new/m-42", data=b'{"order": 1}', headers={"Content-Type": "application/json"}
        )
        assert response.status == 200 and await response.json() == {}
        message = await _get(connection, queue)
        assert message.body == b'{"order": 1}'
        assert message.routing_key == "orders.new"
        assert message.header.properties.message_id == "m-42"
        assert message.header.properties.content_type == "application/json"
    finally:
        await connection.close()


async def test_producer_static_routing_key(rabbitmq: RabbitNode, gateway) -> None:
    exchange = unique("ex")
    connection, queue = await _bound_queue(rabbitmq.url, exchange)
    try:
        endpoint = _endpoint(rabbitmq.url, exchange, routing_key="fixed.key", static_routing_key=True)
        client = await gateway(make_config([endpoint]))
        assert (await client.post("/produce/ignored/1", data=b"x")).status == 200
        assert (await _get(connection, queue)).routing_key == "fixed.key"
    finally:
        await connection.close()


async def test_producer_broker_down_is_a_backend_error_without_the_password(
    gateway, dead_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"amqp://guest:pr0ducer-secret@127.0.0.1:{dead_port}/"
    caplog.set_level(logging.DEBUG, logger="krakenpy")
    client = await gateway(make_config([_endpoint(url, "ex", backoff_strategy="linear")]))
    first = await client.post("/produce/a/1", data=b"x")
    again = await client.post("/produce/a/2", data=b"x")  # within the backoff: no new attempt
    assert (first.status, again.status) == (500, 500)
    assert "pr0ducer-secret" not in caplog.text + await first.text() + await again.text()
    attempts = [r for r in caplog.records if "cannot connect the producer" in r.getMessage()]
    assert len(attempts) == 1


async def test_producer_unroutable_mandatory_message_fails_alone(
    rabbitmq: RabbitNode, gateway, caplog: pytest.LogCaptureFixture
) -> None:
    exchange = unique("ex")
    connection = await aiormq.connect(rabbitmq.url)
    try:
        channel = await connection.channel()
        await channel.exchange_declare(exchange, exchange_type="topic")
        queue = (await channel.queue_declare(unique("q"), auto_delete=True)).queue
        await channel.queue_bind(queue, exchange, routing_key="good")
        client = await gateway(make_config([_endpoint(rabbitmq.url, exchange, mandatory=True)]))
        assert (await client.post("/produce/good/0", data=b"warm")).status == 200
        routes = ["good" if i % 2 == 0 else "nowhere" for i in range(20)]
        with caplog.at_level(logging.DEBUG, logger="krakenpy"):
            responses = await asyncio.gather(
                *(client.post(f"/produce/{r}/{i}", data=b"x") for i, r in enumerate(routes))
            )
        statuses = {
            r: {resp.status for route, resp in zip(routes, responses, strict=True) if route == r} for r in set(routes)
        }
        assert statuses == {"good": {200}, "nowhere": {500}}  # a returned message closes nothing
        assert "Traceback" not in caplog.text
        assert (await channel.queue_declare(queue, passive=True)).message_count == 11
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("route", "msg_id", "prio", "exp", "status"),
    [
        ("ok", "1", "5", "1000", 200),
        ("ok", "1", "300", "1000", 500),  # priority is an octet
        ("ok", "1", "²", "1000", 200),  # not an ASCII number: ignored, as any other non-number
        ("ok", "i" * 300, "1", "1000", 500),  # a short string is at most 255 bytes
        ("r" * 300, "1", "1", "1000", 500),
        ("ok", "1", "1", "abc", 500),  # RabbitMQ would close the channel
    ],
    ids=["valid", "priority-300", "priority-superscript", "long-id", "long-key", "bad-expiration"],
)
async def test_producer_invalid_parameter_is_a_backend_error(
    rabbitmq: RabbitNode,
    gateway,
    caplog: pytest.LogCaptureFixture,
    route: str,
    msg_id: str,
    prio: str,
    exp: str,
    status: int,
) -> None:
    exchange = unique("ex")
    connection, queue = await _bound_queue(rabbitmq.url, exchange)
    try:
        endpoint = _endpoint(rabbitmq.url, exchange, priority_key="Prio", exp_key="Exp")
        endpoint["endpoint"] = "/produce/{route}/{id}/{prio}/{exp}"
        client = await gateway(make_config([endpoint]))
        with caplog.at_level(logging.DEBUG, logger="krakenpy"):
            response = await client.post(f"/produce/{route}/{msg_id}/{prio}/{exp}", data=b"x")
            assert response.status == status
            after = await client.post("/produce/after/2/1/1000", data=b"after")  # the channel still works
        assert after.status == 200
        assert "Traceback" not in caplog.text
        assert (await _get(connection, queue)).body == (b"x" if status == 200 else b"after")
    finally:
        await connection.close()


async def test_producer_silent_broker_costs_one_deadline_and_one_log(gateway, caplog: pytest.LogCaptureFixture) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def blackhole(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accepts TCP and never answers the AMQP handshake

    server = await asyncio.start_server(blackhole, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        endpoint = _endpoint(f"amqp://guest:guest@127.0.0.1:{port}/", "ex")
        endpoint["timeout"] = "300ms"
        client = await gateway(make_config([endpoint]))
        with caplog.at_level(logging.DEBUG, logger="krakenpy"):
            statuses = [(await client.post(f"/produce/a/{i}", data=b"x")).status for i in range(3)]
        assert statuses == [500, 500, 500]
        assert len(accepted) == 1  # one attempt in flight, not one per call
        stalls = [r for r in caplog.records if "does not answer the producer" in r.getMessage()]
        assert [r.levelno for r in stalls] == [logging.ERROR]
    finally:
        for writer in accepted:
            writer.close()
        server.close()
