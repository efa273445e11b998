"""A client that goes away cancels its backend calls, as KrakenD cancels the request context: the
upstream request is aborted (its connection closed), no further backend starts, no Lua post script
runs, nothing is retried, and the worker serves the next request. Real parts: slow aiohttp backends on
127.0.0.1 that record whether their handler was cancelled (aiohttp's test server cancels a handler
whose client closed), raw client sockets closed mid-wait, the gateway embedded on aiohttp's server,
the real CLI on both loops and both upstream clients, and an HTTP/2 stream reset. Also: a backend
stalled mid-body loses its connection, an embedded WebSocket session passes on how its client left,
and make_server's options can be overridden."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest
from aiohttp import web

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from krakenpy.server.adapter import make_server
from krakenpy.server.takeover import h2_takeover
from tests.cli_gateway import gateway_process, stop
from tests.conftest import free_port
from tests.grpc.conftest import SERVICE, compile_descriptor_set
from tests.server.wirekit import gateway_server
from tests.websocket.kit import Seen, echo_app, frame, handshake, ws_endpoint

Start = Callable[[web.Application], Awaitable[str]]
#: how long a backend handler waits when nothing cancels it: far beyond every bounded poll below
SLOW = 30.0


class Upstream:
    """A backend whose ``/slow/{name}`` handlers note ``start``, then ``cancelled`` or ``finished``;
    ``/fast/{name}`` and ``/mark/{name}`` answer at once (noted); a Lambda ``Invoke`` is slow too."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/slow/{name}", self._slow)
        app.router.add_get("/fast/{name}", self._fast)
        app.router.add_get("/mark/{name}", self._fast)
        app.router.add_post("/2015-03-31/functions/{name}/invocations", self._slow)
        return app

    async def _slow(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await request.read()
        self.events.append(f"start {name}")
        try:
            await asyncio.sleep(SLOW)
        except asyncio.CancelledError:  # the gateway closed the upstream connection
            self.events.append(f"cancelled {name}")
            raise
        self.events.append(f"finished {name}")
        return web.json_response({"id": 1})

    async def _fast(self, request: web.Request) -> web.Response:
        self.events.append(f"{request.path.split('/')[1]} {request.match_info['name']}")
        return web.json_response({"id": 1, "ok": True})

    def count(self, prefix: str) -> int:
        return sum(e.startswith(prefix) for e in self.events)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return check()


async def leave_mid_wait(port: int, path: str, upstream: Upstream, started: int) -> None:
    """Send ``GET path``, wait until ``started`` backend calls began, then close the socket."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
    await writer.drain()
    assert await until(lambda: upstream.count("start") >= started), upstream.events
    writer.close()
    await writer.wait_closed()


async def ok(port: int, path: str = "/ok") -> int:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as resp:
        await resp.read()
        return resp.status


def endpoints(base: str) -> list[dict[str, Any]]:
    """P1, P2, a sequence, a Lua post script (it would call ``/mark/post``), Lambda, and ``/ok``."""
    post = f'local r = http_response.new("{base}/mark/post")'
    lam = {"function_name": "slow", "region": "us-east-1", "endpoint": base, "max_retries": 2}
    host = [base]
    return [
        {"endpoint": "/p1", "backend": [{"host": host, "url_pattern": "/slow/p1"}]},
        {"endpoint": "/p2", "backend": [{"host": host, "url_pattern": f"/slow/p2{n}"} for n in "ab"]},
        {
            "endpoint": "/seq",
            "extra_config": {"proxy": {"sequential": True}},
            "backend": [
                {"host": host, "url_pattern": "/slow/seq1"},
                {"host": host, "url_pattern": "/fast/seq2-{resp0_id}"},
            ],
        },
        {
            "endpoint": "/lua",
            "backend": [
                {"host": host, "url_pattern": "/slow/lua", "extra_config": {"modifier/lua-backend": {"post": post}}}
            ],
        },
        {
            "endpoint": "/lambda",
            "backend": [{"host": host, "url_pattern": "/x", "extra_config": {"backend/lambda": lam}}],
        },
        {"endpoint": "/ok", "backend": [{"host": host, "url_pattern": "/fast/ok"}]},
        # controls: answered, the same sequence and post script do call what the checks expect absent
        {
            "endpoint": "/seq-ok",
            "extra_config": {"proxy": {"sequential": True}},
            "backend": [
                {"host": host, "url_pattern": "/fast/seq1"},
                {"host": host, "url_pattern": "/fast/seq2-{resp0_id}"},
            ],
        },
        {
            "endpoint": "/lua-ok",
            "backend": [
                {"host": host, "url_pattern": "/fast/lua", "extra_config": {"modifier/lua-backend": {"post": post}}}
            ],
        },
    ]


#: path, the backend calls that start before the client leaves
CASES = [("/p1", 1), ("/p2", 2), ("/seq", 1), ("/lua", 1), ("/lambda", 1)]
#: seconds a retry of the Lambda call would come within: its first backoff is at most 1 s
#: (krakenpy.lambda_.retry.backoff: rand() * 1 s), and a margin
FIRST_RETRY = 1.5


async def check_cancelled(port: int, upstream: Upstream, path: str, started: int) -> None:
    upstream.events.clear()
    await leave_mid_wait(port, path, upstream, started)
    assert await until(lambda: upstream.count("cancelled") == started), (path, upstream.events)
    assert await ok(port) == 200  # the worker serves the next request at once
    assert upstream.count("finished") == 0
    # no further backend of the sequence, no Lua post script, no retry of the Lambda call
    assert upstream.count("start") == started and upstream.count("fast seq2") == 0
    assert upstream.count("mark") == 0, (path, upstream.events)
    if path == "/lambda":  # a retry waits its backoff first: watch past the longest one
        assert not await until(lambda: upstream.count("start") > started, FIRST_RETRY), upstream.events


async def check_controls(port: int, upstream: Upstream) -> None:
    """A client that stays gets the sequence's second call and the post script's call."""
    upstream.events.clear()
    assert await ok(port, "/seq-ok") == 200 and await ok(port, "/lua-ok") == 200
    assert upstream.events == ["fast seq1", "fast seq2-1", "fast lua", "mark post"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
async def embedded() -> AsyncIterator[Callable[[dict[str, Any]], Awaitable[int]]]:
    """The gateway embedded on aiohttp's server as an application would: ``make_server(gateway.handler)``."""
    opened: list[Any] = []

    async def start(doc: dict[str, Any]) -> int:
        gateway = await build_gateway(build_service(doc))
        runner = web.ServerRunner(make_server(gateway.handler), handle_signals=False)
        await runner.setup()
        opened.append((runner, gateway))
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    yield start
    for runner, gateway in opened:
        await runner.cleanup()
        await gateway.close()


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
@pytest.mark.usefixtures("aws")
async def test_cancel_embedded_on_aiohttp_cancels_backend_calls(
    backend: Start, embedded: Callable[[dict[str, Any]], Awaitable[int]], monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    # aiohttp's server lets a handler run on after its client left unless told otherwise: the backend
    # calls then ran to their end (and the access log said 200)
    monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", client)
    upstream = Upstream()
    base = await backend(upstream.app())
    port = await embedded({"version": 3, "timeout": "60s", "endpoints": endpoints(base)})
    for path, started in CASES:
        await check_cancelled(port, upstream, path, started)
    await check_controls(port, upstream)


@pytest.mark.parametrize(("loop", "client"), [("uvloop", "fast"), ("asyncio", "aiohttp")])
@pytest.mark.usefixtures("aws")
async def test_cancel_cli_cancels_backend_calls_and_logs_context_canceled(
    backend: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loop: str, client: str
) -> None:
    """krakenpy's own server (the real CLI): pins what it did already on 2026-12-01 (ccd8967)."""
    monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", client)
    upstream = Upstream()
    base = await backend(upstream.app())
    port = free_port()
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps({"version": 3, "port": port, "timeout": "60s", "endpoints": endpoints(base)}))
    with gateway_process(config, port=port, args=("--loop", loop)) as proc:
        for path, started in CASES:
            await check_cancelled(port, upstream, path, started)
        await check_controls(port, upstream)
        out, err = stop(proc)
    logged = out + err
    for path, _ in CASES:  # gin's line of a canceled request: 500 and lura's error
        assert re.search(rf'\| 500 \|[^\n]*"{path}"\nError #01: context canceled', logged), logged
    assert logged.count("Error #01: context canceled") == len(CASES), logged
    for leak in ("Traceback", "never retrieved", "Unclosed", "was destroyed but it is pending"):
        assert leak not in logged, logged


async def test_cancel_http2_stream_reset_cancels_backend_calls(backend: Start, tmp_path: Path) -> None:
    """An HTTP/2 stream the client resets (pins what the HTTP/2 server did already, ccd8967)."""
    upstream = Upstream()
    base = await backend(upstream.app())
    pb = compile_descriptor_set(tmp_path / "flights.pb")
    method = {"name": "FindFlight", "backend": [{"host": [base], "url_pattern": "/fast/grpc"}]}
    server = {"services": [{"name": SERVICE, "methods": [method]}]}
    doc = {
        "version": 3,
        "timeout": "60s",
        "endpoints": [e for e in endpoints(base) if e["endpoint"] in ("/p1", "/p2", "/ok")],
    }
    doc["extra_config"] = {"grpc": {"catalog": [str(pb)], "server": server}}
    gateway = await build_gateway(build_service(doc))
    served = await gateway_server(gateway.edge, h2=h2_takeover(gateway))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        ended: dict[int, int] = {}  # stream id -> the status answered

        async def read_some() -> None:
            try:
                data = await asyncio.wait_for(reader.read(1 << 16), 0.05)
            except TimeoutError:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    ended[event.stream_id] = int(dict(event.headers)[b":status"])
            writer.write(conn.data_to_send())

        async def pump_until(check: Callable[[], bool]) -> bool:
            deadline = time.monotonic() + 5
            while not check() and time.monotonic() < deadline:
                await read_some()
            return check()

        def get(path: str) -> int:
            sid = conn.get_next_available_stream_id()
            headers = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "gw")]
            conn.send_headers(sid, headers, end_stream=True)
            writer.write(conn.data_to_send())
            return sid

        for path, started in (("/p1", 1), ("/p2", 2)):
            upstream.events.clear()
            sid = get(path)
            assert await pump_until(lambda n=started: upstream.count("start") == n), upstream.events
            conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            writer.write(conn.data_to_send())
            assert await pump_until(lambda n=started: upstream.count("cancelled") == n), upstream.events
            after = get("/ok")  # the same connection serves the next stream
            assert await pump_until(lambda a=after: a in ended) and ended[after] == 200
            assert sid not in ended and upstream.count("finished") == 0
        writer.close()
    finally:
        await served.close()
        await gateway.close()


