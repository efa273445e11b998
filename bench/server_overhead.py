"""What krakenpy's listener (``krakenpy/server/protocol.py``: clocks, header budget, swap) costs per
request over aiohttp's plain low-level server, with a trivial handler so nothing else is measured.

    .venv/bin/python -m bench.server_overhead [--runs 5] [--seconds 5]
    .venv/bin/python -m bench.server_overhead --instructions

Each server runs alone on CPU 0 (``taskset``), ``wrk -t1 -c50`` on CPU 1, alternately, several
times; the figures are medians of rps and of server CPU µs per request (utime+stime from /proc).
Loopback only; every run is bounded by wrk's duration. ``--instructions`` instead counts, with
valgrind's callgrind (reproducible on a shared machine), the instructions one request costs in the
connection object itself: parsing a request's bytes and the bookkeeping after its response, for
aiohttp's ``RequestHandler`` and for krakenpy's ``GatewayProtocol`` (the difference is the listener).
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

    from krakenpy.server.limits import ServerLimits
    from krakenpy.server.protocol import GatewayServer

    body = b'{"id":1,"name":"ann"}'

    async def handler(request: web.BaseRequest) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        if kind == "gateway":
            server: web.Server = GatewayServer(handler, limits=ServerLimits(), access_log=None)
        else:
            server = web.Server(handler, access_log=None, handler_cancellation=True)
        loop = asyncio.get_running_loop()
        await loop.create_server(server, "127.0.0.1", PORT, backlog=1024)
        if isinstance(server, GatewayServer):
            server.start_sweeping()
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
    """``n`` requests through one connection object, without a socket or a handler."""
    from aiohttp import web
    from aiohttp.web_protocol import RequestHandler

    from krakenpy.server.limits import ServerLimits
    from krakenpy.server.protocol import GatewayServer

    class Transport(asyncio.Transport):
        def get_extra_info(self, name: str, default: object = None) -> object:
            return ("127.0.0.1", 1) if name == "peername" else default

        def is_closing(self) -> bool:
            return False

        def write(self, data: object) -> None:
            pass

        def close(self) -> None:
            pass

    class Done:  # what log_access reads of a request whose body was read
        class content:
            @staticmethod
            def is_eof() -> bool:
                return True

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        if kind == "gateway":
            connection: RequestHandler = GatewayServer(handler, limits=ServerLimits(), access_log=None)()
        else:
            server = web.Server(handler, access_log=None)
            limit = ServerLimits().header_budget  # the same parser limits as the gateway's
            connection = RequestHandler(
                server, loop=loop, access_log=None, max_line_size=limit, max_field_size=limit, max_headers=1024
            )
        connection.connection_made(Transport())
        assert connection._task_handler is not None
        connection._task_handler.cancel()
        for _ in range(n):
            connection.data_received(_REQUEST)
            connection._messages.clear()
            connection.log_access(Done, None, None)  # type: ignore[arg-type]
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
