"""Bounded wrk runs (``wrk -t1 -cN -dXs --latency``) pinned to the load CPU, and their parsed results."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace

from bench.procs import cpu_by_process

__all__ = ["Load", "WrkResult", "parse_wrk", "run_wrk"]

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION = re.compile(r"([\d.]+)(us|ms|s|m)\b")


def _ms(text: str) -> float:
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    timeouts: int
    errors: int  # connect/read/write socket errors + non-2xx/3xx responses
    cpu_us_per_req: float | None = None
    #: how unevenly the SUT's two busiest processes shared the work: max |share / mean - 1| of their CPU
    #: time during the run (P6: SO_REUSEPORT's spread of connections between 2 workers; the supervisor
    #: idles). None with a single busy process.
    spread: float | None = None


def parse_wrk(out: str) -> WrkResult:
    """Parse wrk's ``--latency`` report."""
    pct: dict[str, float] = {}
    for m in re.finditer(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M):
        pct[m.group(1)] = _ms(m.group(2))
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", out, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if total is None or rps is None:
        raise ValueError(f"unexpected wrk output:\n{out}")
    errors = 0
    timeouts = 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += int(sock.group(1)) + int(sock.group(2)) + int(sock.group(3))
        timeouts = int(sock.group(4))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    return WrkResult(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNITS[total.group(3)] / 1000.0,
        rps=float(rps.group(1)),
        p50_ms=pct.get("50", float("nan")),
        p99_ms=pct.get("99", float("nan")),
        timeouts=timeouts,
        errors=errors,
    )


@dataclass(frozen=True, slots=True)
class Load:
    url: str
    connections: int = 50
    seconds: float = 8.0
    cpus: str = "1"
    timeout_s: float = 2.0
    #: a wrk Lua script (``-s``), e.g. one that makes every request a POST with a body
    script: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def run_wrk(load: Load, sut_pid: int | None) -> WrkResult:
    """Run one bounded wrk load; with ``sut_pid``, also measure the SUT's CPU µs per request."""
    assert load.url.startswith("http://127.0.0.1:"), "only 127.0.0.1 may be a load target"
    argv = [
        "taskset",
        "-c",
        load.cpus,
        "wrk",
        "-t1",
        f"-c{load.connections}",
        f"-d{max(1, round(load.seconds))}s",
        f"--timeout={load.timeout_s:g}s",
        "--latency",
        *(["-s", load.script] if load.script else []),
        *(arg for name, value in load.headers for arg in ("-H", f"{name}: {value}")),
        load.url,
    ]
    before = cpu_by_process(sut_pid) if sut_pid else {}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=load.seconds + 30, check=False)
    after = cpu_by_process(sut_pid) if sut_pid else {}
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    res = parse_wrk(done.stdout)
    if sut_pid and res.requests:
        used = sorted((t - before.get(p, 0.0) for p, t in after.items()), reverse=True)
        cpu = sum(used) * 1e6 / res.requests
        busiest = used[:2]
        spread = None
        if len(busiest) == 2 and busiest[1] > 0.05 * busiest[0]:
            mean = sum(busiest) / 2
            spread = max(abs(x / mean - 1) for x in busiest)
        res = replace(res, cpu_us_per_req=cpu, spread=spread)
    return res
