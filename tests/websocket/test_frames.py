"""Frames on the wire, from a raw client socket: closes without a status, protocol errors and
what the backend learns of them, bytes sent right behind the handshake."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import make_config
from tests.websocket.kit import Seen, echo_app, frame, handshake, read_for, wait_for, ws_endpoint

pytestmark = pytest.mark.timeout(30)


async def _open(port: int, path: str = "/ws") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(handshake(path))
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    return reader, writer


async def test_frames_close_without_status_is_answered_empty_and_forwarded_as_1000(gateway: Any, backend: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    client = await gateway(make_config([ws_endpoint(host, enable_direct_communication=True)]))
    reader, writer = await _open(client.port)
    await wait_for(lambda: seen.sockets)
    writer.write(frame(b"", opcode=8))
    assert await read_for(reader, 1.0) == b"\x88\x00"  # a close without a status, as the client's
    await wait_for(lambda: seen.sockets[0].closed)
    assert seen.sockets[0].close_code == 1000
    writer.close()


async def test_frames_backend_close_without_status_reaches_the_client_as_1000(backend: Any, gateway: Any) -> None:
    from aiohttp import WSMsgType, web

    async def empty_close(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws._writer.send_frame(b"", WSMsgType.CLOSE)  # type: ignore[union-attr]
        await asyncio.sleep(0.5)
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", empty_close)
    client = await gateway(make_config([ws_endpoint(await backend(app), enable_direct_communication=True)]))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("x")
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1000)


@pytest.mark.parametrize(
    ("data", "code"), [(frame(b"x", opcode=3), 1002), (frame(b"\xff\xfe"), 1007)], ids=["opcode-3", "bad-utf-8"]
)
async def test_frames_client_protocol_error_reaches_the_backend_as_its_code(
    gateway: Any, backend: Any, data: bytes, code: int
) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    client = await gateway(make_config([ws_endpoint(host, enable_direct_communication=True)]))
    reader, writer = await _open(client.port)
    # the echo: the gateway's backend connection is up (the backend's accept was not enough: a protocol
    # error read while the gateway's dial still ran abandoned the dial, and the backend saw 1000)
    writer.write(frame(b"ping"))
    async with asyncio.timeout(5):
        assert await reader.readexactly(6) == b"\x81\x04ping"
    writer.write(data)
    assert (await read_for(reader, 1.0))[:4] == b"\x88\x02" + code.to_bytes(2, "big")
    await wait_for(lambda: seen.sockets[0].closed)
    assert seen.sockets[0].close_code == code
    writer.close()


async def test_frames_backend_close_reason_reaches_the_client(gateway: Any, backend: Any) -> None:
    from aiohttp import WSMsgType

    seen = Seen()
    host = await backend(echo_app(seen))
    client = await gateway(make_config([ws_endpoint(host, enable_direct_communication=True)]))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("close:4000")  # the backend closes with 4000 "bye"
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 4000, "bye")


async def test_frames_sent_with_the_handshake_reach_the_backend(gateway: Any, backend: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    client = await gateway(make_config([ws_endpoint(host, enable_direct_communication=True)]))
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(handshake() + frame(b"early"))  # one segment: the frame must not be read as HTTP
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    assert await reader.readexactly(7) == b"\x81\x05early"
    assert seen.messages == ["early"]
    writer.close()


async def test_frames_request_behind_a_refused_upgrade_is_answered(gateway: Any, backend: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    client = await gateway(make_config([ws_endpoint(host, enable_direct_communication=True)]))
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    bad = handshake().replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8")
    writer.write(bad + b"GET /__health HTTP/1.1\r\nHost: x\r\n\r\n")
    out = await read_for(reader, 1.0)
    assert out.startswith(b"HTTP/1.1 400 ")
    assert out.count(b"HTTP/1.1 200 OK") == 1 and b'"status":"ok"' in out
    writer.close()


async def test_frames_unmasked_client_frame_closes_with_1002(gateway: Any, backend: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    client = await gateway(make_config([ws_endpoint(host, enable_direct_communication=True, max_message_size=4096)]))
    reader, writer = await _open(client.port)
    await wait_for(lambda: seen.sockets)
    masked = frame(b"m" * 200)  # a 16-bit length: its header split over many reads below
    for i in range(len(masked)):
        writer.write(masked[i : i + 1])
        await writer.drain()
    assert (await reader.readexactly(4 + 200))[4:] == b"m" * 200
    writer.write(frame(b"hi", mask=False))
    assert await read_for(reader, 1.0) == b"\x88\x02\x03\xea"  # 1002
    await wait_for(lambda: seen.sockets[0].closed)
    assert seen.sockets[0].close_code == 1002
    assert seen.messages == ["m" * 200]
    writer.close()
