"""A gateway served on 127.0.0.1 with its telemetry services started (as ``run`` does)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient, TestServer

from krakenpy.config.build import build_service
from krakenpy.gateway import Gateway, build_gateway


class Served:
    def __init__(self, client: TestClient[Any, Any], gateway: Gateway) -> None:
        self.client = client
        self.gateway = gateway


@pytest.fixture
async def served() -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """``await served(doc)``: build, start the telemetry services, serve; closed at teardown."""
    opened: list[Served] = []

    async def start(doc: dict[str, Any], *, debug: bool = False) -> Served:
        gateway = await build_gateway(build_service(doc), debug=debug)
        await gateway.start()
        client: TestClient[Any, Any] = TestClient(RawTestServer(gateway.handler, host="127.0.0.1"))
        await client.start_server()
        result = Served(client, gateway)
        opened.append(result)
        return result

    yield start
    for s in opened:
        await s.client.close()
        await s.gateway.close()


@pytest.fixture
async def upstream() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Start an aiohttp app on 127.0.0.1; returns its base URL."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


def recording_app(seen: list[web.Request], data: dict[str, Any] | None = None, status: int = 200) -> web.Application:
    """A JSON backend that records every request it got."""

    async def handle(request: web.Request) -> web.Response:
        seen.append(request)
        await request.read()
        return web.json_response(data or {"ok": True}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def doc(endpoints: list[dict[str, Any]], **service: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"version": 3, "endpoints": endpoints}
    out.update(service)
    return out
