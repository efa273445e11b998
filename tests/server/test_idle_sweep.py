"""The connection-deadline sweep pauses while no connection is open (an idle worker woke once a
tick for nothing) and runs again from the next connection: a client that sends nothing is still
cut at its header deadline; and through the real CLI an idle worker stays asleep."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.server.limits import ServerLimits
from krakenpy.server.protocol import GatewayServer
from tests.conftest import free_port
from tests.server.process import Gateway, wait_http, write_json

HEADER_TIMEOUT = 0.5  # the tick: a tenth of it, 50 ms


async def _ok(_request: HttpRequest) -> HttpResponse:
    return HttpResponse(body=b"ok")


async def test_the_sweep_pauses_while_idle_and_still_cuts_a_slow_client() -> None:
    gateway = GatewayServer(_ok, limits=ServerLimits(header_timeout=HEADER_TIMEOUT))
    tick = gateway.limits.tick
    sweeps: list[float] = []
    expire = gateway._expire_due

    def counted(now: float) -> None:  # the real sweep, counted
        sweeps.append(now)
        expire(now)

    gateway._expire_due = counted  # type: ignore[method-assign]
    listener = await asyncio.get_running_loop().create_server(gateway, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    gateway.start_sweeping()
    try:
        await asyncio.sleep(tick * 20)
        assert len(sweeps) <= 1  # the first found nothing open: no more (20 before)

        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n")  # and nothing more: the header deadline cuts it
        started = time.monotonic()
        await asyncio.wait_for(_reader.read(), HEADER_TIMEOUT * 4)
        took = time.monotonic() - started
        assert HEADER_TIMEOUT * 0.8 <= took <= HEADER_TIMEOUT + tick * 4, took
        writer.close()
        assert len(sweeps) >= HEADER_TIMEOUT / tick / 2  # swept while it was open

        await asyncio.sleep(tick * 3)  # the connection gone: the sweep pauses again
        before = len(sweeps)
        await asyncio.sleep(tick * 20)
        assert len(sweeps) == before
    finally:
        listener.close()
        await gateway.drain(0.1)
        gateway.stop_sweeping()
        await listener.wait_closed()


def _wakeups(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")


def test_an_idle_worker_sleeps(tmp_path: Path) -> None:
    """``run -w 2`` without telemetry, no connection open: a worker wakes a few times in 3 s at
    most (it woke at every 1 s tick of the sweep before, ~1 a second each; the threshold leaves
    room for the interpreter's own, none measured)."""
    port = free_port()
    config = {
        "version": 3,
        "port": port,
        "endpoints": [
            {"endpoint": "/x", "backend": [{"host": [f"http://127.0.0.1:{free_port()}"], "url_pattern": "/"}]}
        ],
    }
    gateway = Gateway(write_json(tmp_path / "krakend.json", config), "-w", "2", cwd=tmp_path)
    try:
        pids = gateway.worker_pids(2)
        wait_http(f"http://127.0.0.1:{port}/__health")
        time.sleep(2.5)  # the health checks' connections closed, the sweep paused
        before = {slot: _wakeups(pid) for slot, pid in pids.items()}
        time.sleep(3)
        woke = {slot: _wakeups(pid) - before[slot] for slot, pid in pids.items()}
        assert all(n <= 1 for n in woke.values()), woke
        assert gateway.stop() == 0
    finally:
        gateway.kill()
