"""Wire-level test kit: a raw loopback backend that records the exact request bytes it got, a raw
socket client that reads the gateway's exact response head, and a gateway started on a given
upstream client (both clients are exercised explicitly, whatever ``KRAKENPY_HTTP_CLIENT`` says)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import BaseTestServer
from aiohttp.web import BaseRunner

from krakenpy.backends.client import AiohttpClient, ClientOptions, UpstreamClient
from krakenpy.backends.fastclient import FastClient
from krakenpy.config.build import build_service
from krakenpy.edge import EdgeHandler
from krakenpy.gateway import Gateway, build_gateway
from krakenpy.server.limits import ServerLimits
from krakenpy.server.protocol import GatewayServer
from krakenpy.server.takeover import H2Takeover
from krakenpy.server.webrunner import GatewayRunner

CLIENTS: dict[str, Callable[[ClientOptions], UpstreamClient]] = {"fast": FastClient, "aiohttp": AiohttpClient}


@dataclass
class Seen:
    """One request as the backend read it off the socket."""

    method: str
    target: str
    #: (name, value) in wire order, values as raw bytes
    headers: list[tuple[str, bytes]]
    body: bytes

    def names(self) -> list[str]:
        return [name for name, _ in self.headers]

    def get(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


#: (request seen, port of this backend) → raw response bytes
Answer = Callable[[Seen, int], bytes]


def reply(
    status: int = 200,
    body: bytes = b'{"ok":true}',
    headers: tuple[tuple[str, str], ...] = (),
    content_type: str | None = "application/json",
) -> bytes:
    """A raw HTTP/1.1 answer that closes the connection."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    if content_type and not any(k.lower() == "content-type" for k, _ in headers):
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class RawBackend:
    """A loopback server reading each request's head and Content-Length body as bytes."""

    answer: Answer
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head[:-4].split(b"\r\n")
            method, target, _ = lines[0].decode("latin-1").split(" ", 2)
            headers = []
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers.append((name.decode("latin-1"), value.strip()))
            seen = Seen(method, target, headers, b"")
            length = seen.get("Content-Length")
            if length:
                seen.body = await reader.readexactly(int(length))
            self.seen.append(seen)
            writer.write(self.answer(seen, self.port))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def start(self) -> RawBackend:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@dataclass
class Head:
    """A response as read off the gateway's socket."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    #: set by tests that need to name the backend the answer came through
    backend_port: int = 0

    def names(self) -> set[str]:
        return {name.lower() for name, _ in self.headers}

    def get(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


async def raw_request(port: int, request: bytes, *, timeout: float = 10.0) -> Head:
    """Send ``request`` as bytes and read the whole answer (the request should say ``Connection: close``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = [(k.decode(), v.strip().decode("latin-1")) for k, _, v in (line.partition(b":") for line in lines[1:])]
    return Head(status, headers, body)


def get(path: str, *headers: str, method: str = "GET", body: bytes = b"") -> bytes:
    """A raw HTTP/1.1 request with ``Host``, ``Connection: close`` and the given header lines."""
    lines = [f"{method} {path} HTTP/1.1", "Host: gw.example", "Connection: close", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _GatewayTestServer(BaseTestServer):
    """aiohttp's test server interface on the server the runtime serves with: krakenpy's own protocol
    (:class:`krakenpy.server.protocol.GatewayServer`) on a gateway's edge handler, default limits."""

    def __init__(self, edge: EdgeHandler, h2: H2Takeover | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._edge = edge
        self._h2 = h2

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        server = GatewayServer(self._edge, limits=ServerLimits())
        server.h2 = self._h2
        return GatewayRunner(server)


async def gateway_server(edge: EdgeHandler, *, h2: H2Takeover | None = None) -> BaseTestServer:
    """A started test server for a gateway's edge handler, served as the runner serves it (``h2``:
    the gateway's HTTP/2 takeover, as ``grpc.server`` leaves it)."""
    server = _GatewayTestServer(edge, h2=h2, host="127.0.0.1")
    await server.start_server()
    return server


@dataclass
class Served:
    gateway: Gateway
    server: BaseTestServer

    @property
    def port(self) -> int:
        port = self.server.port
        assert port is not None
        return port


Start = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[Start]:
    """``await serve(config_dict, client="fast"|"aiohttp", debug=False)``: a gateway on 127.0.0.1."""
    started: list[Served] = []

    async def start(doc: dict[str, Any], *, client: str = "fast", debug: bool = False, **options: Any) -> Served:
        service = build_service(doc)
        gateway = await build_gateway(service, debug=debug, client=CLIENTS[client](ClientOptions(**options)))
        server = await gateway_server(gateway.edge)
        served = Served(gateway, server)
        started.append(served)
        return served

    yield start
    for served in started:
        await served.server.close()
        await served.gateway.close()


@pytest.fixture
async def raw_backend() -> AsyncIterator[Callable[[Answer], Awaitable[RawBackend]]]:
    """``await raw_backend(answer)``: a :class:`RawBackend` on 127.0.0.1."""
    backends: list[RawBackend] = []

    async def start(answer: Answer) -> RawBackend:
        backend = await RawBackend(answer).start()
        backends.append(backend)
        return backend

    yield start
    for backend in backends:
        await backend.close()
