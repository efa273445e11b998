"""Direct communication through the real gateway (krakenpy's own server): echo both ways, limits,
closes, reconnection, headers and query on the backend's handshake."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.conftest import make_config
from tests.websocket.kit import Seen, echo_app, ws_endpoint

pytestmark = pytest.mark.timeout(30)


async def _direct(gateway: Any, backend: Any, seen: Seen, **options: Any) -> Any:
    host = await backend(echo_app(seen))
    endpoint = ws_endpoint(host, **{"enable_direct_communication": True, **options})
    return await gateway(make_config([endpoint]))


async def test_direct_echo_text_and_binary(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("hello")
        assert (await ws.receive(timeout=5)).data == "hello"
        await ws.send_bytes(b"\x00\xffbin")
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.BINARY and msg.data == b"\x00\xffbin"
    assert seen.messages[:2] == ["hello", b"\x00\xffbin"]


async def test_direct_forwards_params_query_and_input_headers(gateway: Any, backend: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen))
    endpoint = ws_endpoint(
        host,
        path="/ws/{room}",
        url_pattern="/rooms/{room}",
        enable_direct_communication=True,
        input_headers=["Authorization"],
    )
    endpoint["input_query_strings"] = ["lang"]
    client = await gateway(make_config([endpoint]))
    headers = {"Authorization": "Bearer t", "X-Other": "no"}
    async with client.ws_connect("/ws/lobby?lang=en&secret=1", headers=headers) as ws:
        await ws.send_str("hi")
        assert (await ws.receive(timeout=5)).data == "hi"
    path, received = seen.handshakes[0]
    assert path == "/rooms/lobby?lang=en"
    assert received["Authorization"] == "Bearer t"
    assert "X-Other" not in received
    assert received["Sec-WebSocket-Key"] != ""  # the backend handshake is the gateway's own


async def test_direct_message_over_the_limit_closes_with_1009(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen, max_message_size=64)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("x" * 64)
        assert (await ws.receive(timeout=5)).data == "x" * 64
        await ws.send_str("y" * 65)
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE and msg.data == 1009
    assert "y" * 65 not in seen.messages


async def test_direct_backend_message_over_the_limit_closes_with_1009(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen, max_message_size=100)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("big:100")
        assert (await ws.receive(timeout=5)).data == "x" * 100
        await ws.send_str("big:101")
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE and msg.data == 1009


async def test_direct_large_messages_within_the_limit(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen, max_message_size=3_200_000)
    payload = bytes(range(256)) * 12_000  # ~3 MB: many frames of the reader and the writer
    async with client.ws_connect("/ws", max_msg_size=0) as ws:
        await ws.send_bytes(payload)
        assert (await ws.receive(timeout=10)).data == payload


async def test_direct_backend_close_reaches_the_client_with_its_code(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("close:4001")
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE and msg.data == 4001


async def test_direct_client_close_closes_the_backend(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen)
    ws = await client.ws_connect("/ws")
    await ws.send_str("one")
    assert (await ws.receive(timeout=5)).data == "one"
    await ws.close(code=4001)
    assert ws.close_code == 4001
    backend_ws = seen.sockets[0]
    for _ in range(100):
        if backend_ws.closed:
            break
        await asyncio.sleep(0.02)
    assert backend_ws.closed
    assert backend_ws.close_code == 4001  # the client's code, not the gateway's own 1000


async def test_direct_backend_down_closes_the_client_once_retries_are_spent(
    gateway: Any, dead_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krakenpy.websocket import backoff

    monkeypatch.setattr(backoff, "UNIT", 0.01)
    endpoint = ws_endpoint(f"ws://127.0.0.1:{dead_port}", enable_direct_communication=True, max_retries=2)
    client = await gateway(make_config([endpoint]))
    async with client.ws_connect("/ws") as ws:  # the upgrade comes first, as in KrakenD
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE and msg.data == 1011


async def test_direct_reconnects_when_the_backend_connection_breaks(
    gateway: Any, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krakenpy.websocket import backoff

    monkeypatch.setattr(backoff, "UNIT", 0.01)
    seen = Seen()
    client = await _direct(gateway, backend, seen, max_retries=3)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("before")
        assert (await ws.receive(timeout=5)).data == "before"
        transport = seen.sockets[0]._req.transport  # type: ignore[union-attr]
        assert transport is not None
        transport.abort()  # the backend's connection breaks without a close frame
        for _ in range(200):
            if len(seen.handshakes) == 2:
                break
            await asyncio.sleep(0.02)
        assert len(seen.handshakes) == 2
        await ws.send_str("after")
        assert (await ws.receive(timeout=5)).data == "after"


async def test_direct_subprotocol_chosen_and_asked_of_the_backend(gateway: Any, backend: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen, protocols=("chat",)))
    endpoint = ws_endpoint(host, enable_direct_communication=True, subprotocols=["chat"])
    client = await gateway(make_config([endpoint]))
    async with client.ws_connect("/ws", protocols=("other", "chat")) as ws:
        assert ws.protocol == "chat"
        await ws.send_str("p")
        assert (await ws.receive(timeout=5)).data == "p"
    assert seen.handshakes[0][1]["Sec-WebSocket-Protocol"] == "chat"


async def test_direct_pings_the_client(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen, ping_period="50ms", pong_wait="2s")
    async with client.ws_connect("/ws", autoping=False) as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.PING


async def test_direct_silent_client_is_closed_after_pong_wait(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen, ping_period="100ms", pong_wait="300ms")
    async with client.ws_connect("/ws", autoping=False) as ws:
        while True:  # pings unanswered: the gateway gives up after pong_wait
            msg = await ws.receive(timeout=5)
            if msg.type is not WSMsgType.PING:
                break
        assert msg.type is WSMsgType.CLOSE and msg.data == 1001


async def test_direct_plain_get_is_400(gateway: Any, backend: Any) -> None:
    seen = Seen()
    client = await _direct(gateway, backend, seen)
    response = await client.get("/ws")
    assert response.status == 400
    assert "websocket" in await response.text()
    assert seen.handshakes == []


async def test_direct_through_aiohttp_server(backend: Any) -> None:
    """The same session on aiohttp's own server (``Gateway.handler``, for embedders)."""
    from aiohttp.test_utils import RawTestServer, TestClient

    from krakenpy.config.build import build_service
    from krakenpy.gateway import build_gateway

    seen = Seen()
    host = await backend(echo_app(seen))
    gw = await build_gateway(build_service(make_config([ws_endpoint(host, enable_direct_communication=True)])))
    client: TestClient[Any, Any] = TestClient(RawTestServer(gw.handler, host="127.0.0.1"))
    await client.start_server()
    try:
        async with client.ws_connect("/ws") as ws:
            await ws.send_str("via aiohttp")
            assert (await ws.receive(timeout=5)).data == "via aiohttp"
            await ws.send_bytes(b"\x01")
            assert (await ws.receive(timeout=5)).data == b"\x01"
    finally:
        await client.close()
        await gw.close()


