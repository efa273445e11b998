"""How ``krakenpy run -w N`` splits a burst of keep-alive connections between its workers (issue 17, P6).

Each repetition opens ``--connections`` connections at once to ``/__health`` on 127.0.0.1, sends one
request on each and keeps them open, then counts every worker's established connections to the
gateway's port from ``/proc`` (its descriptors' socket inodes matched against ``/proc/net/tcp*``),
closes them and waits until every worker has seen them go. A bounded client, not a load run::

    python -m bench.balance --workers 2 --connections 50 --repeat 20
    python -m bench.balance --tree /other/checkout ...   # the same against another checkout
    python -m bench.balance --workers 4 --sequential 1000  # what waking every worker costs

``--sequential N`` opens N short connections one after the other instead (one request with
``Connection: close``, 2 ms apart, after 50 to warm up) and prints the workers' context switches
and CPU time over them, from ``/proc``: every new connection wakes every worker.

The figure per repetition is the largest worker's deviation from an even share, in percent (50
connections over 2 workers: 27/23 is ±8 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["deviation", "established", "open_burst", "spawn", "split"]

_ESTABLISHED = "01"


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _established_inodes(port: int) -> set[str]:
    """Inodes of the established TCP sockets whose local port is ``port``."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(inode)
    return found


def established(pids: Sequence[int], port: int) -> list[int]:
    """Per process of ``pids``: its established connections to local ``port``."""
    ours = _established_inodes(port)
    return [len(_socket_inodes(pid) & ours) for pid in pids]


def deviation(counts: Sequence[int]) -> float:
    """The largest distance of a count from the even share, in percent of that share."""
    share = sum(counts) / len(counts)
    return 100.0 * max(abs(c - share) for c in counts) / share if share else 0.0


async def open_burst(port: int, n: int) -> list[asyncio.StreamWriter]:
    """``n`` connections opened at once, one keep-alive request answered on each; left open."""
    request = b"GET /__health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        return writer

    return list(await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), 30))


def split(pids: Sequence[int], port: int, n: int) -> list[int]:
    """One repetition: the burst's count per worker, once each worker's count is stable."""

    async def run() -> list[int]:
        writers = await open_burst(port, n)
        counts = established(pids, port)
        deadline = time.monotonic() + 5
        while sum(counts) < n and time.monotonic() < deadline:  # answered means accepted: this is short
            await asyncio.sleep(0.01)
            counts = established(pids, port)
        for writer in writers:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
        deadline = time.monotonic() + 5
        while sum(established(pids, port)) and time.monotonic() < deadline:  # the workers saw them close
            await asyncio.sleep(0.01)
        return counts

    return asyncio.run(run())


#: what a worker spent, from ``/proc``: context switches (voluntary and not), and CPU clock ticks
_SWITCHES = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")


def worker_costs(pids: Sequence[int]) -> tuple[int, float]:
    """The workers' context switches and CPU seconds (user and system) so far, summed."""
    switches, ticks = 0, 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(_SWITCHES):
                switches += int(line.split()[1])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return switches, ticks / os.sysconf("SC_CLK_TCK")


def sequential(port: int, n: int) -> None:
    """``n`` short connections one after the other: connect, one request, read to the close."""
    request = b"GET /__health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(request)
            while conn.recv(65536):
                pass
        time.sleep(0.002)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_workers(proc: subprocess.Popen[str], count: int, log: list[str]) -> list[int]:
    """The workers' pids from their "listening" lines; then a thread keeps reading the log (a full
    pipe would stall the workers: they write an access log line per request)."""
    assert proc.stdout is not None
    stdout = proc.stdout
    pids: list[int] = []
    deadline = time.monotonic() + 60
    while len(pids) < count and time.monotonic() < deadline:
        line = stdout.readline()
        if not line:
            break
        log.append(line)
        m = re.search(r"listening on .*\(pid (\d+), worker \d+\)", line)
        if m:
            pids.append(int(m.group(1)))
    if len(pids) < count:
        raise SystemExit("the gateway did not start:\n" + "".join(log[-20:]))
    threading.Thread(target=lambda: all(True for _ in stdout), daemon=True).start()
    return pids


def spawn(tree: str, config: Path, workers: int, loop: str) -> subprocess.Popen[str]:
    """``krakenpy run`` from checkout ``tree``, in ``config``'s directory: ``python -m`` puts the
    current directory first on ``sys.path``, ahead of ``PYTHONPATH``, so a child started in a checkout
    ran that checkout's krakenpy whatever ``--tree`` said."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    cmd = [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-w", str(workers), "--loop", loop]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=config.parent
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", "-w", type=int, default=2)
    parser.add_argument("--connections", "-c", type=int, default=50)
    parser.add_argument("--repeat", "-n", type=int, default=20)
    parser.add_argument("--tree", default=".", help="the checkout whose krakenpy runs (default: this one)")
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--sequential", type=int, default=0, help="N short connections one after the other")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of the table")
    args = parser.parse_args(argv)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "krakend.json"
        config.write_text(json.dumps({"version": 3, "port": port, "endpoints": []}))
        proc = spawn(args.tree, config, args.workers, args.loop)
        log: list[str] = []
        try:
            pids = _wait_workers(proc, args.workers, log)
            if args.sequential:
                sequential(port, 50)
                switches, cpu = worker_costs(pids)
                sequential(port, args.sequential)
                after_switches, after_cpu = worker_costs(pids)
                per = 1000 / args.sequential
                print(
                    f"-w {args.workers}, {args.sequential} sequential connections: per 1000, "
                    f"{(after_switches - switches) * per:.0f} context switches, "
                    f"{(after_cpu - cpu) * per:.2f} s of worker CPU"
                )
                return 0
            rows = [split(pids, port, args.connections) for _ in range(args.repeat)]
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    devs = [deviation(r) for r in rows]
    if args.json:
        print(json.dumps({"rows": rows, "worst": max(devs), "median": statistics.median(devs)}))
        return 0
    for row, dev in zip(rows, devs, strict=True):
        print(f"{'/'.join(map(str, row)):>16}  ±{dev:.1f} %")
    print(f"-w {args.workers}, {args.connections} connections, {args.repeat} bursts: ", end="")
    print(f"worst ±{max(devs):.1f} %, median ±{statistics.median(devs):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
