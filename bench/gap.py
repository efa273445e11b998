"""``python -m bench.gap``: what a T row costs beyond its user-space instructions (issue 14).

callgrind (``bench.instructions``) counts user-space instructions of one process; wrk's "CPU µs per
request" is utime + stime of the gateway's process tree. This starts the nginx backend (CPU 1, also
the traces row's OTLP collector, as in ``python -m bench``) and the T rows' gateways (``bench/configs/
t-*.json``, CPU 0, uvloop, 1 worker), and sends each ``--n`` requests from a keep-alive client of its
own (``--connections`` sockets, one request in flight each, on CPU 1) in three passes per round,
rows interleaved:

- plain: per request utime and stime (``/proc/PID/stat``), voluntary and involuntary context switches
  (``/proc/PID/task/*/status``), read and write calls (``/proc/PID/io``), of the whole tree
  (supervisor and worker), and the nginx backend's CPU (the collector of the traces row);
- ``perf stat``: syscalls (``raw_syscalls:sys_enter``) and context switches by tracepoints (no
  ptrace stop per call, so the loop batches as without it);
- ``strace -f -c``: the syscalls by kind (slowed by ptrace: the loop then gathers more events per
  wake, so read the kinds, and the perf pass for the totals).

Only 127.0.0.1; every process started is stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import CLK_TCK, Processes, tree, wait_http
from bench.scenarios import CONFIGS, LOAD_CPUS, SUT_CPUS, start_backend

__all__ = ["Counters", "parse_perf", "parse_strace", "read_counters", "run_client"]

ROWS = ("t-off", "t-log", "t-traces")
WORK = Path(__file__).resolve().parent / ".work-gap"
_REQUEST = b"GET /p1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench-gap\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Counters:
    """Cumulative counters of a set of processes (seconds and counts)."""

    utime: float = 0.0
    stime: float = 0.0
    voluntary: int = 0
    involuntary: int = 0
    reads: int = 0
    writes: int = 0
    #: time on a CPU from the scheduler (``/proc/PID/task/*/schedstat``, ns: finer than the ticks above)
    oncpu: float = 0.0
    threads: int = 0
    #: page faults served without I/O (``minflt``): a fresh heap or mmap page touched costs kernel time
    minflt: int = 0

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            self.utime - other.utime,
            self.stime - other.stime,
            self.voluntary - other.voluntary,
            self.involuntary - other.involuntary,
            self.reads - other.reads,
            self.writes - other.writes,
            self.oncpu - other.oncpu,
            self.threads,
            self.minflt - other.minflt,
        )


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def read_counters(pids: Sequence[int], proc: Path = Path("/proc")) -> Counters:
    """The counters of ``pids`` summed (a process's stat and io hold its threads; switches are per thread)."""
    ut = st = vol = invol = rd = wr = ns = threads = flt = 0
    for pid in pids:
        stat = _read(proc / str(pid) / "stat").rpartition(")")[2].split()
        if len(stat) > 12:
            flt += int(stat[7])
            ut += int(stat[11])
            st += int(stat[12])
        for line in _read(proc / str(pid) / "io").splitlines():
            name, _, value = line.partition(":")
            if name == "syscr":
                rd += int(value)
            elif name == "syscw":
                wr += int(value)
        tasks = proc / str(pid) / "task"
        for task in sorted(tasks.iterdir()) if tasks.is_dir() else ():
            threads += 1
            ns += int((_read(task / "schedstat").split() or ["0"])[0])
            for line in _read(task / "status").splitlines():
                name, _, value = line.partition(":")
                if name == "voluntary_ctxt_switches":
                    vol += int(value)
                elif name == "nonvoluntary_ctxt_switches":
                    invol += int(value)
    return Counters(ut / CLK_TCK, st / CLK_TCK, vol, invol, rd, wr, ns / 1e9, threads, flt)


_PERF_LINE = re.compile(r"^\s*([\d.]+|<not counted>|<not supported>),[^,]*,([^,]+),")


def parse_perf(text: str) -> dict[str, float]:
    """``perf stat -x,`` output: event → count (events perf could not count are left out)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _PERF_LINE.match(line)
        if m and m.group(1)[0].isdigit():
            out[m.group(2)] = out.get(m.group(2), 0.0) + float(m.group(1))
    return out


_STRACE_LINE = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)(?:\s+(\d+))?\s+(\w+)\s*$")


def parse_strace(text: str) -> dict[str, int]:
    """``strace -c`` summary: syscall → calls (the ``total`` line left out)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _STRACE_LINE.match(line)
        if m and m.group(3) != "total":
            out[m.group(3)] = int(m.group(1))
    return out


class _Conn(asyncio.Protocol):
    """One keep-alive connection: a request, its whole answer (head + Content-Length), the next."""

    def __init__(self, left: list[int], done: asyncio.Future[None]) -> None:
        self.left, self.done = left, done
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._next()

    def _next(self) -> None:
        assert self.transport is not None
        if self.left[0] <= 0:
            self.transport.close()
            return
        self.left[0] -= 1
        self.transport.write(_REQUEST)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            if not head.startswith(b"http/1.1 200"):
                self._fail(RuntimeError(f"answer {self.buf[:end]!r}"))
                return
            length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            self.answered += 1
            self._next()

    def _fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._fail(exc)


async def _client(port: int, n: int, connections: int) -> int:
    loop = asyncio.get_running_loop()
    left = [n]
    conns: list[_Conn] = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(functools.partial(_remember, conns, left, done), "127.0.0.1", port)
    while sum(c.answered for c in conns) < n:
        failed = [c.done.exception() for c in conns if c.done.done()]  # each one retrieved
        if failed:
            raise RuntimeError(f"{len(failed)} connection(s) failed") from failed[0]
        await asyncio.sleep(0.002)
    return n


def _remember(conns: list[_Conn], left: list[int], done: asyncio.Future[None]) -> _Conn:
    conn = _Conn(left, done)
    conns.append(conn)
    return conn


def run_client(port: int, n: int, connections: int) -> float:
    """``n`` GET /p1 on ``connections`` keep-alive sockets; returns the wall seconds."""
    start = time.monotonic()
    asyncio.run(asyncio.wait_for(_client(port, n, connections), timeout=60 + n / 100))
    return time.monotonic() - start


@dataclass
class _Row:
    name: str
    port: int
    pids: list[int]
    plain: list[tuple[Counters, float, float]] = field(default_factory=list)  # counters, backend s, wall s
    perf: list[dict[str, float]] = field(default_factory=list)
    strace: list[dict[str, int]] = field(default_factory=list)


def _traced(argv: list[str], action: Callable[[], object]) -> str:
    """Run ``argv`` (perf or strace attached to ``pids``) around ``action``; its stderr."""
    tool = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # attached (strace stops every thread once; perf opens its events)
    try:
        action()
    finally:
        tool.send_signal(signal.SIGINT)
        _, err = tool.communicate(timeout=30)
    return err


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _report(rows: list[_Row], n: int, strace_n: int) -> str:
    lines = [f"per request (median of the rounds; {n} requests a pass)", ""]
    head = f"{'':34}" + "".join(f"{r.name:>11}" for r in rows)
    lines.append(head)

    def line(label: str, values: list[float], fmt: str) -> None:
        lines.append(f"{label:34}" + "".join(format(v, fmt).rjust(11) for v in values))

    def plain(get: Callable[[Counters], float]) -> list[float]:
        return [_median([get(c) / n for c, _, _ in r.plain]) for r in rows]

    line("user CPU µs", [v * 1e6 for v in plain(lambda c: c.utime)], ".1f")
    line("sys CPU µs", [v * 1e6 for v in plain(lambda c: c.stime)], ".1f")
    line("user+sys µs", [v * 1e6 for v in plain(lambda c: c.utime + c.stime)], ".1f")
    line("on CPU µs (schedstat)", [v * 1e6 for v in plain(lambda c: c.oncpu)], ".1f")
    line("threads", [_median([c.threads for c, _, _ in r.plain]) for r in rows], ".0f")
    line("wall µs (client's)", [_median([w / n * 1e6 for _, _, w in r.plain]) for r in rows], ".1f")
    line("nginx backend CPU µs", [_median([b / n * 1e6 for _, b, _ in r.plain]) for r in rows], ".1f")
    line("voluntary ctx switches", plain(lambda c: c.voluntary), ".3f")
    line("involuntary ctx switches", plain(lambda c: c.involuntary), ".3f")
    line("minor page faults", plain(lambda c: c.minflt), ".3f")
    line("read calls (/proc io)", plain(lambda c: c.reads), ".3f")
    line("write calls (/proc io)", plain(lambda c: c.writes), ".3f")
    events = sorted({e for r in rows for p in r.perf for e in p})
    for event in events:
        line(f"perf {event}", [_median([p.get(event, 0.0) / n for p in r.perf]) for r in rows], ".3f")
    kinds = sorted({k for r in rows for s in r.strace for k in s}, key=lambda k: -max(
        _median([s.get(k, 0) for s in r.strace]) for r in rows))  # fmt: skip
    if kinds:
        lines.append(f"strace -f -c, calls per request ({strace_n} requests a pass):")
    for kind in kinds:
        line(f"  {kind}", [_median([s.get(kind, 0) / strace_n for s in r.strace]) for r in rows], ".3f")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gap", description=__doc__)
    p.add_argument("--n", type=int, default=4000, help="requests per pass")
    p.add_argument("--strace-n", type=int, default=4000, help="requests of the strace pass (slowed by ptrace)")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rows", default=",".join(ROWS), help="configs bench/configs/NAME.json, e.g. t-off,t-log")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="also run each row with this environment (rows marked *), e.g. GLIBC_TUNABLES=...",
    )
    p.add_argument("--no-strace", action="store_true")
    p.add_argument("--no-perf", action="store_true")
    args = p.parse_args(argv)
    os.sched_setaffinity(0, {int(LOAD_CPUS)})  # the client beside the backend, as wrk runs
    procs = Processes(WORK / "logs")
    rows: list[_Row] = []

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        backend = start_backend(procs, WORK)
        env = dict(item.split("=", 1) for item in args.env)
        variants: list[tuple[str, dict[str, str]]] = [(name, {}) for name in args.rows.split(",")]
        variants += [(name + "*", env) for name in args.rows.split(",") if env]
        for i, (name, extra) in enumerate(variants):
            port = 18090 + i
            config = str(CONFIGS / f"{name.rstrip('*')}.json")
            argv_ = [sys.executable, "-m", "krakenpy", "run", "-c", config, "-p", str(port)]
            argv_ += ["--workers", "1", "--loop", "uvloop", "--log-level", "WARNING"]
            started = procs.start(name, argv_, SUT_CPUS, env=extra)
            wait_http(f"http://127.0.0.1:{port}/p1", started.proc, deadline=30.0)
            rows.append(_Row(name, port, []))
        time.sleep(1.0)
        for row, item in zip(rows, procs.started[1:], strict=True):
            row.pids = tree(item.pid)
            run_client(row.port, args.n, args.connections)  # warm-up
        backend_pids = tree(backend.started.pid)
        for _ in range(args.rounds):
            for row in rows:
                before, bb = read_counters(row.pids), read_counters(backend_pids)
                wall = run_client(row.port, args.n, args.connections)
                after, ba = read_counters(row.pids), read_counters(backend_pids)
                spent = ba - bb
                row.plain.append((after - before, spent.utime + spent.stime, wall))
                client = functools.partial(run_client, row.port, args.n, args.connections)
                if not args.no_perf:
                    events = "raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_epoll_pwait"
                    pids = ",".join(map(str, row.pids))
                    row.perf.append(parse_perf(_traced(["perf", "stat", "-x,", "-e", events, "-p", pids], client)))
                if not args.no_strace:
                    attach = [a for pid in row.pids for a in ("-p", str(pid))]
                    short = functools.partial(run_client, row.port, args.strace_n, args.connections)
                    row.strace.append(parse_strace(_traced(["strace", "-f", "-c", *attach], short)))
            print(f"after round {len(rows[0].plain)}:\n{_report(rows, args.n, args.strace_n)}\n", flush=True)
    except KeyboardInterrupt:
        print("bench.gap: interrupted", flush=True)
        return 130
    finally:
        procs.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
