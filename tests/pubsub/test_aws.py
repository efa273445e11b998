"""``awssqs://`` and ``awssns://`` through the gateway against the AWS emulator (ministack, the one the
Lambda tests run) with SQS and SNS on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiobotocore.session import AioSession

from krakenpy.pubsub.aws import escape_name, unescape_name
from tests.conftest import make_config
from tests.lambda_.conftest import AWS_ENV, REGION, Emulator, ministack_bin, start_emulator

QUEUE_HOST = f"sqs.{REGION}.amazonaws.com/000000000000"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    binary = ministack_bin()
    if binary is None:
        pytest.skip("AWS emulator not installed: run `make install-emulator` or set MINISTACK_BIN")
    found = start_emulator(binary, "sqs,sns")
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
async def aws(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    """SQS and SNS clients on the emulator; the gateway finds it through AWS_ENDPOINT_URL."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.url)
    session = AioSession()
    async with (
        session.create_client("sqs", region_name=REGION, endpoint_url=emulator.url) as sqs,
        session.create_client("sns", region_name=REGION, endpoint_url=emulator.url) as sns,
    ):
        yield {"sqs": sqs, "sns": sns}


async def _queue(aws: dict[str, Any], name: str) -> str:
    created = await aws["sqs"].create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1"})
    return str(created["QueueUrl"])


async def _drain(aws: dict[str, Any], url: str) -> list[dict[str, Any]]:
    answer = await aws["sqs"].receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    )
    return list(answer.get("Messages") or [])


def _backend(namespace: str, key: str, host: str, value: str, **extra: Any) -> dict[str, Any]:
    return {
        "host": [host],
        "disable_host_sanitize": True,
        "url_pattern": "/",
        "extra_config": {namespace: {key: value}},
        **extra,
    }


def _config(topic_host: str, topic: str, queue: str, **sub: Any) -> dict[str, Any]:
    # 10 s endpoints, not 2 s and 3 s: on a loaded host a first publish (the client's set-up, its first
    # call to the emulator) took 2.9 s and was cut; no test here waits for an endpoint's deadline
    return make_config(
        [
            {
                "endpoint": "/pub",
                "timeout": "10s",
                "method": "POST",
                "input_headers": ["X-Tenant"],
                "backend": [_backend("backend/pubsub/publisher", "topic_url", topic_host, topic)],
            },
            {
                "endpoint": "/sub",
                "timeout": "10s",
                "backend": [_backend("backend/pubsub/subscriber", "subscription_url", "awssqs://", queue, **sub)],
            },
        ]
    )


def test_aws_attribute_names_escape_as_gocloud() -> None:
    assert escape_name("X-Tenant") == "X-Tenant"
    assert escape_name("a b/c") == "a__0x20__b__0x2f__c"
    assert unescape_name(escape_name("a b/c")) == "a b/c"


async def test_aws_sqs_publish_and_subscribe(gateway: Any, aws: dict[str, Any]) -> None:
    url = await _queue(aws, "orders")
    client = await gateway(_config("awssqs://", f"{QUEUE_HOST}/orders", f"{QUEUE_HOST}/orders?raw=true"))
    sent = await client.post("/pub", json={"id": 3}, headers={"X-Tenant": "acme"})
    assert (sent.status, await sent.json()) == (200, {})
    got = await client.get("/sub")
    assert (got.status, await got.json()) == (200, {"id": 3})
    assert await _drain(aws, url) == []  # deleted once used


async def test_aws_sqs_message_attributes_carry_the_headers(gateway: Any, aws: dict[str, Any]) -> None:
    url = await _queue(aws, "audit")
    client = await gateway(_config("awssqs://", f"{QUEUE_HOST}/audit", f"{QUEUE_HOST}/audit"))
    assert (await client.post("/pub", json={}, headers={"X-Tenant": "acme"})).status == 200
    [message] = await _drain(aws, url)
    assert message["MessageAttributes"]["X-Tenant"]["StringValue"] == "acme"


async def test_aws_sns_notification_is_unwrapped_from_its_envelope(gateway: Any, aws: dict[str, Any]) -> None:
    url = await _queue(aws, "fanout")
    arn = (await aws["sns"].create_topic(Name="events"))["TopicArn"]
    queue_arn = (await aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))["Attributes"]
    await aws["sns"].subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
    client = await gateway(_config("awssns://", f"/{arn}", f"{QUEUE_HOST}/fanout"))
    assert (await client.post("/pub", json={"via": "sns"})).status == 200
    got = await client.get("/sub")
    assert (got.status, await got.json()) == (200, {"via": "sns"})


async def test_aws_binary_body_travels_base64_encoded(gateway: Any, aws: dict[str, Any]) -> None:
    url = await _queue(aws, "binary")
    doc = _config("awssqs://", f"{QUEUE_HOST}/binary", f"{QUEUE_HOST}/binary", encoding="no-op")
    doc["endpoints"][1]["output_encoding"] = "no-op"
    client = await gateway(doc)
    payload = bytes(range(256))
    assert (await client.post("/pub", data=payload)).status == 200
    got = await client.get("/sub")
    assert (got.status, await got.read()) == (200, payload)
    assert await _drain(aws, url) == []


async def test_aws_undecodable_message_is_left_in_the_queue(gateway: Any, aws: dict[str, Any]) -> None:
    url = await _queue(aws, "poison")
    await aws["sqs"].send_message(QueueUrl=url, MessageBody="not json")
    client = await gateway(_config("awssqs://", f"{QUEUE_HOST}/poison", f"{QUEUE_HOST}/poison"))
    assert (await client.get("/sub")).status == 500
    again = await _drain(aws, url)  # visible again after the 1 s visibility timeout
    assert [m["Body"] for m in again] == ["not json"]


async def test_aws_without_region_fails_each_call(
    gateway: Any, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    client = await gateway(_config("awssqs://", "sqs.example/1/q", "sqs.example/1/q"))
    response = await client.post("/pub", json={})
    assert response.status == 500
