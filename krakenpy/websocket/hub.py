"""Multiplexing (KrakenD's default): one backend connection per endpoint carries every client's
messages in KrakenD's envelope, ``{"url": ..., "session": {...}, "body": "<base64>"}``.

The backend connection opens with the first client (and is kept afterwards); its first message is
KrakenD's greeting ``{"msg":"KrakenD WS proxy starting"}``, which the backend answers ``OK``. A
client's message reaches the backend with the client's URL, its session (``uuid`` and the endpoint's
parameters, first letter upper-cased) and its bytes in base64; with ``connect_event`` /
``disconnect_event`` the backend also gets ``"event": "connected"`` / ``"disconnected"``. The
backend's messages go to the clients whose URL is ``url`` and whose session holds every key of
``session`` (neither: every client); anything that is not an envelope goes to every client as is.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import WSMsgType

from krakenpy.tasks import cancel_and_wait, spawn
from krakenpy.websocket.backoff import Backoff
from krakenpy.websocket.options import WebSocketOptions
from krakenpy.websocket.socket import (
    GOING_AWAY,
    INTERNAL,
    TOO_BIG,
    Dialer,
    Throttled,
    close_quietly,
    deliver,
    dial,
    log,
    pings,
    redial,
)

__all__ = ["GREETING", "Hub", "run_multiplexed"]

GREETING = '{"msg":"KrakenD WS proxy starting"}'
_ACK = "OK"
#: a client's queue entry that closes it: (code, reason)
_Close = tuple[int, bytes]


@dataclass(eq=False)
class _Client:
    url: str
    session: dict[str, str]
    queue: asyncio.Queue[str | bytes | _Close]
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))


class Hub:
    """One endpoint's shared backend connection and the clients it serves."""

    def __init__(self, connect: Dialer, options: WebSocketOptions, where: str) -> None:
        self._connect = connect
        self._options = options
        self._where = where
        self._clients: set[_Client] = set()
        self._backend: aiohttp.ClientWebSocketResponse | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._dropped = Throttled()

    def join(self, url: str, session: dict[str, str]) -> _Client:
        """Add a client; the backend connection starts with the first one (or again after it gave up)."""
        client = _Client(url, session, asyncio.Queue(self._options.message_buffer_size))
        client.session = {"uuid": client.uuid, **session}
        self._clients.add(client)
        if not self._closed and (self._task is None or self._task.done()):
            self._task = spawn(self._run())
        return client

    def leave(self, client: _Client) -> None:
        self._clients.discard(client)

    async def send(self, client: _Client, body: bytes | None, event: str | None = None) -> str | None:
        """Forward one client message (or event) in its envelope; the error when it cannot."""
        envelope: dict[str, Any] = {"url": client.url, "session": client.session}
        if event is not None:
            envelope["event"] = event
        if body is not None:
            envelope["body"] = base64.b64encode(body).decode()
        try:
            async with asyncio.timeout(self._options.write_wait):
                await self._ready.wait()
                backend = self._backend
                if backend is None:  # the hub closed
                    return "backend connection lost"
                await backend.send_str(orjson.dumps(envelope).decode())
        except TimeoutError:
            return "empty connection"  # no backend connection in time
        except (ConnectionError, RuntimeError):
            return "backend connection lost"
        return None

    async def close(self) -> None:
        """Stop the backend connection (the gateway is closing): never reopened afterwards."""
        self._closed = True
        await cancel_and_wait(self._task)
        self._ready.set()  # a send still waiting for the connection learns it is gone
        if self._backend is not None:
            await self._backend.close()

    # -- the backend connection ------------------------------------------------------------------

    async def _run(self) -> None:
        backoff, warn = Backoff(self._options.backoff_strategy, self._options.max_retries), Throttled()
        try:
            backend = await dial(self._connect, self._options, self._where, backoff, warn, self._wanted)
            while backend is not None:
                self._backend = backend
                try:
                    await self._serve(backend)
                finally:
                    self._ready.clear()
                    self._backend = None
                    await backend.close()
                if not self._clients:
                    return  # no one to reconnect for: the next client opens it again
                backend = await redial(self._connect, self._options, self._where, backoff, warn, self._wanted)
            self._broadcast_close(INTERNAL, b"backend unavailable")
        except Exception:
            log.exception("websocket %s: backend connection failed", self._where)
            self._broadcast_close(INTERNAL, b"backend unavailable")

    def _wanted(self) -> bool:
        """Whether a client still waits for the backend connection: none left, no more dialling."""
        return bool(self._clients) and not self._closed

    async def _serve(self, backend: aiohttp.ClientWebSocketResponse) -> None:
        await backend.send_str(GREETING)
        try:
            first = await backend.receive(timeout=self._options.write_wait)
        except TimeoutError:
            log.warning("websocket %s: the backend did not answer the greeting", self._where)
            return
        self._ready.set()
        if not (first.type is WSMsgType.TEXT and first.data == _ACK):
            if first.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return
            self._route(first.data)
        while True:
            msg = await backend.receive()
            if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                self._route(msg.data)
                continue
            return

    def _route(self, data: str | bytes) -> None:
        try:
            envelope = orjson.loads(data)
            if "body" not in envelope:
                raise ValueError("not an envelope")
            body = base64.b64decode(envelope.get("body") or b"", validate=True)
            url, session = envelope.get("url"), envelope.get("session")
            if not isinstance(url, str | None) or not isinstance(session, dict | None):
                raise ValueError("not an envelope")
        except (orjson.JSONDecodeError, AttributeError, binascii.Error, ValueError, TypeError):
            self._broadcast(data)  # not an envelope: every client gets it as it came
            return
        out: str | bytes = body
        try:
            out = body.decode()
        except UnicodeDecodeError:
            pass
        for client in tuple(self._clients):
            if url and client.url != url:
                continue
            if session and any(client.session.get(k) != v for k, v in session.items()):
                continue
            self._put(client, out, len(body))

    def _broadcast(self, data: str | bytes) -> None:
        size = len(data.encode()) if isinstance(data, str) else len(data)
        for client in tuple(self._clients):
            self._put(client, data, size)

    def _put(self, client: _Client, data: str | bytes | _Close, size: int) -> None:
        if size > self._options.max_message_size:  # KrakenD discards it and disconnects the client
            data = (TOO_BIG, b"message too big")
        try:
            client.queue.put_nowait(data)
        except asyncio.QueueFull:
            self._dropped.warning("websocket %s: a client's message buffer is full: message dropped", self._where)

    def _broadcast_close(self, code: int, reason: bytes) -> None:
        for client in tuple(self._clients):
            try:
                client.queue.put_nowait((code, reason))
            except asyncio.QueueFull:
                client.queue.get_nowait()
                client.queue.put_nowait((code, reason))


