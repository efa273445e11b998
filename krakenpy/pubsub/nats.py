"""``nats://subject[?queue=group]`` (gocloud's natspubsub): NATS core publish/subscribe through
``nats-py``, the server from ``NATS_SERVER_URL`` as in KrakenD.

Metadata travels as NATS headers (gocloud's ``natsv2`` message format; servers since 2.2). NATS core
has no acknowledgement: a message is used once received. The workers of one gateway share a queue
group when the URL names none, so each message reaches one worker, as it reaches one KrakenD
process. Messages arriving while no request waits are kept, up to 64 MiB per subscription (as
nats.go's pending limit; newer ones are dropped beyond it, with a warning).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from krakenpy.errors import BackendError
from krakenpy.pubsub.driver import Message
from krakenpy.pubsub.urls import DriverURL
from krakenpy.server import saidonce
from krakenpy.tasks import cancel_and_wait, spawn

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

__all__ = ["NatsConnection", "NatsSubscription", "NatsTopic", "confirm", "server_url"]

log = logging.getLogger("krakenpy.pubsub")
_PENDING_BYTES: Final = 64 * 1024 * 1024
_CONNECT: Final = 2
#: after a failed connection attempt, calls fail at once for this long (N subscriptions starting
#: against a server that is down wait for one attempt, not N)
_RETRY_AFTER: Final = 2.0
ENV: Final = "NATS_SERVER_URL"


def server_url() -> str | None:
    """The server gocloud connects to; ``None`` when the variable is unset."""
    return os.environ.get(ENV) or None


class NatsConnection:
    """One connection per gateway, opened on first use and opened again after it failed."""

    def __init__(self) -> None:
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self._failed_at = -_RETRY_AFTER

    async def client(self) -> Client:
        found = self._client
        if found is not None and found.is_connected:
            return found
        async with self._lock:
            if self._client is not None and not self._client.is_closed:
                if self._client.is_connected:
                    return self._client
                raise BackendError("nats: not connected (reconnecting)")
            url = server_url()
            if url is None:
                raise BackendError(f"nats: {ENV} is not set")
            loop = asyncio.get_running_loop()
            if loop.time() - self._failed_at < _RETRY_AFTER:
                raise BackendError("nats: cannot connect (tried less than 2 s ago)")
            from nats.aio.client import Client

            client = Client()
            try:
                # reconnects forever once connected; nats-py would also retry the first connection
                # forever (max_reconnect_attempts=-1), so that one is cut after _CONNECT seconds
                await asyncio.wait_for(
                    client.connect(
                        servers=[url], connect_timeout=_CONNECT, allow_reconnect=True, max_reconnect_attempts=-1,
                        error_cb=_quiet, disconnected_cb=_disconnected(client), reconnected_cb=_reconnected,
                    ),
                    _CONNECT,
                )  # fmt: skip
            except Exception as exc:  # nats raises its own and OS errors alike
                self._failed_at = loop.time()
                await _close(client)  # a half-open attempt keeps its socket otherwise
                raise BackendError(f"nats: cannot connect: {type(exc).__name__}") from None
            self._client = client
            return client

    async def close(self) -> None:
        """Send what is buffered (drain) when connected; just close when not (a server that is gone)."""
        client = self._client
        if client is None or client.is_closed:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.drain(), 5)
        except Exception:  # a server that went away while draining: nothing more to send to
            pass
        finally:
            await _close(client)


async def _close(client: Client) -> None:
    if not client.is_closed:
        try:
            await client.close()
        except Exception as exc:  # closing a connection that never came up
            log.debug("nats: close: %s", exc)


async def _quiet(exc: Exception) -> None:
    log.debug("nats: %s", exc)


def _disconnected(client: Client) -> Callable[[], Awaitable[None]]:
    """nats-py's disconnection callback for ``client``: it calls it at its own close too (a reload's
    old gateway, the stop, a first connect that failed), which is no outage and no reconnecting."""

    async def disconnected() -> None:
        if client.is_closed:
            log.debug("nats: connection closed")
            return
        # each worker's connection; "reconnected" is about the same server: a line ends the other's fold
        saidonce.say(log, logging.WARNING, "nats: disconnected from the server, reconnecting", topic="nats")

    return disconnected


async def _reconnected() -> None:
    saidonce.say(log, logging.WARNING, "nats: reconnected", topic="nats")


async def confirm(client: Client, timeout: int = _CONNECT) -> None:
    """Return once the server has everything ``client`` sent so far (a subscription: messages
    published from now on reach it).

    One ``flush()`` does not say so in nats-py 2.16: its PING is written to the socket at once while
    the SUB that ``subscribe()`` left in the pending buffer waits for the flusher task, so the PONG
    can come back before the server read the SUB, and a message published meanwhile from another
    connection was lost (NATS core keeps nothing: tests/pubsub/test_nats.py failed now and then, a
    message "not received within 5 s", on a loaded machine). The first round trip lets the flusher
    write the pending commands; the second PING follows them on the wire."""
    await client.flush(timeout=timeout)
    await client.flush(timeout=timeout)


def _subject(url: DriverURL) -> str:
    if not url.name:
        raise BackendError(f"nats: {url.text!r} names no subject")
    return url.name


class NatsTopic:
    """Publishes to one subject (buffered by the client, as nats.go's Publish)."""

    def __init__(self, connection: NatsConnection, url: DriverURL) -> None:
        self._connection = connection
        self._subject = _subject(url)

    async def send(self, body: bytes, metadata: dict[str, str]) -> None:
        client = await self._connection.client()
        try:
            await client.publish(self._subject, body, headers=metadata or None)
        except Exception as exc:
            raise BackendError(f"nats: publish failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        return None


def _gateway_group(owner: str) -> str:
    """The queue group the workers of this gateway share for one backend: this host, the
    supervisor's pid (the parent of every worker) and the backend's JSON path, so other gateways and
    other backends subscribing to the subject still get every message."""
    return f"krakenpy.{socket.gethostname()}.{os.getppid()}.{owner}"


class NatsSubscription:
    """Subscribes when built (and again whenever the connection was replaced); messages go to a
    queue of ours (``next_msg`` can lose a message when its caller is cancelled)."""

    def __init__(self, connection: NatsConnection, url: DriverURL, owner: str = "") -> None:
        self._connection = connection
        self._subject = _subject(url)
        self._queue_group = url.param("queue") or _gateway_group(owner or self._subject)
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._bytes = 0
        self._subscription: Any = None
        self._subscribed_on: Client | None = None
        self._lock = asyncio.Lock()
        self._first: asyncio.Task[None] | None = None
        self._dropped = 0

    async def _take(self, msg: Msg) -> None:
        size = len(msg.data)
        if self._bytes + size > _PENDING_BYTES:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                log.warning("nats %s: %d messages dropped: nobody asked for them", self._subject, self._dropped)
            return
        self._bytes += size
        self._queue.put_nowait(Message(msg.data, dict(msg.headers or {})))

    def begin(self) -> None:
        """Subscribe in the background now (the gateway is being built to serve)."""
        self._first = spawn(self._try_subscribe())

    async def start(self) -> None:
        """When the gateway starts serving: wait for the first subscription (at most one connect
        timeout); a failure is logged and ``receive`` tries again."""
        if self._first is None:
            self.begin()
        assert self._first is not None
        await asyncio.shield(self._first)

    async def _try_subscribe(self) -> None:
        try:
            await self._subscribe()
        except BackendError as exc:
            saidonce.say(
                log,
                logging.ERROR,
                "[BACKEND: nats://%s][PubSub] cannot subscribe: %s",
                self._subject,
                exc,
                topic=f"nats {self._subject}",
            )

    async def _subscribe(self) -> None:
        client = await self._connection.client()
        if self._subscribed_on is client:
            return
        async with self._lock:
            if self._subscribed_on is not client:  # first time, or nats-py closed the old client
                self._subscription = await client.subscribe(self._subject, queue=self._queue_group, cb=self._take)
                self._subscribed_on = client
                try:  # the server has the subscription once it answered (see confirm)
                    await confirm(client)
                except Exception as exc:  # still subscribed; nats-py sends it when it can
                    log.debug("nats: flush after subscribe: %s", exc)

    async def receive(self) -> Message:
        await self._subscribe()
        message = await self._queue.get()
        self._bytes -= len(message.body)
        return message

    async def ack(self, message: Message) -> None:
        return None

    async def nack(self, message: Message) -> None:
        return None  # comes back after its ack deadline / visibility timeout (NATS core: never)

    async def close(self) -> None:
        await cancel_and_wait(self._first)
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception:  # the connection is gone already: nothing to undo
                pass
            self._subscription = None
