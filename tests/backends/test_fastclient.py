"""FastClient against real servers on 127.0.0.1: aiohttp apps, and raw asyncio servers for misbehaviour."""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from krakenpy.backends import fastwire
from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.backends.fastclient import FastClient
from krakenpy.backends.quickresponse import QuickResponse
from krakenpy.errors import BackendError
from tests.server.wirekit import gateway_server

Start = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def client() -> AsyncIterator[FastClient]:
    c = FastClient()
    yield c
    await c.close()


def _counting_app() -> tuple[web.Application, set[tuple[str, int]]]:
    """An app that records the client sockets it saw (one entry per upstream connection)."""
    peers: set[tuple[str, int]] = set()

    async def hello(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        return web.json_response({"n": request.query.get("n", "")})

    app = web.Application()
    app.router.add_get("/hello", hello)
    return app, peers


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """A raw asyncio server on 127.0.0.1 for misbehaving upstreams; every connection is closed at teardown."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(handler: Handler) -> str:
        async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            try:
                await handler(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for writer in writers:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()
    await asyncio.sleep(0.01)  # let the handlers see their connections close


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def test_fastclient_content_length_body_and_headers(backend: Start, client: FastClient) -> None:
    seen: dict[str, str] = {}

    async def echo(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.json_response({"path": request.path_qs}, headers={"X-Up": "1"})

    app = web.Application()
    app.router.add_get("/a/b", echo)
    url = await backend(app)
    resp = await client.request("GET", url + "/a/b?x=1&y=%20z", [("X-Custom", "v"), ("User-Agent", "ua")], None)
    assert resp.status == 200
    assert resp.body == b'{"path": "/a/b?x=1&y=%20z"}'
    assert resp.content_type == "application/json; charset=utf-8"
    assert ("X-Up", "1") in resp.headers
    assert seen["X-Custom"] == "v" and seen["User-Agent"] == "ua"
    assert seen["Host"] == url.removeprefix("http://")
    assert "Accept" not in seen  # Go sends no default Accept


async def test_fastclient_sends_the_headers_aiohttp_sends(backend: Start) -> None:
    seen: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return web.Response(text=str(len(await request.read())))

    app = web.Application()
    app.router.add_post("/p", echo)
    url = await backend(app)
    fast, slow = FastClient(), AiohttpClient()
    try:
        for c in (fast, slow):
            resp = await c.request("POST", url + "/p", [("X-A", "1"), ("Accept-Encoding", "gzip")], b"abc")
            assert resp.body == b"3"
            resp = await c.request("POST", url + "/p", [], None)
            assert resp.body == b"0"
    finally:
        await fast.close()
        await slow.close()
    assert seen[0] == seen[2]
    assert seen[1] == seen[3]


async def test_fastclient_chunked_body(backend: Start, client: FastClient) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(50):
            await resp.write(f"part{i};".encode())
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/c", chunked)
    url = await backend(app)
    for _ in range(2):  # the connection is reused after a chunked body
        resp = await client.request("GET", url + "/c", [], None)
        assert resp.body == b"".join(f"part{i};".encode() for i in range(50))


async def test_fastclient_gzip_body_is_decompressed(backend: Start, client: FastClient) -> None:
    payload = b'{"data": "' + b"x" * 5000 + b'"}'

    async def gz(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(payload), headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/gz", gz)
    url = await backend(app)
    resp = await client.request("GET", url + "/gz", [("Accept-Encoding", "gzip")], None)
    assert resp.body == payload


async def test_fastclient_reuses_keepalive_connections(backend: Start, client: FastClient) -> None:
    app, peers = _counting_app()
    url = await backend(app)
    for i in range(10):
        resp = await client.request("GET", f"{url}/hello?n={i}", [], None)
        assert resp.body == f'{{"n": "{i}"}}'.encode()
    assert len(peers) == 1


async def test_fastclient_limit_per_host_queues_requests(backend: Start) -> None:
    active = 0
    most = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.02)
        active -= 1
        return web.Response(text=request.query["n"])

    app = web.Application()
    app.router.add_get("/s", slow)
    url = await backend(app)
    c = FastClient(ClientOptions(limit_per_host=3))
    try:
        bodies = await asyncio.gather(*(c.request("GET", f"{url}/s?n={i}", [], None) for i in range(12)))
    finally:
        await c.close()
    assert [r.body for r in bodies] == [str(i).encode() for i in range(12)]
    assert most == 3


async def test_fastclient_disable_keep_alives(backend: Start) -> None:
    app, peers = _counting_app()
    url = await backend(app)
    c = FastClient(ClientOptions(disable_keep_alives=True))
    try:
        for _ in range(3):
            assert (await c.request("GET", url + "/hello", [], None)).status == 200
    finally:
        await c.close()
    assert len(peers) == 3


async def test_fastclient_server_closing_idle_connections(backend: Start, client: FastClient) -> None:
    app, peers = _counting_app()
    url = await backend(app)
    assert (await client.request("GET", url + "/hello", [], None)).status == 200
    # drop the server side of every kept-alive connection, as an idle timeout would
    pool = next(iter(client._hosts.values()))
    for conn in pool.idle:
        assert conn.transport is not None
        # peer sees the socket vanish (through a duplicate: uvloop's transport socket refuses shutdown())
        with socket.socket(fileno=os.dup(conn.transport.get_extra_info("socket").fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    await asyncio.sleep(0.05)
    assert (await client.request("GET", url + "/hello", [], None)).status == 200
    assert len(peers) == 2


def _stale_handler(received: list[bytes]) -> Handler:
    """Answers the first request on a connection with keep-alive, then closes on the next one unanswered."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        while True:
            head = await _read_head(reader)
            received.append(head.split(b"\r\n", 1)[0])
            if b"Content-Length: 2" in head:
                await reader.readexactly(2)
            if not first:
                return  # reused connection: vanish before answering
            first = False
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
            await writer.drain()

    return handle


async def test_fastclient_retries_idempotent_request_on_stale_connection(
    client: FastClient, raw_server: Callable[[Handler], Awaitable[str]]
) -> None:
    received: list[bytes] = []
    url = await raw_server(_stale_handler(received))
    assert (await client.request("GET", url + "/x", [], None)).body == b"ok"
    resp = await client.request("GET", url + "/y", [], None)
    assert resp.body == b"ok"
    assert received == [b"GET /x HTTP/1.1", b"GET /y HTTP/1.1", b"GET /y HTTP/1.1"]


async def test_fastclient_does_not_retry_post_on_stale_connection(
    client: FastClient, raw_server: Callable[[Handler], Awaitable[str]]
) -> None:
    received: list[bytes] = []
    url = await raw_server(_stale_handler(received))
    assert (await client.request("GET", url + "/x", [], None)).body == b"ok"
    with pytest.raises(BackendError):
        await client.request("POST", url + "/y", [], b"{}")
    assert received == [b"GET /x HTTP/1.1", b"POST /y HTTP/1.1"]


async def test_fastclient_cancellation_closes_the_connection(backend: Start, client: FastClient) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("t", "0")))
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/slow", slow)
    url = await backend(app)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await client.request("GET", url + "/slow?t=1", [], None)
    pool = next(iter(client._hosts.values()))
    assert pool.idle == [] and pool.active == 0
    # the next call gets a fresh connection, not the late answer of the cancelled one
    resp = await client.request("GET", url + "/slow?t=0", [], None)
    assert resp.body == b"late"


