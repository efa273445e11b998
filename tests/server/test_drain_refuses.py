"""A shutdown drain refuses new connections at once (as KrakenD: Go's ``Server.Shutdown`` closes the
listeners first): the supervisor closes its copy of the listening sockets and every worker closes
its own when it starts draining. While a worker's :class:`~krakenpy.server.acceptor.Acceptor` kept
its copy open, the kernel completed the handshake, the request waited unanswered, and the client was
reset when the last worker exited. A single worker's drain (the supervisor keeps its copy) leaves the
port to its replacement."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.server.process import Gateway, wait_http, write_json


async def _slow_backend(port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(3)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


def _probe(port: int) -> str:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except ConnectionRefusedError:
        return "refused"
    s.settimeout(1)
    try:
        s.sendall(b"GET /__health HTTP/1.1\r\nHost: x\r\n\r\n")
        return "answered" if s.recv(100) else "closed"
    except TimeoutError:
        return "hanging"
    except ConnectionResetError:
        return "reset"
    finally:
        s.close()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_a_new_connection_during_the_drain_is_refused(tmp_path: Path, loop: str, workers: int) -> None:
    """Before the fix: "hanging" on every loop with -w 2, and with -w 1 on uvloop (its Acceptor);
    asyncio's own server at -w 1 closed its socket and refused."""
    backend_port, port = free_port(), free_port()
    backend = await _slow_backend(backend_port)
    doc = {
        "version": 3,
        "port": port,
        "timeout": "10s",
        "endpoints": [
            {"endpoint": "/slow", "backend": [{"host": [f"http://127.0.0.1:{backend_port}"], "url_pattern": "/"}]}
        ],
    }
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    gateway = Gateway(write_json(tmp_path / "krakend.json", doc), "-w", str(workers), "--loop", loop, cwd=tmp_path)
    try:
        gateway.worker_pids(workers)
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/__health")
        conns = list(await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(4))))
        for _, w in conns:
            w.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.5)
        gateway.proc.terminate()
        await asyncio.to_thread(gateway.wait_log, "shutting down", 10.0, workers)
        await asyncio.sleep(0.2)  # draining: the in-flight requests have over 2 s left
        outcome = await asyncio.to_thread(_probe, port)
        draining = gateway.proc.poll() is None
    finally:
        for _, w in conns:
            w.close()
        # off the loop: the backend (on this loop) answers the drained requests, which the exit
        # waits for (a blocking stop here held them to the 10 s timeout: ~7 s a case)
        await asyncio.to_thread(gateway.stop)
        backend.close()
        await backend.wait_closed()
    assert draining, gateway.log[-1500:]  # the probe ran during the drain, not after the exit
    assert outcome == "refused", outcome + "\n" + gateway.log[-1500:]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_single_workers_replacement_still_accepts(tmp_path: Path, loop: str) -> None:
    """One worker drained on its own (SIGTERM to it, not to the supervisor) closes its copy of the
    socket; the supervisor's copy stays open, so its replacement serves on the same port."""
    port = free_port()
    gateway = Gateway(
        write_json(tmp_path / "krakend.json", {"version": 3, "port": port, "endpoints": []}),
        "-w",
        "1",
        "--loop",
        loop,
        cwd=tmp_path,
    )
    try:
        first = gateway.worker_pids(1)[1]
        wait_http(f"http://127.0.0.1:{port}/__health")
        os.kill(first, signal.SIGTERM)
        gateway.wait_log(r"listening on .* \(pid \d+, worker 1\)", count=2)
        second = gateway.worker_pids(1)[1]
        assert second != first
        wait_http(f"http://127.0.0.1:{port}/__health", timeout=5)
        assert _probe(port) == "answered"
    finally:
        assert gateway.stop() == 0
