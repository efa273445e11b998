"""P4 (Lambda, delegated to bench/lambda_overhead.py) and P7 (idle RSS, start-up time)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.peers import BACKEND_PORT
from bench.procs import Processes, rss_kib, tree, wait_http

__all__ = ["LambdaResult", "StartupResult", "measure_startup", "run_lambda_overhead"]

ROOT = Path(__file__).resolve().parents[1]
#: outside the 18090+ block the load rows take (one port per krakenpy server, 20+ in a full run)
P7_PORT = 18199


@dataclass
class StartupResult:
    endpoints: int
    startup_s: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    note: str = ""


def _config_100(work: Path, n: int) -> Path:
    endpoints = [
        {
            "endpoint": f"/e{i}/items/{{id}}",
            "backend": [
                {"url_pattern": "/small.json", "deny": ["email"], "host": [f"http://127.0.0.1:{BACKEND_PORT}"]}
            ],
        }
        for i in range(n)
    ]
    doc = {"version": 3, "name": f"bench P7: {n} endpoints", "timeout": "3s", "endpoints": endpoints}
    path = work / f"p7-{n}.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def measure_startup(procs: Processes, work: Path, runs: int, client: str, n: int = 100) -> StartupResult:
    """Start krakenpy with an n-endpoint config: time to first 200, then idle RSS after 1 s."""
    result = StartupResult(endpoints=n)
    config = _config_100(work, n)
    # bytecode caches written and used, as an installed krakenpy has them (PYTHONDONTWRITEBYTECODE set
    # in the shell would make every start compile the sources again): start -1 is untimed
    env = {"KRAKENPY_HTTP_CLIENT": client, "PYTHONDONTWRITEBYTECODE": ""}
    for i in range(-1, runs):
        argv = [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-p", str(P7_PORT)]
        argv += ["--workers", "1", "--log-level", "WARNING"]
        item = procs.start(f"p7-{i}", argv, "0", env=env)
        try:
            wait_http(f"http://127.0.0.1:{P7_PORT}/e{n - 1}/items/7", item.proc, deadline=30.0, interval=0.002)
            if i < 0:
                continue
            result.startup_s.append(time.monotonic() - item.started_at)
            time.sleep(1.0)
            rss = max(rss_kib(p) for p in tree(item.pid))
            result.rss_mib.append(rss / 1024)
        except RuntimeError as exc:
            result.note = f"failed: {exc}"
            break
        finally:
            procs.stop(item)
    return result


@dataclass
class LambdaResult:
    note: str
    figures: dict[str, Any] = field(default_factory=dict)
    output: str = ""


def run_lambda_overhead(work: Path, quick: bool) -> LambdaResult:
    """Run bench/lambda_overhead.py (written separately) when present and collect its figures.

    Contract: the script may write a JSON object to ``$BENCH_RESULT_JSON`` or print one as its last
    stdout line; otherwise its output is quoted in the results.
    """
    script = ROOT / "bench" / "lambda_overhead.py"
    if not script.exists():
        return LambdaResult(note="skipped: bench/lambda_overhead.py is not there yet")
    out_json = work / "p4.json"
    out_json.unlink(missing_ok=True)
    env = dict(os.environ, BENCH_RESULT_JSON=str(out_json), BENCH_WORK=str(work), BENCH_QUICK="1" if quick else "0")
    ministack = ROOT / ".venv-ministack" / "bin" / "ministack"
    if "MINISTACK_BIN" not in env and ministack.exists():
        env["MINISTACK_BIN"] = str(ministack)
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return LambdaResult(note="failed: bench/lambda_overhead.py ran longer than 600 s")
    output = (done.stdout + ("\n" + done.stderr if done.returncode else "")).strip()
    figures: dict[str, Any] = {}
    if out_json.exists():
        try:
            loaded = orjson.loads(out_json.read_bytes())
            figures = loaded if isinstance(loaded, dict) else {}
        except orjson.JSONDecodeError:
            pass
    if not figures:
        lines = done.stdout.strip().splitlines()
        if lines:
            try:
                last = orjson.loads(lines[-1])
                figures = last if isinstance(last, dict) else {}
            except orjson.JSONDecodeError:
                pass
    if "added_p50_ms" not in figures:  # its plain-text report: "gateway-added latency: p50 0.855 ms"
        m = re.search(r"gateway-added latency:\s+p50 ([\d.]+) ms", done.stdout)
        if m:
            figures["added_p50_ms"] = float(m.group(1))
    note = "" if done.returncode == 0 else f"bench/lambda_overhead.py exited with {done.returncode}"
    return LambdaResult(note=note, figures=figures, output=output[-3000:])


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
