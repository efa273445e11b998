"""WebSocket backends on 127.0.0.1 for the websocket tests: a direct echo, and a multiplexing backend
that speaks KrakenD's greeting and envelope. Each records what it saw."""

from __future__ import annotations

import asyncio
import base64
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
