"""``awssns:///<topic ARN>`` and ``awssqs://<queue host/path>`` (gocloud's awssnssqs) through
aiobotocore: topics publish to SNS or straight to an SQS queue, subscriptions read an SQS queue.

Region: the URL's ``region``, else the one of an ``sqs.<region>.amazonaws.com`` host, else botocore's
(``AWS_REGION``, the profile). Credentials: botocore's default chain, walked on the first call (the
session the Lambda backends use). ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_SQS`` / ``…_SNS`` point
the clients elsewhere (botocore reads them). As gocloud: metadata travels as String message
attributes (names outside ``[A-Za-z0-9_.-]`` hex-escaped as ``__0x2f__``), a body that is not UTF-8
is sent base64-encoded with the attribute ``base64encoded``; a subscription without ``raw=true``
unwraps SNS notifications; a message is deleted once used.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from typing import Any, Final

import orjson

from krakenpy.errors import BackendError
from krakenpy.pubsub.driver import Message
from krakenpy.pubsub.urls import DriverURL
from krakenpy.resources import Resources

__all__ = ["AwsClients", "SnsTopic", "SqsSubscription", "SqsTopic", "escape_name", "unescape_name"]

_BASE64: Final = "base64encoded"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.\-]")
_ESCAPED: Final = re.compile(r"__0x([0-9a-f]+)__")
_SQS_HOST: Final = re.compile(r"^sqs[.-]([a-z0-9-]+)\.amazonaws\.com")
#: long polling (SQS' maximum); the endpoint's timeout cancels the wait earlier
_WAIT: Final = 20


def escape_name(name: str) -> str:
    """An attribute name SQS and SNS accept (gocloud's hex escape)."""
    return _UNSAFE.sub(lambda m: f"__0x{ord(m.group(0)):x}__", name)


def unescape_name(name: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), name)


class AwsClients:
    """The gateway's SNS and SQS clients by (service, region), opened on first use."""

    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = asyncio.Lock()

    async def client(self, service: str, region: str) -> Any:
        key = (service, region)
        found = self._clients.get(key)
        if found is not None:
            return found
        async with self._lock:
            if key not in self._clients:
                from krakenpy.lambda_.credentials import session

                aws = session(self._resources)
                try:
                    maker = aws.create_client(service, region_name=region or None)  # type: ignore[call-overload]
                    self._clients[key] = await maker.__aenter__()
                except Exception as exc:  # no region anywhere, a broken profile
                    raise BackendError(f"{service}: cannot open a client: {type(exc).__name__}") from None
                self._resources.stack.push_async_callback(maker.__aexit__, None, None, None)
            return self._clients[key]

    async def close(self) -> None:
        return None  # each client is closed by the gateway's exit stack


def _region(url: DriverURL) -> str:
    region = url.param("region")
    if region:
        return region
    match = _SQS_HOST.match(url.name)
    return match.group(1) if match else ""


def _encode(body: bytes, metadata: dict[str, str]) -> tuple[str, dict[str, Any]]:
    attributes = {escape_name(k): {"DataType": "String", "StringValue": v} for k, v in metadata.items() if v}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = base64.b64encode(body).decode("ascii")
        attributes[_BASE64] = {"DataType": "String", "StringValue": "true"}
    return text, attributes


async def _call(action: str, coroutine: Any) -> Any:
    try:
        return await coroutine
    except BackendError:
        raise
    except Exception as exc:  # botocore's ClientError names the code; its message can echo input
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "") if hasattr(exc, "response") else ""
        raise BackendError(f"{action} failed: {code or type(exc).__name__}") from None


class SnsTopic:
    """``awssns:///arn:aws:sns:REGION:ACCOUNT:NAME``: one ``Publish`` per call."""

    def __init__(self, clients: AwsClients, url: DriverURL) -> None:
        self._arn = url.name.lstrip("/")
        if not self._arn.startswith("arn:"):
            raise BackendError(f"awssns: {url.text!r} is not awssns:///<topic ARN>")
        parts = self._arn.split(":")
        self._region = url.param("region") or (parts[3] if len(parts) > 3 else "")
        self._clients = clients

    async def send(self, body: bytes, metadata: dict[str, str]) -> None:
        client = await self._clients.client("sns", self._region)
        text, attributes = _encode(body, metadata)
        await _call("sns publish", client.publish(TopicArn=self._arn, Message=text, MessageAttributes=attributes))

    async def close(self) -> None:
        return None


def _queue_url(url: DriverURL) -> str:
    if not url.name or "/" not in url.name:
        raise BackendError(f"awssqs: {url.text!r} is not awssqs://<queue host>/<account>/<queue>")
    return "https://" + url.name


class SqsTopic:
    """``awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE`` as a topic: one ``SendMessage`` per call."""

    def __init__(self, clients: AwsClients, url: DriverURL) -> None:
        self._queue = _queue_url(url)
        self._region = _region(url)
        self._clients = clients

    async def send(self, body: bytes, metadata: dict[str, str]) -> None:
        client = await self._clients.client("sqs", self._region)
        text, attributes = _encode(body, metadata)
        await _call(
            "sqs send", client.send_message(QueueUrl=self._queue, MessageBody=text, MessageAttributes=attributes)
        )

    async def close(self) -> None:
        return None


class SqsSubscription:
    """Long-polls one message per request; deletes it once used (left alone, SQS shows it again
    after the queue's visibility timeout)."""

    def __init__(self, clients: AwsClients, url: DriverURL) -> None:
        self._queue = _queue_url(url)
        self._region = _region(url)
        self._raw = url.param("raw").lower() == "true"
        self._clients = clients

    async def receive(self) -> Message:
        client = await self._clients.client("sqs", self._region)
        while True:
            answer = await _call(
                "sqs receive",
                client.receive_message(
                    QueueUrl=self._queue, MaxNumberOfMessages=1, WaitTimeSeconds=_WAIT, MessageAttributeNames=["All"]
                ),
            )
            for message in answer.get("Messages") or ():
                return self._decode(message)

    def _decode(self, message: dict[str, Any]) -> Message:
        body = str(message.get("Body", ""))
        attributes = {k: str(v.get("StringValue", "")) for k, v in (message.get("MessageAttributes") or {}).items()}
        if not self._raw:
            body, attributes = _unwrap_sns(body, attributes)
        data = body.encode("utf-8")
        if attributes.pop(_BASE64, "") == "true":
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise BackendError("awssqs: a base64encoded message is not base64") from None
        metadata = {unescape_name(k): v for k, v in attributes.items()}
        return Message(data, metadata, str(message.get("ReceiptHandle", "")))

    async def ack(self, message: Message) -> None:
        client = await self._clients.client("sqs", self._region)
        await _call("sqs delete", client.delete_message(QueueUrl=self._queue, ReceiptHandle=message.ack_id))

    async def nack(self, message: Message) -> None:
        return None  # comes back after its ack deadline / visibility timeout (NATS core: never)

    async def close(self) -> None:
        return None


def _unwrap_sns(body: str, attributes: dict[str, str]) -> tuple[str, dict[str, str]]:
    """An SNS notification's ``Message`` and attributes (SNS to SQS without raw delivery)."""
    if not body.startswith("{"):
        return body, attributes
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body, attributes
    if not isinstance(envelope, dict) or envelope.get("Type") != "Notification" or "Message" not in envelope:
        return body, attributes
    found = envelope.get("MessageAttributes") or {}
    unwrapped = {k: str(v.get("Value", "")) for k, v in found.items() if isinstance(v, dict)}
    return str(envelope["Message"]), unwrapped
