"""Multiplexing through the real gateway: KrakenD's greeting, envelope, routing and events."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from aiohttp import WSMsgType

from tests.conftest import make_config
from tests.websocket.kit import Seen, multiplex_app, ws_endpoint

pytestmark = pytest.mark.timeout(30)


async def _wait(condition: Any) -> None:
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never met")


async def test_multiplex_one_backend_connection_for_every_client(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(multiplex_app(seen))
    endpoint = ws_endpoint(host, path="/chat/{room}", url_pattern="/hub")
    client = await gateway(make_config([endpoint]))
    async with client.ws_connect("/chat/a") as one, client.ws_connect("/chat/a") as two:
        await one.send_str("hello")
        assert (await one.receive(timeout=5)).data == "hello"  # unicast to its session only
        await two.send_bytes(b"all:to the room")
        assert (await one.receive(timeout=5)).data == "to the room"
        assert (await two.receive(timeout=5)).data == "to the room"
    assert len(seen.handshakes) == 1 and seen.handshakes[0][0] == "/hub"
    assert seen.messages[0] == "greeting"
    first = seen.messages[1]
    assert first["url"] == "/chat/a"
    assert first["session"]["Room"] == "a" and len(first["session"]["uuid"]) == 36
    assert base64.b64decode(first["body"]) == b"hello"


async def test_multiplex_url_filter_reaches_only_that_url(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(multiplex_app(seen))
    client = await gateway(make_config([ws_endpoint(host, path="/chat/{room}", url_pattern="/hub")]))
    async with client.ws_connect("/chat/a") as a, client.ws_connect("/chat/b") as b:
        await a.send_str("all:for a")
        assert (await a.receive(timeout=5)).data == "for a"
        await b.send_str("all:for b")
        assert (await b.receive(timeout=5)).data == "for b"
        await a.send_str("mine")
        assert (await a.receive(timeout=5)).data == "mine"  # a never got "for b" in between


async def test_multiplex_non_envelope_is_broadcast(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(multiplex_app(seen))
    client = await gateway(make_config([ws_endpoint(host, path="/chat/{room}", url_pattern="/hub")]))
    async with client.ws_connect("/chat/a") as a, client.ws_connect("/chat/b") as b:
        await a.send_str("raw")
        assert (await a.receive(timeout=5)).data == "not an envelope"
        assert (await b.receive(timeout=5)).data == "not an envelope"


async def test_multiplex_connect_and_disconnect_events(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(multiplex_app(seen))
    endpoint = ws_endpoint(host, path="/chat/{room}", url_pattern="/hub", connect_event=True, disconnect_event=True)
    client = await gateway(make_config([endpoint]))
    async with client.ws_connect("/chat/x") as ws:
        await _wait(lambda: any(m != "greeting" and m.get("event") == "connected" for m in seen.messages))
        await ws.close()
    await _wait(lambda: any(m != "greeting" and m.get("event") == "disconnected" for m in seen.messages))
    events = [m for m in seen.messages if m != "greeting"]
    assert events[0]["session"] == events[1]["session"] and events[0]["url"] == "/chat/x"
    assert "body" not in events[0]


async def test_multiplex_backend_down_closes_the_clients_with_1011(
    gateway: Any, dead_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krakenpy.websocket import backoff

    monkeypatch.setattr(backoff, "UNIT", 0.01)
    client = await gateway(make_config([ws_endpoint(f"ws://127.0.0.1:{dead_port}", max_retries=1)]))
    async with client.ws_connect("/ws") as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE and msg.data == 1011


async def test_multiplex_error_details_when_the_backend_is_not_ready(backend: Any, gateway: Any) -> None:
    from aiohttp import web

    async def silent(request: web.Request) -> web.StreamResponse:  # never answers the greeting
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/echo", silent)
    host = await backend(app)
    endpoint = ws_endpoint(host, return_error_details=True, write_wait="200ms")
    client = await gateway(make_config([endpoint]))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("anyone?")
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.TEXT and msg.data == '{"error":"empty connection"}'


async def test_multiplex_reconnects_and_serves_the_clients_again(
    backend: Any, gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krakenpy.websocket import backoff

    monkeypatch.setattr(backoff, "UNIT", 0.01)
    seen = Seen()
    host = await backend(multiplex_app(seen))
    client = await gateway(make_config([ws_endpoint(host, max_retries=3)]))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("one")
        assert (await ws.receive(timeout=5)).data == "one"
        transport = seen.sockets[0]._req.transport  # type: ignore[union-attr]
        assert transport is not None
        transport.abort()
        await _wait(lambda: seen.messages.count("greeting") == 2)
        await ws.send_str("two")
        assert (await ws.receive(timeout=5)).data == "two"


async def test_multiplex_size_limit_both_ways(backend: Any, gateway: Any) -> None:
    seen = Seen()
    host = await backend(multiplex_app(seen))
    client = await gateway(make_config([ws_endpoint(host, max_message_size=10)]))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("0123456789")  # exactly the limit: accepted
        assert (await ws.receive(timeout=5)).data == "0123456789"
        await ws.send_str("0123456789X")
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE and msg.data == 1009
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("raw")  # the backend answers 15 bytes that are not an envelope
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE and msg.data == 1009
    bodies = [m["body"] for m in seen.messages if m != "greeting"]
    assert [base64.b64decode(b) for b in bodies] == [b"0123456789", b"raw"]


async def test_multiplex_stops_dialling_once_no_client_is_left(
    backend: Any, gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp import web

    from krakenpy.websocket import backoff

    monkeypatch.setattr(backoff, "UNIT", 0.05)
    attempts = 0

    async def refuse(request: web.Request) -> web.StreamResponse:
        nonlocal attempts
        attempts += 1
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/{tail:.*}", refuse)
    client = await gateway(make_config([ws_endpoint(await backend(app))]))  # max_retries 0: for ever
    async with client.ws_connect("/ws"):
        await _wait(lambda: attempts >= 2)
    await asyncio.sleep(0.2)
    before = attempts
    await asyncio.sleep(0.5)
    assert attempts == before  # the last client left: the hub no longer dials