async def test_direct_drain_ends_sessions_without_waiting_for_them(gateway: Any, backend: Any) -> None:
    """A session is not a request in flight: a drain closes it instead of waiting for it (Go's server
    forgets hijacked connections), and the backend connection is closed after it."""
    seen = Seen()
    client = await _direct(gateway, backend, seen)
    server = client.server.runner._gateway_server
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("x")
        assert (await ws.receive(timeout=5)).data == "x"
        assert server.in_flight() == 0
        assert await server.drain(30.0) is True  # nothing was cut: no request was in flight
        msg = await ws.receive(timeout=5)
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    for _ in range(100):
        if seen.sockets[0].closed:
            break
        await asyncio.sleep(0.02)
    assert seen.sockets[0].closed


async def test_direct_more_than_a_pool_of_sessions(gateway: Any, backend: Any) -> None:
    # aiohttp's default pool holds 100 connections: the 101st backend WebSocket must not wait for one
    seen = Seen()
    client = await _direct(gateway, backend, seen)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        url = client.make_url("/ws")
        sockets = [await session.ws_connect(url) for _ in range(110)]
        try:

            async def echo(ws: Any, i: int) -> Any:
                await ws.send_str(f"m{i}")
                return (await ws.receive(timeout=5)).data

            answers = await asyncio.gather(*(echo(ws, i) for i, ws in enumerate(sockets)))
            assert answers == [f"m{i}" for i in range(110)]
        finally:
            for ws in sockets:
                await ws.close()


