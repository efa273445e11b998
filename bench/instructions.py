"""``python -m bench.instructions``: machine instructions per request of krakenpy's in-process request
path, counted by valgrind's callgrind (reproducible on a shared machine, unlike wall or CPU time).

Each configuration is run twice under callgrind, with ``--short`` and ``--long`` requests through the
edge handler against a canned in-process backend (``bench/wire_micro.py``'s); the difference divided by
the difference in requests is the cost of one request, start-up and warm-up cancelled out. Compare two
revisions by running it on both (``git stash``/a worktree). Needs ``valgrind`` (Debian package).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile

CONFIGS: dict[str, dict[str, object]] = {
    "p1": {},
    "p1-no-telemetry": {"router": {"disable_access_log": True}, "telemetry/access_log": {"request_id_header": ""}},
    "p1-no-access-log": {"router": {"disable_access_log": True}},
}


async def _drive(name: str, n: int) -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    from bench import wire_micro
    from krakenpy.config.build import build_service
    from krakenpy.edge import HttpRequest
    from krakenpy.gateway import build_gateway

    runner, port = await wire_micro._backend()
    backend = {"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/data", "allow": ["a", "b", "d"]}
    doc = {"version": 3, "endpoints": [{"endpoint": "/p1", "backend": [backend]}], "extra_config": CONFIGS[name]}
    gateway = await build_gateway(build_service(doc))
    headers = CIMultiDictProxy(CIMultiDict({"Host": "gw.example", "User-Agent": "bench", "Accept": "*/*"}))
    for _ in range(200 + n):
        await gateway.edge(HttpRequest("GET", "/p1", "", headers, remote="127.0.0.1", host="gw.example"))
    await gateway.close()
    runner.close()


def _count(name: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable, "-m",
             "bench.instructions", "--drive", name, str(n)],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(out.stderr[-2000:])
    return int(match[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", type=int, default=300)
    parser.add_argument("--long", type=int, default=1300)
    parser.add_argument("--only", default=",".join(CONFIGS), help="comma-separated configurations")
    parser.add_argument("--drive", nargs=2, metavar=("CONFIG", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        sys.stdout = open(os.devnull, "w")  # the access log goes nowhere
        asyncio.run(_drive(args.drive[0], int(args.drive[1])))
        return
    for name in args.only.split(","):
        per = (_count(name, args.long) - _count(name, args.short)) / (args.long - args.short)
        print(f"{name:20s} {per / 1000:8.1f} k instructions/request", flush=True)


if __name__ == "__main__":
    main()
