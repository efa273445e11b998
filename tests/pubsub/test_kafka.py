"""``kafka://`` publishers through the gateway against a Kafka wire-protocol stand-in on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import make_config
from tests.pubsub.kafka_broker import KafkaBroker


@pytest.fixture
async def broker(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[KafkaBroker]:
    found = KafkaBroker(("orders",))
    address = await found.start()
    monkeypatch.setenv("KAFKA_BROKERS", f"{address}, ")
    try:
        yield found
    finally:
        await found.stop()


def _config(topic_url: str = "orders") -> dict[str, Any]:
    return make_config(
        [
            {
                "endpoint": "/pub",
                "method": "POST",
                "timeout": "3s",
                "input_headers": ["X-Tenant"],
                "backend": [
                    {
                        "host": ["kafka://"],
                        "disable_host_sanitize": True,
                        "url_pattern": "/",
                        "extra_config": {"backend/pubsub/publisher": {"topic_url": topic_url}},
                    }
                ],
            }
        ]
    )


async def test_kafka_publish_sends_body_and_headers(gateway: Any, broker: KafkaBroker) -> None:
    client = await gateway(_config())
    response = await client.post("/pub", json={"id": 1}, headers={"X-Tenant": "acme"})
    assert (response.status, await response.json()) == (200, {})
    [record] = broker.records
    assert (record.topic, record.key, record.value) == ("orders", None, b'{"id": 1}')
    assert ("X-Tenant", b"acme") in record.headers


async def test_kafka_key_name_sets_the_record_key(gateway: Any, broker: KafkaBroker) -> None:
    client = await gateway(_config("orders?key_name=X-Tenant"))
    await client.post("/pub", data=b"a", headers={"X-Tenant": "acme"})
    await client.post("/pub", data=b"b")
    assert [(r.key, r.value) for r in broker.records] == [(b"acme", b"a"), (None, b"b")]
    assert not [h for h in broker.records[0].headers if h[0] == "X-Tenant"]  # the key, not a header


async def test_kafka_broker_down_fails_then_recovers(gateway: Any, broker: KafkaBroker) -> None:
    port = broker.port
    await broker.stop()
    client = await gateway(_config())
    failed = await client.post("/pub", data=b"lost")
    assert failed.status == 500
    await broker.start(port)
    ok = await client.post("/pub", data=b"kept")
    assert ok.status == 200
    assert [r.value for r in broker.records] == [b"kept"]


async def test_kafka_unknown_topic_fails_at_the_endpoint_timeout(gateway: Any, broker: KafkaBroker) -> None:
    doc = _config("missing")
    doc["endpoints"][0]["timeout"] = "500ms"
    client = await gateway(doc)
    response = await client.post("/pub", data=b"x")
    assert response.status == 500
    assert broker.records == []


async def test_kafka_without_brokers_fails_each_call(gateway: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BROKERS", raising=False)
    client = await gateway(_config())
    assert (await client.post("/pub", data=b"x")).status == 500
    await asyncio.sleep(0)
