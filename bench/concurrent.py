"""``python -m bench.concurrent``: each T row's cost against telemetry off, the two gateways loaded at
the same time on one CPU (issue 14's budgets on a VM whose speed swings within seconds).

Round 26's VM served the same gateway at 11k and at 33k rps in 1 s slices a few seconds apart
(bench/README, "round 26"): the interleaved pairs of ``python -m bench --interleave`` compare slices
taken one after another, and such swings leave their ratios meaningless. Here a row and its baseline
run *together*: both gateways pinned to CPU 0, each driven by its own bounded wrk (``-t1 -c50``) on
CPU 1 beside the nginx backend, for the same seconds. Whatever speed the host gives CPU 0 meanwhile,
both see it alike (the kernel alternates them every few milliseconds), so for each pair:

- **cost ratio** = (baseline's on-CPU ns per request) ÷ (row's): what the row's rps would be as a
  share of telemetry off's at the same CPU, read from ``/proc/PID/task/*/schedstat`` (ns on CPU, every
  thread of the gateway's process tree) and the requests wrk counted;
- **rps ratio** = row's rps ÷ baseline's: the same when the fair scheduler split the CPU evenly, which
  the **CPU share** (the row's part of the two gateways' CPU time) shows.

The median over ``--rounds`` pairs is printed with its spread. ``--base NAME`` loads the rows against
another config than ``t-off`` (``--base t-log-noid --rows t-log``: the request id alone); ``--perf``
also records each pair with ``perf`` and prints each row's CPU time per request by shared object and
function (:mod:`bench.timeprofile`). Only 127.0.0.1; every load bounded (``wrk -d``, ``perf record --
sleep``); every process started is stopped on exit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import WrkResult, parse_wrk
from bench.procs import Processes, tree, wait_http
from bench.scenarios import CONFIGS, LOAD_CPUS, SUT_CPUS, start_backend
from bench.timeprofile import Profile, record, report_samples

__all__ = ["Pair", "on_cpu_ns", "run_pair"]

WORK = Path(__file__).resolve().parent / ".work-concurrent"
ROWS = ("t-log", "t-stats", "t-prom", "t-traces")
BASE = "t-off"


def on_cpu_ns(pids: Sequence[int]) -> int:
    """Nanoseconds on CPU of every thread of ``pids`` (``schedstat``'s first field; gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in threads:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


@dataclass(frozen=True, slots=True)
class Pair:
    """One round of a row against the baseline, loaded together."""

    base: WrkResult
    row: WrkResult
    base_cpu_ns: int
    row_cpu_ns: int

    @property
    def cost_ratio(self) -> float:
        """The baseline's on-CPU time per request ÷ the row's (1.0: the row costs nothing more)."""
        base = self.base_cpu_ns / max(self.base.requests, 1)
        row = self.row_cpu_ns / max(self.row.requests, 1)
        return base / row if row > 0 else float("nan")

    @property
    def rps_ratio(self) -> float:
        return self.row.rps / self.base.rps if self.base.rps > 0 else float("nan")

    @property
    def share(self) -> float:
        """The row's part of the two gateways' CPU time (0.5: an even split)."""
        total = self.base_cpu_ns + self.row_cpu_ns
        return self.row_cpu_ns / total if total else float("nan")


def _wrk(url: str, seconds: int, connections: int) -> subprocess.Popen[str]:
    assert url.startswith("http://127.0.0.1:"), "only 127.0.0.1 may be a load target"
    argv = ["taskset", "-c", LOAD_CPUS, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout=2s", "--latency"]
    return subprocess.Popen([*argv, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], seconds: int) -> WrkResult:
    out, err = proc.communicate(timeout=seconds + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.strip() or out.strip()}")
    return parse_wrk(out)


def run_pair(
    base_url: str, base_pids: list[int], row_url: str, row_pids: list[int], seconds: int, connections: int
) -> Pair:
    """Both loads started together and read together; the gateways' CPU read around them."""
    base_before, row_before = on_cpu_ns(base_pids), on_cpu_ns(row_pids)
    procs = (_wrk(base_url, seconds, connections), _wrk(row_url, seconds, connections))
    try:
        base, row = (_finish(p, seconds) for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return Pair(base, row, on_cpu_ns(base_pids) - base_before, on_cpu_ns(row_pids) - row_before)


@dataclass
class _Row:
    name: str
    url: str
    pids: list[int] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    profile: Profile = field(default_factory=Profile)


def threads_of(pids: Sequence[int]) -> list[int]:
    """The thread ids of ``pids`` (gone ones have none)."""
    out: list[int] = []
    for pid in pids:
        try:
            out += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
    return out


def profiled_pair(base: _Row, row: _Row, seconds: int, connections: int, data: Path) -> Pair:
    """:func:`run_pair` with both gateways' trees recorded by ``perf`` (``--perf``), added to ``row.profile``."""
    side = {t: "base" for t in threads_of(base.pids)} | {t: "row" for t in threads_of(row.pids)}
    perf = record([*base.pids, *row.pids], seconds + 1.5, data)
    time.sleep(0.5)  # perf attached before the loads start
    pair = run_pair(base.url, base.pids, row.url, row.pids, seconds, connections)
    _, err = perf.communicate(timeout=seconds + 60)
    if perf.returncode != 0:
        raise RuntimeError(f"perf record failed ({perf.returncode}): {err.decode(errors='replace').strip()}")
    row.profile.add(
        report_samples(data),
        side,
        {"base": pair.base_cpu_ns, "row": pair.row_cpu_ns},
        {"base": pair.base.requests, "row": pair.row.requests},
    )
    return pair


def _report(rows: list[_Row], base: str = BASE) -> str:
    lines = [
        f"| row (against {base}, loaded together) | pairs | cost ratio (median) | all pairs "
        "| rps ratio (median) | row's CPU share |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        if not row.pairs:
            continue
        costs = sorted(p.cost_ratio for p in row.pairs)
        rps = statistics.median(p.rps_ratio for p in row.pairs)
        share = statistics.median(p.share for p in row.pairs)
        lines.append(
            f"| {row.name} | {len(row.pairs)} | **{statistics.median(costs) * 100:.1f} %** | "
            f"{costs[0] * 100:.1f}–{costs[-1] * 100:.1f} % | {rps * 100:.1f} % | {share * 100:.1f} % |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.concurrent", description=__doc__)
    p.add_argument("--rows", default=",".join(ROWS), help="configs bench/configs/NAME.json against the base")
    p.add_argument("--base", default=BASE, help="the config every row is loaded together with (t-off)")
    p.add_argument("--rounds", type=int, default=5, help="pairs per row (rows take turns)")
    p.add_argument("--seconds", type=int, default=5, help="each pair's wrk duration")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--perf", action="store_true", help="also a time profile of each row (perf record, cpu-clock)")
    p.add_argument("--top", type=int, default=30, help="functions listed in each row's time profile")
    args = p.parse_args(argv)
    if args.perf and shutil.which("perf") is None:
        p.error("--perf needs perf (Debian: apt-get install linux-perf)")
    procs = Processes(WORK / "logs")

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        start_backend(procs, WORK)
        names = [args.base, *args.rows.split(",")]
        gateways: list[_Row] = []
        for i, name in enumerate(names):
            port = 18090 + i
            argv_ = [sys.executable, "-m", "krakenpy", "run", "-c", str(CONFIGS / f"{name}.json"), "-p", str(port)]
            argv_ += ["--workers", "1", "--loop", "uvloop", "--log-level", "WARNING"]
            started = procs.start(name, argv_, SUT_CPUS, env={"KRAKENPY_HTTP_CLIENT": "fast"})
            url = f"http://127.0.0.1:{port}/p1"
            wait_http(url, started.proc, deadline=30.0)
            gateways.append(_Row(name, url, tree(started.pid)))
        base, rows = gateways[0], gateways[1:]
        time.sleep(1.0)
        for i, row in enumerate(gateways):  # the trees again (workers forked after the first answer)
            row.pids = tree(procs.started[1 + i].pid)  # (started[0]: the backend)
        for row in rows:
            run_pair(base.url, base.pids, row.url, row.pids, 2, args.connections)
        for n in range(args.rounds):
            for row in rows:
                if args.perf:
                    pair = profiled_pair(base, row, args.seconds, args.connections, WORK / f"perf-{row.name}.data")
                else:
                    pair = run_pair(base.url, base.pids, row.url, row.pids, args.seconds, args.connections)
                row.pairs.append(pair)
                print(
                    f"  round {n + 1}/{args.rounds}  {row.name:9} cost {pair.cost_ratio * 100:5.1f} %  "
                    f"rps {pair.rps_ratio * 100:5.1f} %  share {pair.share * 100:4.1f} %  "
                    f"({pair.row.rps:.0f} against {pair.base.rps:.0f} rps, "
                    f"errors {pair.row.errors + pair.base.errors})",
                    flush=True,
                )
        print(_report(rows, args.base), flush=True)
        if args.perf:
            for row in rows:
                print("\n" + row.profile.table(row.name, args.top, args.base), flush=True)
    except KeyboardInterrupt:
        print("bench.concurrent: interrupted", flush=True)
        return 130
    finally:
        procs.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