@pytest.mark.parametrize("leave", ["close 4001", "abort"])
async def test_cancel_embedded_websocket_client_close_code_reaches_the_backend(
    backend: Start, embedded: Callable[[dict[str, Any]], Awaitable[int]], leave: str
) -> None:
    """The handler aiohttp cancels when the client leaves is the session's: the backend still learns
    the client's close code (4001), or 1001 when the client's connection just ended, as on
    krakenpy's own server (the cancellation used to land first, and the backend heard 1000)."""
    seen = Seen()
    host = await backend(echo_app(seen))
    endpoint = ws_endpoint(host, enable_direct_communication=True)
    port = await embedded({"version": 3, "endpoints": [endpoint]})
    if leave == "abort":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(handshake() + frame(b"one"))
        echoed = b""
        while b"one" not in echoed and (chunk := await asyncio.wait_for(reader.read(65536), 5)):
            echoed += chunk
        assert b"one" in echoed, echoed
        writer.transport.abort()
        expected = 1001
    else:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws")
            await ws.send_str("one")
            assert (await ws.receive(timeout=5)).data == "one"
            await ws.close(code=4001)
        expected = 4001
    backend_ws = seen.sockets[0]
    assert await until(lambda: backend_ws.closed), seen.messages
    assert backend_ws.close_code == expected


