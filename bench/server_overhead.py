"""What krakenpy's listener (``krakenpy/server/protocol.py``: its own connections on aiohttp's C
parser, with clocks, header budget, swap) costs per request against aiohttp's plain low-level server,
with a trivial handler so nothing else is measured.

    .venv/bin/python -m bench.server_overhead [--runs 5] [--seconds 5]
    .venv/bin/python -m bench.server_overhead --instructions

Each server runs alone on CPU 0 (``taskset``), ``wrk -t1 -c50`` on CPU 1, alternately, several
times; the figures are medians of rps and of server CPU µs per request (utime+stime from /proc).
Loopback only; every run is bounded by wrk's duration. ``--instructions`` instead counts, with
valgrind's callgrind (reproducible on a shared machine), the instructions one request costs in the
connection object on a socket-less transport: its bytes parsed, the handler's task run, the response
written, for aiohttp's ``web.Server`` (``RequestHandler``) and for krakenpy's ``GatewayServer``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

PORT = 18091


def serve(kind: str) -> None:
    """The server process: ``plain`` (aiohttp ``web.Server``) or ``gateway`` (``GatewayServer``)."""
    from aiohttp import web

    from krakenpy.edge import HttpRequest, HttpResponse
    from krakenpy.server.limits import ServerLimits
    from krakenpy.server.protocol import GatewayServer

    body = b'{"id":1,"name":"ann"}'

    async def handler(request: web.BaseRequest) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def edge(request: HttpRequest) -> HttpResponse:
        return HttpResponse(headers={"Content-Type": "application/json"}, body=body)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        if kind == "gateway":
            gateway = GatewayServer(edge, limits=ServerLimits())
            await loop.create_server(gateway, "127.0.0.1", PORT, backlog=1024)
            gateway.start_sweeping()
        else:
            plain = web.Server(handler, access_log=None, handler_cancellation=True)
            await loop.create_server(plain, "127.0.0.1", PORT, backlog=1024)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    asyncio.run(main())


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(port: int) -> None:
    import socket

    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise SystemExit("server did not start")


def _one(kind: str, seconds: float) -> tuple[float, float]:
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "bench.server_overhead", "--serve", kind])
    try:
        _wait(PORT)
        url = f"http://127.0.0.1:{PORT}/"
        subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c50", "-d1s", url], capture_output=True, timeout=30)
        before = _cpu_seconds(proc.pid)
        out = subprocess.run(
            ["taskset", "-c", "1", "wrk", "-t1", "-c50", f"-d{seconds:g}s", url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
        used = _cpu_seconds(proc.pid) - before
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        return requests / seconds, used / requests * 1e6
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


_REQUEST = b"GET /p1 HTTP/1.1\r\nHost: gw.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"


def drive(kind: str, n: int) -> None:
    """``n`` requests through one connection object on a socket-less transport, each awaited until
    its response is written."""
    from aiohttp import web

    from krakenpy.edge import HttpRequest, HttpResponse
    from krakenpy.server.limits import ServerLimits
    from krakenpy.server.protocol import GatewayServer

    class Transport(asyncio.Transport):
        def __init__(self) -> None:
            super().__init__()
            self.written: asyncio.Event | None = None

        def get_extra_info(self, name: str, default: object = None) -> object:
            return ("127.0.0.1", 1) if name == "peername" else default

        def is_closing(self) -> bool:
            return False

        def get_write_buffer_size(self) -> int:
            return 0

        def write(self, data: object) -> None:
            if self.written is not None:
                self.written.set()

        def close(self) -> None:
            pass

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response()

    async def edge(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    async def run() -> None:
        connection: asyncio.Protocol
        if kind == "gateway":
            gateway = GatewayServer(edge, limits=ServerLimits())
            connection = gateway()
        else:
            limit = ServerLimits().header_budget  # the same parser limits as the gateway's
            plain = web.Server(handler, access_log=None, max_line_size=limit, max_field_size=limit, max_headers=1024)
            connection = plain()
        transport = Transport()
        connection.connection_made(transport)
        for _ in range(n):
            written = transport.written = asyncio.Event()
            connection.data_received(_REQUEST)
            await written.wait()
            await asyncio.sleep(0)  # the connection's bookkeeping after the write
        connection.connection_lost(None)

    asyncio.run(run())


def _instructions(kind: str, n: int) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable, "-m",
             "bench.server_overhead", "--drive", kind, str(n)],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(out.stderr[-2000:])
    return int(found[1])


def instructions() -> None:
    """Instructions per request of each connection class (long run minus short run)."""
    if not shutil.which("valgrind"):
        raise SystemExit("needs valgrind (apt-get install -y valgrind)")
    short, long = 2_000, 12_000
    per: dict[str, float] = {}
    for kind in ("plain", "gateway"):
        per[kind] = (_instructions(kind, long) - _instructions(kind, short)) / (long - short)
        print(f"{kind:8} {per[kind]:10,.0f} instructions/request", flush=True)
    print(f"listener : {per['gateway'] - per['plain']:+10,.0f} instructions/request")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server_overhead", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--instructions", action="store_true", help="count instructions with callgrind instead")
    parser.add_argument("--serve", choices=("plain", "gateway"), help=argparse.SUPPRESS)
    parser.add_argument("--drive", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.drive:
        drive(args.drive[0], int(args.drive[1]))
        return
    if args.instructions:
        instructions()
        return
    if not (shutil.which("wrk") and shutil.which("taskset")):
        raise SystemExit("needs wrk and taskset (apt-get install -y wrk util-linux)")
    results: dict[str, list[tuple[float, float]]] = {"plain": [], "gateway": []}
    for run in range(args.runs):
        for kind in results:
            rps, micros = _one(kind, args.seconds)
            results[kind].append((rps, micros))
            print(f"run {run + 1}/{args.runs} {kind:8} {rps:9,.0f} rps {micros:7.1f} µs/req", flush=True)
    plain_rps = statistics.median(r for r, _ in results["plain"])
    plain_us = statistics.median(u for _, u in results["plain"])
    gate_rps = statistics.median(r for r, _ in results["gateway"])
    gate_us = statistics.median(u for _, u in results["gateway"])
    print(f"plain aiohttp  : {plain_rps:9,.0f} rps {plain_us:7.1f} µs/req (medians)")
    print(f"GatewayServer  : {gate_rps:9,.0f} rps {gate_us:7.1f} µs/req (medians)")
    print(f"listener cost  : {gate_us - plain_us:+.1f} µs/req, {gate_rps / plain_rps - 1:+.1%} rps")


if __name__ == "__main__":
    main()
