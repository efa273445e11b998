"""Gateway-added latency of a Lambda backend (not a test; prints figures).

Starts the emulator and one gateway worker (sample-configs/lambda.json, both on free loopback
ports), then alternates, one at a time, a direct aiobotocore ``invoke`` of ``hello`` and a
``GET /hello/Ada/Lovelace`` through the gateway (which invokes the same function with the same
payload on the same emulator). Reports the medians and their difference; alternating the two keeps
emulator drift out of the difference. A ``GET /__health`` per pair gives the floor of the extra
client → gateway HTTP hop, to tell it apart from the Lambda pipeline's own cost.
Bounded: ``--samples`` pairs after ``--warmup`` pairs.

    make install install-emulator && .venv/bin/python -m bench.lambda_overhead
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from aiobotocore.session import AioSession

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample-configs"
sys.path.insert(0, str(SAMPLES))
import lambda_demo  # noqa: E402  (sample-configs is not a package)

PAYLOAD = b'{"first_name":"Ada","last_name":"Lovelace"}\n'  # what the gateway sends for this path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], tries: int = 200) -> None:
    for _ in range(tries):  # 10 s at most
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(
    emulator: str, gateway: str, samples: int, warmup: int
) -> tuple[list[float], list[float], list[float]]:
    direct: list[float] = []
    through: list[float] = []
    floor: list[float] = []
    clock = time.perf_counter
    session = AioSession()
    async with (
        session.create_client("lambda", region_name=lambda_demo.REGION, endpoint_url=emulator) as client,
        aiohttp.ClientSession() as http,
    ):
        for i in range(warmup + samples):
            start = clock()
            response = await client.invoke(FunctionName="hello", Payload=PAYLOAD)
            body = await response["Payload"].read()
            mid = clock()
            async with http.get(gateway + "/hello/Ada/Lovelace") as resp:
                data = await resp.read()
            end = clock()
            async with http.get(gateway + "/__health") as health:
                await health.read()
            if i >= warmup:
                floor.append((clock() - end) * 1000)
            if resp.status != 200 or b"Lovelace" not in body or b"Lovelace" not in data:
                raise RuntimeError(f"unexpected answer: {resp.status} {data[:200]!r} / {body[:200]!r}")
            if i >= warmup:
                direct.append((mid - start) * 1000)
                through.append((end - mid) * 1000)
    return direct, through, floor


def main() -> int:
    parser = argparse.ArgumentParser(description="gateway-added latency over a direct Lambda invoke")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    binary = lambda_demo._ministack()
    if binary is None:
        print("the Lambda emulator is not installed: run `make install-emulator`", file=sys.stderr)
        return 1
    os.environ.update(lambda_demo.AWS_ENV)
    tmp = tempfile.mkdtemp(prefix="ministack-bench-")
    emu_port, gw_port = _free_port(), _free_port()
    emulator_url = f"http://127.0.0.1:{emu_port}"
    env = dict(os.environ, GATEWAY_PORT=str(emu_port), BIND_HOST="127.0.0.1", SERVICES="lambda", TMPDIR=tmp)
    env["LOG_LEVEL"] = "WARNING"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([str(binary)], env=env, cwd=tmp, stdout=subprocess.DEVNULL))
        _wait(emulator_url + "/_ministack/health", procs[0])
        asyncio.run(lambda_demo.deploy_demo(emulator_url))
        config = Path(tmp) / "lambda.json"
        config.write_text((SAMPLES / "lambda.json").read_text().replace("127.0.0.1:4566", f"127.0.0.1:{emu_port}"))
        gw_cmd = [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-p", str(gw_port), "--workers", "1"]
        procs.append(subprocess.Popen(gw_cmd + ["--log-level", "WARNING"], cwd=ROOT, env=dict(os.environ)))
        gateway_url = f"http://127.0.0.1:{gw_port}"
        _wait(gateway_url + "/__health", procs[1])
        direct, through, floor = asyncio.run(_measure(emulator_url, gateway_url, args.samples, args.warmup))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    d50, g50 = statistics.median(direct), statistics.median(through)
    deltas = [g - d for g, d in zip(through, direct, strict=True)]
    print(f"pairs: {len(direct)} (after {args.warmup} warm-up pairs), function: hello (Python, prints one line)")
    print(f"direct aiobotocore invoke: p50 {d50:.3f} ms  p90 {_pct(direct, 0.9):.3f} ms")
    print(f"through the gateway:       p50 {g50:.3f} ms  p90 {_pct(through, 0.9):.3f} ms")
    print(f"gateway-added latency:     p50 {g50 - d50:.3f} ms (difference of medians)")
    print(f"                           p50 {statistics.median(deltas):.3f} ms (median of paired differences)")
    f50 = statistics.median(floor)
    print(f"HTTP hop floor (GET /__health): p50 {f50:.3f} ms -> Lambda pipeline share p50 {g50 - d50 - f50:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
