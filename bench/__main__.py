"""``python -m bench [--quick] [--only P1,P2] [--plot]``: krakenpy side by side with nginx and Caddy.

Installs wrk/nginx/caddy when missing, starts the backend, peers and krakenpy pinned to CPUs, runs
bounded wrk loads, writes bench/results/latest.md and prints it. Everything started is stopped on
exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.env import ensure_tools, machine_info
from bench.extras import LambdaResult, StartupResult, measure_startup, run_lambda_overhead
from bench.procs import Processes
from bench.report import markdown, plot
from bench.scenarios import SCENARIOS, Row, Settings, run_loads, start_backend

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
RESULTS = BENCH / "results"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="1 run of 3 s per row (default: 3 runs of 8 s, median)")
    p.add_argument("--only", default="", help="comma-separated scenarios, e.g. P1,P2 (default: all)")
    p.add_argument("--runs", type=int, default=0, help="runs per row (overrides the default)")
    p.add_argument("--seconds", type=float, default=0, help="seconds per run (overrides the default)")
    p.add_argument(
        "--clients",
        default="",
        help="upstream clients compared on P1/P2 (KRAKENPY_HTTP_CLIENT), e.g. aiohttp,fast; "
        "default: both when krakenpy.backends.fastclient exists; the last one is used for P3-P7",
    )
    p.add_argument(
        "--baseline",
        default="",
        help="git revision of an older krakenpy to run beside this one on P1/P2 (before/after in one run)",
    )
    p.add_argument(
        "--pure",
        action="store_true",
        help="serve krakenpy's pure-Python modules (default: the hot path compiled with mypyc in place, as "
        "`pip install .` builds it where a C compiler is present, and removed afterwards)",
    )
    p.add_argument(
        "--interleave",
        type=int,
        default=0,
        metavar="N",
        help="rows with a baseline (T, P3, Q, JWT, CORS, P8, P6) run as N slices alternating with their baseline "
        "(A B A ... B A), reported as the median of the per-slice ratios and their spread (bench/interleave.py)",
    )
    p.add_argument(
        "--slice-seconds",
        type=float,
        default=1.0,
        help="seconds per --interleave slice (default 1; whole seconds: wrk's -d)",
    )
    p.add_argument("--plot", action="store_true", help="also write a PNG (installs matplotlib into the venv)")
    p.add_argument("--out", default=str(RESULTS / "latest.md"), help="markdown results file")
    return p


def _export(revision: str, into: Path) -> Path:
    """``krakenpy`` and ``schemas`` as they were at ``revision`` (git archive), for a baseline server."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "krakenpy", "schemas"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=60)
    return into


def _hot_path() -> str:
    """The tree's build of the hot path as ``krakenpy version`` states it."""
    code = "import krakenpy.compiled as c; print(c.summary())"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def _compile_in_place(pure: bool) -> bool:
    """Build the user's build (compiled when a compiler is present) in the tree; True when this run built
    it (and must remove it). A pure run refuses a tree that holds a compiled build."""
    state = _hot_path()
    if pure:
        if state != "pure Python":
            raise SystemExit(f"bench: --pure, but the tree runs {state}: make clean-compiled first")
        return False
    if state != "pure Python":
        return False  # built already (make compile): measured as it is, and left
    print("bench: compiling the hot path with mypyc (setup.py build_ext --inplace)", flush=True)
    out = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace", "--build-temp", str(WORK / "mypyc")],
        cwd=ROOT,
        env={**os.environ, "KRAKENPY_COMPILE": "auto"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode:
        print(f"bench: compiling failed, measuring pure Python:\n{out.stderr[-2000:]}", flush=True)
    return True


def _remove_compiled() -> None:
    for path in (ROOT / "krakenpy").rglob("*.so"):
        path.unlink()


def _default_clients() -> tuple[str, ...]:
    if importlib.util.find_spec("krakenpy.backends.fastclient") is not None:
        return ("aiohttp", "fast")
    return ("aiohttp",)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = frozenset(s.strip().upper() for s in args.only.split(",") if s.strip()) or frozenset(SCENARIOS)
    unknown = only - set(SCENARIOS)
    if unknown:
        print(f"bench: unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
        return 2
    clients = tuple(c.strip() for c in args.clients.split(",") if c.strip()) or _default_clients()
    settings = Settings(
        runs=args.runs or (1 if args.quick else 3),
        seconds=args.seconds or (3.0 if args.quick else 8.0),
        warmup=1.0,
        clients=clients,
        primary=clients[-1],
        only=only,
        slices=max(0, args.interleave),
        slice_seconds=args.slice_seconds,
    )
    tools = ensure_tools()
    notes = list(tools.notes)
    info = machine_info(tools, ROOT)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    procs = Processes(WORK / "logs")
    if args.baseline:
        settings = replace(settings, baseline=(args.baseline, _export(args.baseline, WORK / "baseline")))
    built = _compile_in_place(args.pure)
    hot_path = _hot_path()

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    rows: list[Row] = []
    p4: LambdaResult | None = None
    p7: StartupResult | None = None
    started = time.monotonic()
    date = time.strftime("%Y-%m-%d %H:%M %Z")
    try:
        print(
            f"bench: {settings.runs} run(s) × {settings.seconds:g} s per row, scenarios {','.join(sorted(only))}, "
            f"clients {','.join(clients)}",
            flush=True,
        )
        rows = run_loads(procs, WORK, settings)
        if "P7" in only:
            print("bench: P7 start-up and idle RSS", flush=True)
            if "nginx-backend" not in {p.name for p in procs.started}:
                start_backend(procs, WORK)
            p7 = measure_startup(procs, WORK, 1 if args.quick else 3, settings.primary)
        procs.stop_all()
        if "P4" in only:
            print("bench: P4 Lambda (bench/lambda_overhead.py)", flush=True)
            p4 = run_lambda_overhead(WORK, args.quick)
    except KeyboardInterrupt:
        print("\nbench: interrupted; stopping everything", flush=True)
        return 130
    finally:
        procs.stop_all()
        signal.signal(signal.SIGTERM, previous)
        if built:
            _remove_compiled()
    elapsed = time.monotonic() - started
    text = (
        f"Settings: `wrk -t1 -cN -d{settings.seconds:g}s --latency`, median of {settings.runs} run(s) per row, "
        f"SUT pinned to CPU 0, wrk and the nginx backend to CPU 1. "
        + (
            f"Rows with a baseline: {settings.slices} slices of {settings.slice_seconds:g} s alternating with it "
            "(see Interleaved pairs). "
            if settings.slices
            else ""
        )
        + f"Upstream clients compared: "
        f"{', '.join(clients)} (P3–P7 use `{settings.primary}`). krakenpy's hot path: {hot_path}"
        f"{' (a --baseline tree runs pure Python)' if args.baseline else ''}. Total time {elapsed / 60:.1f} min."
    )
    md = markdown(rows, info, text, settings.primary, p4, p7, notes, date)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md)
    print("\n" + md)
    print(f"bench: wrote {out}")
    if args.plot:
        print(f"bench: wrote {plot(rows, out.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
