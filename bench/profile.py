"""``python -m bench.profile [P1|P2|P3] [--client fast] [--seconds 8]``: where krakenpy spends a request.

Starts the nginx backend and one krakenpy worker (pinned like the benchmark), puts a bounded wrk load
on it and samples it with py-spy (installed into the venv on first use). Prints the top functions by
own time and by cumulative time, scaled to µs per request; keeps the raw samples under bench/.work/.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.env import ensure_tools
from bench.loadgen import Load, run_wrk
from bench.procs import Processes, cpu_seconds, wait_http
from bench.scenarios import CONFIGS, LOAD_CPUS, SUT_CPUS, start_backend

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "profile"
PATHS = {"P1": ("p1.json", "/p1"), "P1L": ("p1.json", "/p1-large"), "P2": ("p2.json", "/p2"), "P3": ("p3.json", "/p3")}


def _py_spy() -> str:
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        print("profile: pip install py-spy (into the venv)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True, timeout=600)
    return str(exe)


def _frame(entry: str) -> str:
    # collapsed frames look like "func (path/to/file.py:123)"
    name, _, where = entry.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", f"{ROOT}/", f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where.rsplit(':', 1)[0]})"


AREAS = (
    ("krakenpy/backends/fastclient.py", "upstream client (fast)"),
    ("krakenpy/backends/fastwire.py", "upstream client (fast)"),
    ("krakenpy/backends/client.py", "upstream client (aiohttp)"),
    ("aiohttp/client", "upstream client (aiohttp)"),
    ("aiohttp/connector", "upstream client (aiohttp)"),
    ("asyncio/timeouts", "asyncio timeouts"),
    ("krakenpy/", "krakenpy pipeline + handler"),
    ("aiohttp/", "aiohttp server (+ shared parser/streams)"),
    ("yarl/", "aiohttp server (+ shared parser/streams)"),
    ("multidict/", "aiohttp server (+ shared parser/streams)"),
    ("asyncio/", "event loop, transports, syscalls"),
    ("selectors", "event loop, transports, syscalls"),
)


def _area(frame: str) -> str:
    for marker, name in AREAS:
        if marker in frame:
            return name
    return "other"


def summarize(collapsed: Path, us_per_req: float, top: int) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_s)
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ")]
        samples += count
        if frames:
            own[frames[-1]] += count
        for f in set(frames):
            total[f] += count
    if not samples:
        return "no samples"
    scale = us_per_req / samples
    areas: Counter[str] = Counter()
    for name, n in own.items():
        areas[_area(name)] += n
    out = [f"{samples} samples; SUT CPU {us_per_req:.1f} µs/request", "", "own time by area (µs/req):"]
    out += [f"  {n * scale:7.1f}  {name}" for name, n in areas.most_common()]
    out += ["", "own time (µs/req):"]
    out += [f"  {n * scale:7.1f}  {name}" for name, n in own.most_common(top)]
    out += ["", "cumulative (µs/req; coroutine stacks are cut at each resume, so callers under-count):"]
    out += [f"  {n * scale:7.1f}  {name}" for name, n in total.most_common(top * 2)]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    p.add_argument("scenario", nargs="?", default="P1", choices=sorted(PATHS))
    p.add_argument("--client", default="aiohttp", help="KRAKENPY_HTTP_CLIENT for the gateway")
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    ensure_tools()
    spy = _py_spy()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    procs = Processes(WORK / "logs")
    config, path = PATHS[args.scenario]
    try:
        start_backend(procs, WORK)
        argv_kp = [sys.executable, "-m", "krakenpy", "run", "-c", str(CONFIGS / config), "-p", "18095"]
        argv_kp += ["--workers", "1", "--log-level", "WARNING"]
        kp = procs.start("krakenpy", argv_kp, SUT_CPUS, env={"KRAKENPY_HTTP_CLIENT": args.client})
        url = f"http://127.0.0.1:18095{path}"
        wait_http(url, kp.proc)
        run_wrk(Load(url, 50, 1, LOAD_CPUS), None)  # warm-up
        collapsed = WORK / f"{args.scenario}-{args.client}.txt"
        spy_argv = [spy, "record", "--pid", str(kp.pid), "--rate", "500", "--nonblocking"]
        spy_argv += ["--duration", str(args.seconds), "--format", "raw", "--output", str(collapsed)]
        spy_proc = procs.start("py-spy", spy_argv, LOAD_CPUS)
        time.sleep(0.5)
        before = cpu_seconds(kp.pid)
        res = run_wrk(Load(url, 50, args.seconds - 1, LOAD_CPUS), None)
        after = cpu_seconds(kp.pid)
        spy_proc.proc.wait(args.seconds + 30)
        us = (after - before) * 1e6 / max(res.requests, 1)
        print(f"{args.scenario} [{args.client}]: {res.rps:.0f} rps under py-spy (sampling slows it down)")
        print(summarize(collapsed, us, args.top))
        print(f"\nprofile: raw samples in {collapsed}")
    finally:
        procs.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