@pytest.mark.parametrize("options", [{}, {"handler_cancellation": False}, {"auto_decompress": True}])
async def test_cancel_make_server_options_override_the_defaults(options: dict[str, bool]) -> None:
    """``make_server``'s keyword arguments override :func:`server_options` (the same keyword twice
    was a TypeError): an embedder may opt out of the cancellation."""
    events: list[str] = []
    release = asyncio.Event()

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        events.append("start")
        try:
            await release.wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("finished")
        return web.Response(text="late")

    server = make_server(handler, **options)
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _, writer = await asyncio.open_connection("127.0.0.1", int(runner.addresses[0][1]))
        writer.write(b"GET / HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert await until(lambda: events == ["start"]), events
        writer.close()
        await writer.wait_closed()
        # the server saw the client leave (a connection stays listed until its handler returns)
        assert await until(lambda: all(conn.transport is None for conn in server.connections))
        release.set()
        cancels = options.get("handler_cancellation", True)
        assert await until(lambda: len(events) == 2), events
        assert events == ["start", "cancelled" if cancels else "finished"]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("client", ["fast", "aiohttp"])
async def test_cancel_backend_stalled_mid_body_loses_its_connection(
    backend: Start,
    embedded: Callable[[dict[str, Any]], Awaitable[int]],
    monkeypatch: pytest.MonkeyPatch,
    client: str,
    framing: str,
) -> None:
    """A backend that sent its headers and part of its body, then stalls: the client that leaves
    closes that upstream connection (never pooled half read), and the next request dials anew."""
    monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", client)
    events: list[str] = []
    peers: list[tuple[str, int]] = []  # (path, the gateway's port) per upstream request

    def peer(request: web.Request) -> None:
        assert request.transport is not None
        peers.append((request.path, int(request.transport.get_extra_info("peername")[1])))

    async def stall(request: web.Request) -> web.StreamResponse:
        peer(request)
        out = web.StreamResponse(headers={"Content-Type": "application/json"})
        if framing == "length":
            out.content_length = 100
        else:
            out.enable_chunked_encoding()
        await out.prepare(request)
        await out.write(b'{"id": 1, "pad": "')  # a part, then nothing
        events.append("start")
        try:
            await asyncio.sleep(SLOW)
        except asyncio.CancelledError:  # the gateway closed the connection
            events.append("cancelled")
            raise
        events.append("finished")
        return out

    async def fast(request: web.Request) -> web.Response:
        peer(request)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/stall", stall)
    app.router.add_get("/fast", fast)
    base = await backend(app)
    host = [base]
    doc = {
        "version": 3,
        "timeout": "60s",
        "endpoints": [
            {"endpoint": "/stall", "backend": [{"host": host, "url_pattern": "/stall"}]},
            {"endpoint": "/ok", "backend": [{"host": host, "url_pattern": "/fast"}]},
        ],
    }
    port = await embedded(doc)
    # the second round's /stall reuses the connection the first round's /ok left pooled: a cancelled
    # exchange must close a kept-alive connection too
    for _ in range(2):
        events.clear()
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stall HTTP/1.1\r\nHost: gw\r\n\r\n")
        await writer.drain()
        assert await until(lambda: events == ["start"]), events
        writer.close()
        await writer.wait_closed()
        assert await until(lambda: events == ["start", "cancelled"]), events
        assert await ok(port) == 200
        stalled, after = peers[-2:]
        assert stalled[0] == "/stall" and after[0] == "/fast"
        # a fresh connection: not the stalled one, nor one of those before it
        assert after[1] not in {port_ for _, port_ in peers[:-1]}, peers