async def _reader(socket: Any, hub: Hub, client: _Client, options: WebSocketOptions) -> None:
    """The client's messages to the backend, until the client leaves."""
    while True:
        try:
            msg = await socket.receive(timeout=options.pong_wait)
        except TimeoutError:
            await close_quietly(socket, GOING_AWAY)
            return
        if msg.type is WSMsgType.TEXT:
            data = msg.data.encode()
        elif msg.type is WSMsgType.BINARY:
            data = msg.data
        else:
            return
        error = await hub.send(client, data)
        if error is not None and options.return_error_details:
            await deliver(socket, orjson.dumps({"error": error}).decode(), options.write_wait)


async def _writer(socket: Any, client: _Client, options: WebSocketOptions) -> None:
    """The backend's messages for this client, in order."""
    while True:
        item = await client.queue.get()
        if isinstance(item, tuple):
            await close_quietly(socket, item[0], item[1])
            return
        if not await deliver(socket, item, options.write_wait):
            return


async def run_multiplexed(socket: Any, hub: Hub, url: str, session: dict[str, str], options: WebSocketOptions) -> None:
    """One client's session on the endpoint's shared backend connection."""
    client = hub.join(url, session)
    tasks = [spawn(_reader(socket, hub, client, options)), spawn(_writer(socket, client, options))]
    tasks.append(spawn(pings(socket, options.ping_period)))
    try:
        if options.connect_event:
            await hub.send(client, None, "connected")
        await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.leave(client)
        for task in tasks:
            await cancel_and_wait(task)
        if options.disconnect_event:
            # its own task: a session cut by a shutdown still tells the backend
            _ = spawn(hub.send(client, None, "disconnected"))
