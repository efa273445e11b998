"""Shared fixtures: real aiohttp backends on 127.0.0.1 and a real gateway built from a config dict."""

from __future__ import annotations

import copy
import gc
import logging
import os
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from krakenpy.config.build import build_service
from krakenpy.gateway import Gateway, build_gateway
from krakenpy.server.takeover import h2_takeover

# wire-level fixtures too (raw loopback backend, gateway on a chosen upstream client)
from tests.server.wirekit import gateway_server, raw_backend, serve  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]

#: ``KRAKENPY_TEST_LOOP=uvloop``: the async tests (the in-process ``gateway`` fixture's among them)
#: run on uvloop, the loop ``krakenpy run`` serves on by default; unset or ``asyncio``: asyncio's loop
TEST_LOOP = os.environ.get("KRAKENPY_TEST_LOOP", "asyncio")
if TEST_LOOP not in ("asyncio", "uvloop"):
    raise pytest.UsageError(f"KRAKENPY_TEST_LOOP={TEST_LOOP!r}: asyncio or uvloop")
if TEST_LOOP == "uvloop":
    import uvloop

    def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
        """pytest-asyncio's hook: every async test and fixture on a fresh uvloop loop."""
        return {"uvloop": uvloop.new_event_loop}

    def pytest_report_header(config: pytest.Config) -> str:
        """Say which loop the run is on."""
        return "event loop: uvloop (KRAKENPY_TEST_LOOP)"


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collecting imported (krakenpy, the test modules, aiohttp, boto, grpc...: ~160 k tracked
    objects) moved out of the cyclic collector, as ``krakenpy run`` freezes its start-up objects. Each
    gen-2 collection of the test process traversed all of it, the whole process stalled meanwhile (the
    Redis tests' 188 ms to 0.5 s stalls): in tests/ratelimit + tests/components + tests/pubsub on the
    2-core VM (a loop-lag probe and a watchdog thread), the 12 gen-2 collections during the tests took
    4.8 s, up to 574 ms each; frozen, 15 took 1.6 s, up to 85 ms. Objects the tests make are collected
    as before (the leak tests' gc.collect() sees every gateway)."""
    gc.collect()
    gc.freeze()


def _port_range() -> tuple[int, int]:
    """20000 up to the kernel's ephemeral ports (where ``bind(0)`` and outgoing connections draw)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 60000
    return 20000, low if low > 21000 else 60000


_PORTS = _port_range()
#: the ports' own generator, from the OS: a test seeds the module's global one (a fixed reservoir
#: sequence), after which two suites on one machine drew the same ports in the same order and took
#: each other's listeners (three CLI telemetry tests failed together in a clean-clone run so)
_DRAW = random.SystemRandom()
#: the ports :func:`free_port` handed out in this process: never handed out twice (a test that asks for
#: two ports got one port twice, once in 12 k: its gateway and its metrics listener on one port)
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port for a server the test starts in a subprocess (a real CLI), which must be told
    its port in advance. The port is free when chosen, not reserved: it is drawn at random below the
    ephemeral range, so other suites on the machine and ``bind(0)`` users do not pick it too. Servers
    in this process bind port 0 and read it back instead; an address that must refuse connections is
    :func:`dead_port`."""
    for _ in range(200):
        port = _DRAW.randrange(*_PORTS)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free loopback port found")


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections while the block runs: bound, never listening, so no
    other process can take it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@pytest.fixture
def dead_port() -> Iterator[int]:
    """:func:`refusing_port` for the whole test."""
    with refusing_port() as port:
        yield port


#: proxy variables a machine may set (a CI runner's HTTP_PROXY): tests call loopback and *.invalid hosts
_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test's backend call goes through a proxy the machine's environment names (the proxy tests
    set their own); subprocesses inherit the cleared environment."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _logging_levels_restored() -> Iterator[None]:
    """The root and ``krakenpy`` loggers' levels as each test found them: an in-process CLI call sets
    the root level (``--log-level``), and a later test's ``caplog`` would otherwise capture DEBUG lines it
    never asked for (it made the agent timeout test end its wait on an INFO line)."""
    root, ours = logging.getLogger(), logging.getLogger("krakenpy")
    saved = root.level, ours.level, ours.propagate
    yield
    root.setLevel(saved[0])
    ours.setLevel(saved[1])
    ours.propagate = saved[2]


@pytest.fixture(autouse=True)
def _no_worker_place_left() -> Iterator[None]:
    """No worker's place (``rundir.enter``) or metrics publisher outlives the test that made it: a
    ``Worker`` run in-process whose test ends before its shutdown left ``-w 1``'s place set, and every
    later gateway of the process then published to one in-memory publisher that kept the retired
    gateways' counts (a clean-clone run: test_metric_slots counted 8 requests where it sent 1)."""
    yield
    import sys

    place = sys.modules.get("krakenpy.server.rundir")
    if place is not None:
        place._CURRENT = None  # type: ignore[attr-defined]
    shared = sys.modules.get("krakenpy.telemetry.metrics.shared")
    if shared is not None:
        shared.PUBLISHER = None  # type: ignore[attr-defined]


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

    async def start(
        doc: dict[str, Any], *, debug: bool = False, base_dir: Path | None = None, started: bool = False
    ) -> TestClient[Any, Any]:
        service = build_service(doc)
        gw = await build_gateway(service, debug=debug, base_dir=base_dir)
        gateways.append(gw)
        if started:  # the start-up hooks `run` calls once it listens (exporters, subscriptions...)
            await gw.start()
        client: TestClient[Any, Any] = TestClient(await gateway_server(gw.edge, h2=h2_takeover(gw)))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for gw in gateways:
        await gw.close()


# one private RabbitMQ node for the whole session, whichever test directory asks for it first (a node
# takes seconds to boot); imported last: the module uses free_port above
from tests.rabbitmq_server import rabbit_node, rabbitmq  # noqa: E402, F401
