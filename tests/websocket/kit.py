"""WebSocket backends on 127.0.0.1 for the websocket tests: a direct echo, and a multiplexing backend
that speaks KrakenD's greeting and envelope. Each records what it saw."""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

GREETING = '{"msg":"KrakenD WS proxy starting"}'


@dataclass
class Seen:
    """What a backend saw: handshakes (path with query, headers) and messages."""

    handshakes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def echo_app(seen: Seen, *, protocols: tuple[str, ...] = (), delay: float = 0.0) -> web.Application:
    """Echo every text and binary message back as it came; ``close:<code>`` closes with that code.
    ``delay``: seconds before the handshake is answered."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if delay:
            await asyncio.sleep(delay)
        ws = web.WebSocketResponse(protocols=protocols, max_msg_size=0)
        await ws.prepare(request)
        seen.handshakes.append((request.path_qs, dict(request.headers)))
        seen.sockets.append(ws)
        seen.arrived.set()
        async for msg in ws:
            seen.messages.append(msg.data)
            if msg.type is WSMsgType.TEXT and msg.data.startswith("close:"):
                await ws.close(code=int(msg.data[6:]), message=b"bye")
                break
            if msg.type is WSMsgType.TEXT and msg.data.startswith("big:"):
                await ws.send_str("x" * int(msg.data[4:]))
            elif msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def multiplex_app(seen: Seen) -> web.Application:
    """Answer KrakenD's greeting with OK; echo each envelope's body to its sender's session, and
    ``all:<text>`` to every client of the sender's URL."""

    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        seen.handshakes.append((request.path_qs, dict(request.headers)))
        seen.sockets.append(ws)
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            if msg.data == GREETING:
                seen.messages.append("greeting")
                await ws.send_str("OK")
                continue
            envelope = orjson.loads(msg.data)
            seen.messages.append(envelope)
            seen.arrived.set()
            if "event" in envelope:
                continue
            body = base64.b64decode(envelope["body"])
            if body.startswith(b"all:"):
                reply = {"url": envelope["url"], "body": base64.b64encode(body[4:]).decode()}
            elif body == b"raw":
                await ws.send_str("not an envelope")
                continue
            else:
                reply = {"session": {"uuid": envelope["session"]["uuid"]}, "body": base64.b64encode(body).decode()}
            await ws.send_str(orjson.dumps(reply).decode())
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def ws_endpoint(host: str, path: str = "/ws", url_pattern: str = "/echo", **options: Any) -> dict[str, Any]:
    """An endpoint with ``websocket`` ``options`` towards ``host`` (its http:// turned into ws://)."""
    return {
        "endpoint": path,
        "backend": [
            {"host": [host.replace("http://", "ws://")], "url_pattern": url_pattern, "disable_host_sanitize": True}
        ],
        "extra_config": {"websocket": options},
    }


def frame(payload: bytes, opcode: int = 1, *, mask: bool = True) -> bytes:
    """One final client frame (masked, as RFC 6455 requires of clients, unless ``mask`` is False)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def handshake(path: str = "/ws", extra: str = "") -> bytes:
    """A client's opening handshake, as bytes."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


async def read_for(reader: asyncio.StreamReader, seconds: float = 1.0) -> bytes:
    """What the server sends within ``seconds`` (or until it closes)."""
    out = b""
    try:
        async with asyncio.timeout(seconds):
            while chunk := await reader.read(65536):
                out += chunk
    except TimeoutError:
        pass
    return out


async def wait_for(check: Any, seconds: float = 2.0) -> None:
    """Poll ``check()`` until it holds (bounded)."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