async def test_direct_backend_that_drops_at_once_is_redialled_with_backoff(
    gateway: Any, backend: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from aiohttp import web

    from krakenpy.websocket import backoff

    monkeypatch.setattr(backoff, "UNIT", 0.2)
    handshakes = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal handshakes
        handshakes += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        assert request.transport is not None
        request.transport.abort()  # accepts, then the connection breaks at once
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", flaky)
    client = await gateway(make_config([ws_endpoint(await backend(app), enable_direct_communication=True)]))
    async with client.ws_connect("/ws"), client.ws_connect("/ws"):
        await asyncio.sleep(1.0)
    assert 4 <= handshakes <= 14  # two sessions, each waiting 0.2 s before a redial, not one per loop step
    lost = [r for r in caplog.records if "connection lost" in r.getMessage()]
    assert len(lost) == 1  # one warning per 10 s for the endpoint, however often and many sessions flap


async def test_direct_client_leaving_during_the_dial_ends_the_session(
    gateway: Any, dead_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krakenpy.server import upgrade
    from krakenpy.websocket import backoff

    monkeypatch.setattr(backoff, "UNIT", 0.05)
    endpoint = ws_endpoint(f"ws://127.0.0.1:{dead_port}", enable_direct_communication=True)  # retries for ever
    client = await gateway(make_config([endpoint]))
    key = base64.b64encode(os.urandom(16)).decode()
    head = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    head += f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(head.encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    assert upgrade._SESSIONS
    writer.close()  # gone while the backend is still being dialled
    for _ in range(100):
        if not upgrade._SESSIONS:
            break
        await asyncio.sleep(0.02)
    assert not upgrade._SESSIONS


async def test_direct_messages_sent_during_the_dial_reach_the_backend(gateway: Any, backend: Any) -> None:
    seen = Seen()
    host = await backend(echo_app(seen, delay=0.3))  # the client speaks before the backend connection is up
    client = await gateway(make_config([ws_endpoint(host, enable_direct_communication=True)]))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("early")
        await ws.send_bytes(b"\x01")
        assert (await ws.receive(timeout=5)).data == "early"
        assert (await ws.receive(timeout=5)).data == b"\x01"


async def test_direct_a_client_leaving_as_its_dial_completes_gives_the_backend_its_code() -> None:
    """The client's protocol error and the backend's handshake answer in the same loop turn: the dial
    is done, yet the client left first, so the connection just made is closed; it went with 1000
    (aiohttp's default), the client's 1002 lost (test_frames' protocol error test, 1 run in a full
    suite under load: the backend had accepted, the gateway's dial had not returned yet)."""
    from aiohttp.http_websocket import WebSocketError, WSMessage

    from krakenpy.websocket.direct import _connect
    from krakenpy.websocket.options import WebSocketOptions

    class Client:
        async def receive(self, timeout: float | None = None) -> WSMessage:
            return WSMessage(WSMsgType.ERROR, WebSocketError(1002, "bad opcode"), None)

    class Backend:
        closed_with: tuple[int, bytes] | None = None

        async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
            self.closed_with = (code, message)
            return True

    backend = Backend()

    async def dialled() -> Any:
        return backend  # connected at once: done in the same turn as the client's error

    assert await _connect(Client(), dialled(), WebSocketOptions(), []) == (None, True)
    assert backend.closed_with == (1002, b"")


class _ErringClient:
    """A client whose first read is a protocol error (1002)."""

    async def receive(self, timeout: float | None = None) -> Any:
        from aiohttp.http_websocket import WebSocketError, WSMessage

        return WSMessage(WSMsgType.ERROR, WebSocketError(1002, "bad opcode"), None)


class _ClosableBackend:
    closed_with: tuple[int, bytes] | None = None

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed_with = (code, message)
        return True


async def test_direct_a_client_leaving_while_its_dial_completes_gives_the_backend_its_code() -> None:
    """The client's protocol error comes while the dial's handshake is under way (the backend has
    accepted, the gateway has not read its answer yet): the dial was cancelled there, its connection
    dropped without a close frame (the aiohttp test backend read 1000, a Go one 1006); the attempt is
    now given a moment to end and the connection it made closed with the client's 1002."""
    from krakenpy.websocket.direct import _connect
    from krakenpy.websocket.options import WebSocketOptions

    backend = _ClosableBackend()

    async def dialled() -> Any:
        await asyncio.sleep(0.05)  # the handshake's answer, read turns after the client's error
        return backend

    assert await _connect(_ErringClient(), dialled(), WebSocketOptions(), []) == (None, True)
    assert backend.closed_with == (1002, b"")


def _hanging_dial(cancelled: asyncio.Event) -> Callable[[], Coroutine[Any, Any, Any]]:
    """A dial that never connects: each call a coroutine that sets ``cancelled`` when it is cancelled."""

    async def hangs() -> Any:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    return hangs


async def test_direct_a_dial_that_hangs_after_the_client_left_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """The grace is bounded: a dial still under way after it is cancelled; and no retry is made once
    the client left (``wanted`` is False)."""
    from krakenpy.websocket import direct
    from krakenpy.websocket.options import WebSocketOptions

    monkeypatch.setattr(direct, "_ABANDON_GRACE", 0.1, raising=False)
    cancelled = asyncio.Event()
    hangs = _hanging_dial(cancelled)

    started = asyncio.get_running_loop().time()
    assert await direct._connect(_ErringClient(), hangs(), WebSocketOptions(), []) == (None, True)
    assert cancelled.is_set() and asyncio.get_running_loop().time() - started < 5
    left = [False]
    assert await direct._connect(_ErringClient(), hangs(), WebSocketOptions(), [], left) == (None, True)
    assert left == [True]


class _FailingClient:
    """A client whose read fails (not a close: an error of the server's connection object)."""

    async def receive(self, timeout: float | None = None) -> Any:
        raise RuntimeError("the client's read failed")


async def test_direct_a_client_read_that_fails_during_the_dial_abandons_it() -> None:
    """The watcher's exception, raised again by ``cancel_and_wait``, skipped the dial's abandon: the
    dial ran on after the session had ended, and a connection it made was never closed."""
    from krakenpy.websocket.direct import _connect
    from krakenpy.websocket.options import WebSocketOptions

    cancelled = asyncio.Event()
    hangs = _hanging_dial(cancelled)

    with pytest.raises(RuntimeError, match="read failed"):
        await _connect(_FailingClient(), hangs(), WebSocketOptions(), [])
    assert cancelled.is_set()

    backend = _ClosableBackend()

    async def dialled() -> Any:
        return backend  # connected in the same turn as the client's read failed

    with pytest.raises(RuntimeError, match="read failed"):
        await _connect(_FailingClient(), dialled(), WebSocketOptions(), [])
    assert backend.closed_with == (1000, b"")


async def test_direct_a_session_cancelled_while_its_watcher_failed_abandons_the_dial() -> None:
    """The session is cancelled while the dial and the watcher run, and the watcher fails on its
    cancellation: the dial is abandoned all the same."""
    from krakenpy.websocket.direct import _connect
    from krakenpy.websocket.options import WebSocketOptions

    class Client:
        async def receive(self, timeout: float | None = None) -> Any:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise RuntimeError("failed on its cancellation") from None

    cancelled = asyncio.Event()
    hangs = _hanging_dial(cancelled)

    session = asyncio.ensure_future(_connect(Client(), hangs(), WebSocketOptions(), []))
    await asyncio.sleep(0.05)
    session.cancel()
    with pytest.raises(asyncio.CancelledError):  # the session's cancellation, not the watcher's failure
        await session
    assert cancelled.is_set()


async def test_direct_a_session_cancelled_while_an_abandoned_dial_ends_stays_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client left, the dial's grace ran out and the dial was cancelled; the session is cancelled
    (its gateway closes) while the dial still ends: ``_abandon`` took the session's cancellation for
    the dial's own and swallowed it (the session returned as if the client had merely left)."""
    from krakenpy.websocket import direct
    from krakenpy.websocket.options import WebSocketOptions

    monkeypatch.setattr(direct, "_ABANDON_GRACE", 0.05)
    ending = asyncio.Event()

    async def slow_to_end() -> Any:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            ending.set()
            await asyncio.sleep(0.2)  # its connection's handshake given up
            raise

    session = asyncio.ensure_future(direct._connect(_ErringClient(), slow_to_end(), WebSocketOptions(), []))
    await asyncio.wait_for(ending.wait(), 5)
    session.cancel()
    with pytest.raises(asyncio.CancelledError):
        await session
