"""``backend/pubsub/subscriber`` (and its publisher) on ``mem://`` topics through the gateway: order,
filters, ack deadlines, timeouts, ``no-op``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import make_config


def _pub(topic: str = "events", **backend: Any) -> dict[str, Any]:
    return {
        "endpoint": "/pub",
        "method": "POST",
        "backend": [
            {
                "host": ["mem://"],
                "disable_host_sanitize": True,
                "url_pattern": "/",
                "extra_config": {"backend/pubsub/publisher": {"topic_url": topic}},
                **backend,
            }
        ],
    }


def _sub(subscription: str = "events", endpoint: str = "/sub", **backend: Any) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "timeout": "300ms",
        "backend": [
            {
                "host": ["mem://"],
                "disable_host_sanitize": True,
                "url_pattern": "/",
                "extra_config": {"backend/pubsub/subscriber": {"subscription_url": subscription}},
                **backend,
            }
        ],
    }


async def test_mem_publish_then_subscribe_in_order(gateway: Any) -> None:
    client = await gateway(make_config([_pub(), _sub()]))
    for n in (1, 2):
        response = await client.post("/pub", json={"n": n})
        assert response.status == 200
        assert await response.json() == {}
    first = await client.get("/sub")
    second = await client.get("/sub")
    assert (first.status, await first.json()) == (200, {"n": 1})
    assert (second.status, await second.json()) == (200, {"n": 2})


async def test_mem_subscriber_applies_the_backend_filters(gateway: Any) -> None:
    client = await gateway(make_config([_pub(), _sub(allow=["keep"], mapping={"keep": "kept"})]))
    await client.post("/pub", json={"keep": 1, "drop": 2})
    response = await client.get("/sub")
    assert await response.json() == {"kept": 1}


async def test_mem_subscriber_without_message_fails_at_the_timeout_and_loses_nothing(gateway: Any) -> None:
    client = await gateway(make_config([_pub(), _sub()]))
    waited = await client.get("/sub")
    assert waited.status == 500
    assert waited.headers["X-Krakend-Completed"] == "false"
    await client.post("/pub", json={"late": True})
    response = await client.get("/sub")
    assert await response.json() == {"late": True}


async def test_mem_undecodable_message_comes_back_after_the_ack_deadline(
    gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await gateway(make_config([_pub(), _sub("events?ackdeadline=100ms")]))
    await client.post("/pub", data=b"not json")
    assert (await client.get("/sub")).status == 500  # not acknowledged
    await client.post("/pub", json={"next": 1})
    assert await (await client.get("/sub")).json() == {"next": 1}
    await asyncio.sleep(0.2)  # the first one's deadline passed: it is delivered again
    caplog.clear()
    assert (await client.get("/sub")).status == 500
    assert "invalid JSON" in caplog.text  # the same message again, not the timeout
    assert "deadline" not in caplog.text


async def test_mem_acknowledged_message_is_not_delivered_again(gateway: Any) -> None:
    client = await gateway(make_config([_pub(), _sub("events?ackdeadline=50ms")]))
    await client.post("/pub", json={"once": 1})
    assert await (await client.get("/sub")).json() == {"once": 1}
    await asyncio.sleep(0.1)
    assert (await client.get("/sub")).status == 500  # nothing left: the timeout


async def test_mem_every_subscription_gets_every_message(gateway: Any) -> None:
    client = await gateway(make_config([_pub(), _sub(), _sub(endpoint="/sub2")]))
    await client.post("/pub", json={"all": 1})
    assert await (await client.get("/sub")).json() == {"all": 1}
    assert await (await client.get("/sub2")).json() == {"all": 1}


async def test_mem_noop_subscriber_returns_the_message_body(gateway: Any) -> None:
    sub = _sub(encoding="no-op")
    sub["output_encoding"] = "no-op"
    client = await gateway(make_config([_pub(), sub]))
    await client.post("/pub", data=b"<raw/>")
    response = await client.get("/sub")
    assert (response.status, await response.read()) == (200, b"<raw/>")


async def test_mem_publisher_sends_first_header_values_as_metadata() -> None:
    from krakenpy.proxy.types import Request
    from krakenpy.pubsub.backend import publisher_proxy
    from krakenpy.pubsub.mem import MemSubscription, MemTopic

    subscription = MemSubscription(60.0)
    topic = MemTopic("t", [subscription])
    request = Request("POST", "/", {}, {"X-Tenant": ["acme", "other"], "Empty": []}, {}, body=b"payload")
    response = await publisher_proxy(topic)(request)
    assert (response.data, response.is_complete) == ({}, True)
    message = await subscription.receive()
    assert (message.body, message.metadata) == (b"payload", {"X-Tenant": "acme"})
