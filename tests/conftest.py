"""Shared fixtures: real aiohttp backends on 127.0.0.1 and a real gateway built from a config dict."""

from __future__ import annotations

import copy
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from krakenpy.config.build import build_service
from krakenpy.gateway import Gateway, build_gateway

# wire-level fixtures too (raw loopback backend, gateway on a chosen upstream client)
from tests.server.wirekit import gateway_server, raw_backend, serve  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_config(endpoints: list[dict[str, Any]], **service: Any) -> dict[str, Any]:
    """A version-3 config around ``endpoints`` (defaults: timeout 2s)."""
    doc: dict[str, Any] = {"version": 3, "endpoints": copy.deepcopy(endpoints)}
    doc.update(service)
    return doc


BackendApp = Callable[[web.Application], None]


@pytest.fixture
async def backend() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Start an aiohttp app on 127.0.0.1; returns its base URL (``http://127.0.0.1:PORT``)."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def gateway() -> AsyncIterator[Callable[..., Awaitable[TestClient[Any, Any]]]]:
    """Build a gateway from a config dict and serve it on 127.0.0.1; returns an aiohttp test client."""
    clients: list[TestClient[Any, Any]] = []
    gateways: list[Gateway] = []

    async def start(doc: dict[str, Any], *, debug: bool = False, base_dir: Path | None = None) -> TestClient[Any, Any]:
        service = build_service(doc)
        gw = await build_gateway(service, debug=debug, base_dir=base_dir)
        gateways.append(gw)
        client: TestClient[Any, Any] = TestClient(await gateway_server(gw.edge))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for gw in gateways:
        await gw.close()