async def test_fastclient_response_header_timeout(backend: Start) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/slow", slow)
    url = await backend(app)
    c = FastClient(ClientOptions(response_header_timeout=0.1))
    try:
        with pytest.raises(BackendError, match="timeout"):
            await c.request("GET", url + "/slow", [], None)
    finally:
        await c.close()


async def test_fastclient_refused_port(client: FastClient, dead_port: int) -> None:
    """Worded as KrakenD's (Go's) client words it."""
    url = f"http://127.0.0.1:{dead_port}/x"
    with pytest.raises(BackendError) as caught:
        await client.request("GET", url, [], None)
    assert str(caught.value) == f'Get "{url}": dial tcp 127.0.0.1:{dead_port}: connect: connection refused'


async def test_fastclient_reset_mid_body(client: FastClient, raw_server: Callable[[Handler], Awaitable[str]]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        await writer.drain()

    url = await raw_server(handle)
    with pytest.raises(BackendError):
        await client.request("GET", url + "/x", [], None)


async def test_fastclient_body_until_close(client: FastClient, raw_server: Callable[[Handler], Awaitable[str]]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()

    url = await raw_server(handle)
    resp = await client.request("GET", url + "/x", [], None)
    assert resp.body == b"all of it"


async def test_fastclient_garbage_response(client: FastClient, raw_server: Callable[[Handler], Awaitable[str]]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()

    url = await raw_server(handle)
    with pytest.raises(BackendError):
        await client.request("GET", url + "/x", [], None)


async def test_fastclient_large_body_and_limit(backend: Start) -> None:
    big = bytes(range(256)) * 20_000  # ~5 MB

    async def large(request: web.Request) -> web.Response:
        return web.Response(body=big)

    app = web.Application()
    app.router.add_get("/big", large)
    url = await backend(app)
    c = FastClient()
    small = FastClient(ClientOptions(max_body=1_000_000))
    try:
        assert (await c.request("GET", url + "/big", [], None)).body == big
        with pytest.raises(BackendError, match="too large"):
            await small.request("GET", url + "/big", [], None)
        with pytest.raises(BackendError, match="too large"):  # a fresh connection after the failure
            await small.request("GET", url + "/big", [], None)
    finally:
        await c.close()
        await small.close()


async def test_fastclient_follows_redirects(backend: Start, client: FastClient) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/target?from=moved")

    async def see_other(request: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/target")

    async def target(request: web.Request) -> web.Response:
        return web.json_response(
            {"method": request.method, "qs": request.query_string, "body": len(await request.read())}
        )

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/loop")

    app = web.Application()
    app.router.add_get("/moved", moved)
    app.router.add_post("/other", see_other)
    app.router.add_route("*", "/target", target)
    app.router.add_get("/loop", loop)
    url = await backend(app)
    resp = await client.request("GET", url + "/moved", [], None)
    assert (resp.status, resp.body) == (200, b'{"method": "GET", "qs": "from=moved", "body": 0}')
    resp = await client.request("POST", url + "/other", [("Content-Type", "application/json")], b"{}")
    assert resp.body == b'{"method": "GET", "qs": "", "body": 0}'
    with pytest.raises(BackendError, match="redirect"):
        await client.request("GET", url + "/loop", [], None)


async def test_fastclient_falls_back_for_what_it_does_not_handle(backend: Start, client: FastClient) -> None:
    async def any_(request: web.Request) -> web.Response:
        return web.Response(text=f"{request.method} {request.raw_path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_)
    url = await backend(app)
    resp = await client.request("HEAD", url + "/h", [], None)
    assert resp.status == 200 and resp.body == b""
    reference = AiohttpClient()
    try:  # a raw non-ASCII target: sent by aiohttp exactly as the aiohttp client sends it
        expected = await reference.request("GET", url + "/ü", [], None)
    finally:
        await reference.close()
    resp = await client.request("GET", url + "/ü", [], None)
    assert (resp.status, resp.body) == (expected.status, expected.body)
    with pytest.raises(BackendError):  # header injection is refused by aiohttp
        await client.request("GET", url + "/x", [("X-Bad", "a\r\nInjected: 1")], None)
    assert client._fallback is not None


async def test_fastclient_gateway_end_to_end(backend: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiohttp.test_utils import TestClient

    from krakenpy.config.build import build_service
    from krakenpy.gateway import build_gateway

    async def users(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"], "name": "ann", "secret": "x"})

    app = web.Application()
    app.router.add_get("/u/{id}", users)
    url = await backend(app)
    monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", "fast")
    doc = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/users/{id}", "backend": [{"host": [url], "url_pattern": "/u/{id}", "deny": ["secret"]}]}
        ],
    }
    gw = await build_gateway(build_service(doc))
    assert isinstance(gw.resources.http, FastClient)
    tc: TestClient[web.Request, web.Application] = TestClient(await gateway_server(gw.edge))  # type: ignore[arg-type]
    await tc.start_server()
    try:
        resp = await tc.get("/users/7")
        assert resp.status == 200
        assert await resp.text() == '{"id":"7","name":"ann"}'
    finally:
        await tc.close()
        await gw.close()


@pytest.mark.parametrize(("env", "expected"), [(None, FastClient), ("fast", FastClient), ("aiohttp", AiohttpClient)])
async def test_gateway_upstream_client_choice(monkeypatch: pytest.MonkeyPatch, env: str | None, expected: type) -> None:
    from krakenpy.config.build import build_service
    from krakenpy.gateway import build_gateway

    if env is None:
        monkeypatch.delenv("KRAKENPY_HTTP_CLIENT", raising=False)
    else:
        monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", env)
    doc = {
        "version": 3,
        "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
    }
    gw = await build_gateway(build_service(doc))
    try:
        assert type(gw.resources.http) is expected
    finally:
        await gw.close()


async def test_fastclient_short_path_answers_as_llhttp_does(
    client: FastClient, raw_server: Callable[[Handler], Awaitable[str]]
) -> None:
    # the same answer, once in one write (the short path reads it) and once cut inside the head (llhttp
    # parses it); then on the same kept-alive connection a chunked answer after a short-path one
    answer = (
        b"HTTP/1.1 201 Created\r\nServer: raw\r\nContent-Type: application/json\r\nX-Value:  a b \r\n"
        b'X-Bytes: caf\xc3\xa9 \xff\r\nContent-Length: 8\r\n\r\n{"a":1}\n'
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            await _read_head(reader)
            writer.write(answer)
            await writer.drain()
        await _read_head(reader)
        writer.write(answer[:20])
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(answer[20:])
        await writer.drain()
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    url = await raw_server(handle)
    short = await client.request("GET", url + "/x", [], None)
    again = await client.request("GET", url + "/x", [], None)
    split = await client.request("GET", url + "/x", [], None)
    chunked = await client.request("GET", url + "/x", [], None)
    assert short == again == split
    assert short.status == 201 and short.body == b'{"a":1}\n' and short.content_type == "application/json"
    assert dict(short.headers)["X-Bytes"] == "café \udcff"
    assert chunked.body == b"hello"
    # the short path's answers are QuickResponses (not the cut answer, nor the chunked one)
    quick = [isinstance(r, QuickResponse) for r in (short, again, split, chunked)]
    assert quick == [True, True, False, False]
    assert len(client._hosts) == 1 and len(next(iter(client._hosts.values())).idle) == 1  # one connection throughout


async def test_fastclient_reads_in_heap_sized_chunks(backend: Start, client: FastClient) -> None:
    # asyncio's default read size (256 KiB) costs an mmap, an mremap and a munmap per answer
    if "uvloop" in type(asyncio.get_running_loop()).__module__:
        pytest.skip("uvloop reads into one 250 kB array per loop and copies out what came: no read size")
    app, _ = _counting_app()
    url = await backend(app)
    await client.request("GET", url + "/hello", [], None)
    (pool,) = client._hosts.values()
    (conn,) = pool.idle
    assert getattr(conn.transport, "max_size", None) == fastwire.READ_SIZE < 128 * 1024


class _Recording(asyncio.Transport):
    """A transport that records what a write hands it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, object]] = []

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", data))

    def writelines(self, list_of_data: object) -> None:
        self.calls.append(("writelines", tuple(list_of_data)))  # type: ignore[call-overload]


async def test_fastwire_write_hands_the_head_and_the_body_over_apart() -> None:
    """A request's body goes to the transport as the very object given, beside its head (one
    ``writelines``: uvloop's is one writev), not copied behind the head into a new buffer first; a
    request without a body is one ``write`` of its head."""
    conn = fastwire.Conn(asyncio.get_running_loop(), 1024)
    transport = _Recording()
    conn.transport = transport
    head, body = b"POST /v1/traces HTTP/1.1\r\nHost: h\r\nContent-Length: 4096\r\n\r\n", os.urandom(4096)
    fastwire.write(conn, head, body).cancel()
    fastwire.write(conn, head, None).cancel()
    fastwire.write(conn, head, b"").cancel()
    assert transport.calls[0][0] == "writelines" and transport.calls[0][1] == (head, body)
    assert transport.calls[0][1][1] is body  # type: ignore[index]
    assert transport.calls[1:] == [("write", head), ("write", head)]


async def test_fastclient_posts_a_large_body_whole(backend: Start, client: FastClient) -> None:
    """A POST's head and body handed to the transport apart arrive as one request, the body whole."""
    got: list[bytes] = []

    async def sink(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.Response(text=str(request.content_length))

    app = web.Application()
    app.router.add_post("/v1/traces", sink)
    url = await backend(app)
    body = os.urandom(300_000)
    for _ in range(2):  # a new connection, then the kept-alive one
        resp = await client.request("POST", url + "/v1/traces", [("Content-Type", "application/x-protobuf")], body)
        assert resp.status == 200 and resp.body == b"300000"
    assert got == [body, body]
