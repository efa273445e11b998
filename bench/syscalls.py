"""``python -m bench.syscalls``: what the kernel side of a request costs, at real speed, without wrk.

valgrind counts user-space instructions only. This runs the gateway (``krakenpy run``, one worker, on
CPU 0) on a bench config against an nginx backend, drives a bounded number of requests at it from a
small client of its own (CPU 1, ``--connections`` keep-alive connections asking concurrently), and
reads per request over the counted window, with ``perf stat`` attached to the gateway: system calls
(all, and by kind), context switches (a voluntary one is the loop going to sleep in ``epoll_wait``:
a wakeup), task clock; and the user and system CPU time from ``/proc``. Rows alternate (every row
once, then every row again) so drift hits them alike.

    python -m bench.syscalls --only t-off,t-log --requests 5000 --rounds 3

Needs nginx and perf (``perf_event_paranoid`` ≤ 2 for one's own processes). All on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench.peers import bodies

#: the syscalls always listed (any other kind is listed when it occurred)
KINDS = ("epoll_wait", "read", "write")
CONFIGS = Path(__file__).parent / "configs"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _nginx(work: Path, port: int) -> subprocess.Popen[bytes]:
    temp = work / "nginx-temp"
    temp.mkdir(parents=True, exist_ok=True)
    small = bodies()["small"].decode()
    conf = work / "nginx.conf"
    conf.write_text(f"""
daemon off; master_process on; worker_processes 1; pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off; client_body_temp_path {temp}/body; proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi; uwsgi_temp_path {temp}/uwsgi; scgi_temp_path {temp}/scgi;
    keepalive_requests 1000000; keepalive_timeout 120s; server_tokens off;
    server {{ listen 127.0.0.1:{port} backlog=4096; default_type application/json;
        location = /small.json {{ return 200 '{small}'; }} }}
}}
""")
    return subprocess.Popen(["taskset", "-c", "1", "nginx", "-p", str(work), "-c", str(conf)])


def _config(work: Path, name: str, backend: int, port: int) -> Path:
    doc = orjson.loads((CONFIGS / f"{name}.json").read_bytes())
    doc["host"] = [f"http://127.0.0.1:{backend}"]
    doc["port"] = port
    path = work / f"{name}.json"
    path.write_bytes(orjson.dumps(doc))
    return path


async def _wait_port(port: int, deadline: float) -> None:
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


class _Conn(asyncio.Protocol):
    """One keep-alive connection asking ``/p1`` again as soon as each answer is in."""

    def __init__(self, request: bytes, budget: list[int], done: asyncio.Future[None]) -> None:
        self.request, self.budget, self.done = request, budget, done
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._ask()

    def _ask(self) -> None:
        assert self.transport is not None
        if self.budget[0] <= 0:
            self.transport.close()
            if not self.done.done() and self.budget[1] == 0:
                self.done.set_result(None)
            return
        self.budget[0] -= 1
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            self.buffer = buffer
            return
        length = int(buffer.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        if len(buffer) < end + 4 + length:
            self.buffer = buffer
            return
        if not buffer.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(buffer[:200])
        self.buffer = buffer[end + 4 + length :]
        self.budget[1] -= 1
        self._ask()


async def _drive(port: int, requests: int, connections: int) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    budget = [requests, requests]  # left to send, left to receive
    request = b"GET /p1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n"
    for _ in range(connections):
        await loop.create_connection(lambda: _Conn(request, budget, done), "127.0.0.1", port)
    await done


def _cpu(pid: int) -> tuple[int, int, int, int, int]:
    """utime, stime (clock ticks), threads, voluntary and involuntary context switches (all threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    voluntary = involuntary = 0
    tasks = list(Path(f"/proc/{pid}/task").iterdir())
    for task in tasks:
        for line in (task / "status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return int(fields[11]), int(fields[12]), len(tasks), voluntary, involuntary


def _measure(name: str, work: Path, backend: int, args: argparse.Namespace) -> dict[str, float]:
    port = _free_port()
    config = _config(work, name, backend, port)
    argv = [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-p", str(port), "--workers", "1"]
    argv += ["--loop", "uvloop", "--log-level", "WARNING"]
    gateway = subprocess.Popen(["taskset", "-c", "0", *argv], stdout=subprocess.DEVNULL, cwd=args.tree or None)
    try:
        asyncio.run(_wait_port(port, time.monotonic() + 30))
        time.sleep(0.5)
        pids = [gateway.pid]
        kids = Path(f"/proc/{gateway.pid}/task/{gateway.pid}/children").read_text().split()
        pids += [int(k) for k in kids]
        asyncio.run(_drive(port, args.warmup, args.connections))
        events = ["raw_syscalls:sys_enter", "context-switches", "task-clock", "page-faults", "cpu-migrations"]
        events.append("syscalls:sys_enter_*")
        out = work / "perf.csv"
        perf = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-o", str(out), "-e", ",".join(events), "-p", ",".join(map(str, pids))]
        )
        time.sleep(0.3)
        before = [_cpu(p) for p in pids]
        client = subprocess.run(
            ["taskset", "-c", "1", sys.executable, "-c",
             f"import time, uvloop, bench.syscalls as s; t = time.perf_counter(); "
             f"uvloop.run(s._drive({port}, {args.requests}, {args.connections})); print(time.perf_counter() - t)"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        wall = float(client.stdout.split()[-1])
        after = [_cpu(p) for p in pids]
        perf.send_signal(signal.SIGINT)
        perf.wait()
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(10)
    per = float(args.requests)
    tick = 1e6 / os.sysconf("SC_CLK_TCK")
    result = {
        "rps": per / wall,
        "user_us": sum(a[0] - b[0] for a, b in zip(after, before, strict=True)) * tick / per,
        "sys_us": sum(a[1] - b[1] for a, b in zip(after, before, strict=True)) * tick / per,
        "threads": float(sum(a[2] for a in after)),
        "voluntary_switches": sum(a[3] - b[3] for a, b in zip(after, before, strict=True)) / per,
        "involuntary_switches": sum(a[4] - b[4] for a, b in zip(after, before, strict=True)) / per,
    }
    for line in out.read_text().splitlines():
        parts = line.split(",")
        if len(parts) < 3 or not parts[0].replace(".", "").isdigit():
            continue
        event = parts[2].removeprefix("syscalls:sys_enter_")
        if event == "task-clock":
            result["task_clock_us"] = float(parts[0]) * 1000 / per  # perf writes msec
        elif float(parts[0]) or event in KINDS:
            result[event] = float(parts[0]) / per
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="t-off,t-log", help="bench/configs names (T rows), comma-separated")
    parser.add_argument("--requests", type=int, default=5000, help="counted requests per run")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", default="", help="the checkout whose krakenpy serves (default: this one)")
    args = parser.parse_args()
    names = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="krakenpy-syscalls-") as tmp:
        work = Path(tmp)
        backend = _free_port()
        nginx = _nginx(work, backend)
        try:
            asyncio.run(_wait_port(backend, time.monotonic() + 10))
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
            for _ in range(args.rounds):
                for name in names:
                    runs[name].append(_measure(name, work, backend, args))
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(10)
    keys = list(dict.fromkeys(key for name in names for run in runs[name] for key in run))
    print(f"per request, median of {args.rounds} runs of {args.requests} requests, c={args.connections}")
    print(f"{'':22s}" + "".join(f"{name:>12s}" for name in names))
    for key in keys:
        row = [statistics.median(r.get(key, 0.0) for r in runs[name]) for name in names]
        print(f"{key:22s}" + "".join(f"{value:12.3f}" for value in row))


if __name__ == "__main__":
    main()
