"""``gcppubsub://projects/P/topics/T`` or ``gcppubsub://P/T`` (subscriptions alike, with
``subscriptions``): Google Cloud Pub/Sub through its REST API.

With ``PUBSUB_EMULATOR_HOST`` (as Google's libraries) calls go to ``http://<host>`` without
credentials; otherwise to ``https://pubsub.googleapis.com`` (``KRAKENPY_PUBSUB_GCP_URL`` replaces it)
with an OAuth2 token from Application Default Credentials (``google-auth``: the
``GOOGLE_APPLICATION_CREDENTIALS`` key file, gcloud's user credentials or the metadata server),
refreshed in a thread before it expires. A message is acknowledged after it was used; one that
could not be decoded is left to come back after the subscription's ack deadline (as KrakenD).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from typing import Any, Final

import aiohttp
import orjson

from krakenpy.errors import BackendError
from krakenpy.pubsub.driver import Message
from krakenpy.pubsub.urls import DriverURL

__all__ = ["GcpClient", "GcpSubscription", "GcpTopic", "resource_name"]

_SCOPE: Final = "https://www.googleapis.com/auth/pubsub"
_PUBLIC: Final = "https://pubsub.googleapis.com"
#: a pull that returned nothing is asked again after this (the emulator answers at once)
_IDLE: Final = 0.2
#: after credentials could not be found or refreshed, calls fail at once for this long
_RETRY_AFTER: Final = 5.0


def resource_name(url: DriverURL, kind: str) -> str:
    """``projects/P/<kind>/N`` from either URL form; ``BackendError`` for anything else."""
    parts = url.name.split("/")
    if len(parts) == 4 and parts[0] == "projects" and parts[2] == kind and parts[1] and parts[3]:
        return url.name
    if len(parts) == 2 and all(parts):
        return f"projects/{parts[0]}/{kind}/{parts[1]}"
    raise BackendError(f"gcppubsub: {url.text!r} is not gcppubsub://projects/P/{kind}/N or gcppubsub://P/N")


class GcpClient:
    """The HTTP session and the token of one gateway, both made on first use."""

    def __init__(self) -> None:
        emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
        self.base = f"http://{emulator}" if emulator else os.environ.get("KRAKENPY_PUBSUB_GCP_URL") or _PUBLIC
        self.anonymous = bool(emulator)
        self._session: aiohttp.ClientSession | None = None
        self._credentials: Any = None
        self._lock = asyncio.Lock()
        self._failed_at = -_RETRY_AFTER

    async def _token(self) -> str:
        credentials = self._credentials
        if credentials is not None and credentials.valid:
            return str(credentials.token)
        async with self._lock:
            loop = asyncio.get_running_loop()
            if loop.time() - self._failed_at < _RETRY_AFTER:  # each call would walk the chain again
                raise BackendError("gcppubsub: no credentials (the last attempt failed moments ago)")
            try:
                if self._credentials is None:
                    self._credentials = await asyncio.to_thread(_default_credentials)
                if not self._credentials.valid:
                    await asyncio.to_thread(_refresh, self._credentials)
            except Exception:
                self._failed_at = loop.time()
                raise
            return str(self._credentials.token)

    async def call(self, resource: str, verb: str, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """POST ``/v1/<resource>:<verb>``; the answer's JSON object."""
        headers = {"Content-Type": "application/json"}
        if not self.anonymous:
            try:
                headers["Authorization"] = "Bearer " + await self._token()
            except BackendError:
                raise
            except Exception as exc:  # google-auth's errors carry the token server's text: not shown
                raise BackendError(f"gcppubsub: no credentials: {type(exc).__name__}") from None
        if self._session is None:
            self._session = aiohttp.ClientSession()
        url = f"{self.base}/v1/{resource}:{verb}"
        try:
            async with self._session.post(
                url, data=orjson.dumps(payload), headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as answer:
                body = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, OSError) as exc:
            raise BackendError(f"gcppubsub: {verb}: {type(exc).__name__}") from None
        if status != 200:
            raise BackendError(f"gcppubsub: {verb}: {_reason(body, status)}")
        try:
            found = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            raise BackendError(f"gcppubsub: {verb}: the answer is not JSON") from None
        return found if isinstance(found, dict) else {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _default_credentials() -> Any:
    import google.auth

    credentials, _project = google.auth.default(scopes=[_SCOPE])
    return credentials


def _refresh(credentials: Any) -> None:
    import urllib3
    from google.auth.transport.urllib3 import Request

    # a token server that never answers would hold a thread of the loop's default executor
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5.0, read=10.0))
    credentials.refresh(Request(http))  # type: ignore[no-untyped-call]


def _reason(body: bytes, status: int) -> str:
    """Google's ``error.status`` and ``error.message`` (short), or the HTTP status."""
    try:
        error = orjson.loads(body).get("error", {})
        return f"{status} {error.get('status', '')}: {str(error.get('message', ''))[:200]}"
    except (orjson.JSONDecodeError, AttributeError):
        return f"HTTP {status}"


class GcpTopic:
    """Publishes one message per call (``topics.publish``)."""

    def __init__(self, client: GcpClient, url: DriverURL) -> None:
        self._client = client
        self._topic = resource_name(url, "topics")

    async def send(self, body: bytes, metadata: dict[str, str]) -> None:
        message: dict[str, Any] = {"data": base64.b64encode(body).decode("ascii")}
        if metadata:
            message["attributes"] = metadata
        await self._client.call(self._topic, "publish", {"messages": [message]})

    async def close(self) -> None:
        return None


class GcpSubscription:
    """Pulls one message per request (``subscriptions.pull``), acknowledged after use."""

    def __init__(self, client: GcpClient, url: DriverURL) -> None:
        self._client = client
        self._subscription = resource_name(url, "subscriptions")

    async def receive(self) -> Message:
        while True:
            answer = await self._client.call(self._subscription, "pull", {"maxMessages": 1})
            for received in answer.get("receivedMessages") or ():
                message = received.get("message") or {}
                try:
                    body = base64.b64decode(message.get("data") or "", validate=True)
                except (binascii.Error, ValueError):
                    raise BackendError("gcppubsub: a message's data is not base64") from None
                attributes = message.get("attributes") or {}
                return Message(body, {str(k): str(v) for k, v in attributes.items()}, str(received.get("ackId", "")))
            await asyncio.sleep(_IDLE)

    async def ack(self, message: Message) -> None:
        if message.ack_id:
            await self._client.call(self._subscription, "acknowledge", {"ackIds": [message.ack_id]})

    async def nack(self, message: Message) -> None:
        return None  # comes back after its ack deadline / visibility timeout (NATS core: never)

    async def close(self) -> None:
        return None
