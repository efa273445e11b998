"""Gateway-added latency of a Lambda backend (not a test; prints figures).

Starts the emulator and one gateway worker (sample-configs/lambda.json, both on free loopback
ports), then alternates, one at a time, a direct aiobotocore ``invoke`` of ``hello`` and a
``GET /hello/Ada/Lovelace`` through the gateway (which invokes the same function with the same
payload on the same emulator). Reports the medians and their difference; alternating the two keeps
emulator drift out of the difference. A ``GET /__health`` per pair gives the floor of the extra
client → gateway HTTP hop, to tell it apart from the Lambda pipeline's own cost. Each round also
invokes ``hello`` directly with krakenpy's own invoker: aiobotocore's per-call CPU (~1–2 ms here)
makes the aiobotocore reference slower than the gateway, so the gateway's cost over the leanest
direct call is reported too. Bounded: ``--samples`` rounds after ``--warmup`` rounds (100 with
``BENCH_QUICK=1``). The figures also go to ``$BENCH_RESULT_JSON`` as a JSON object (``bench``'s P4).

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
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import orjson
from aiobotocore.session import AioSession

from krakenpy.backends.client import ClientOptions
from krakenpy.backends.fastclient import FastClient
from krakenpy.config.build import build_service
from krakenpy.lambda_.invoker import lambda_invoker
from krakenpy.lambda_.options import parse_options
from krakenpy.resources import Resources

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


async def _measure(emulator: str, gateway: str, samples: int, warmup: int) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {"direct": [], "lean": [], "through": [], "floor": []}
    clock = time.perf_counter
    session = AioSession()
    options = parse_options(
        {"function_name": "hello", "region": lambda_demo.REGION, "endpoint": emulator}, method="GET", path="bench"
    )
    async with (
        AsyncExitStack() as stack,
        session.create_client("lambda", region_name=lambda_demo.REGION, endpoint_url=emulator) as client,
        aiohttp.ClientSession() as http,
    ):
        service = build_service({"version": 3, "endpoints": []})
        resources = Resources(service=service, http=FastClient(ClientOptions()), stack=stack)
        invoke = await lambda_invoker(options, resources, "bench")
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
            hop = clock()
            lean = await invoke("hello", PAYLOAD, invocation_type="RequestResponse", qualifier=None)
            last = clock()
            if resp.status != 200 or b"Lovelace" not in body or b"Lovelace" not in data + lean.payload:
                raise RuntimeError(f"unexpected answer: {resp.status} {data[:200]!r} / {body[:200]!r}")
            if i >= warmup:
                series["direct"].append((mid - start) * 1000)
                series["through"].append((end - mid) * 1000)
                series["floor"].append((hop - end) * 1000)
                series["lean"].append((last - hop) * 1000)
        await resources.http.close()
    return series


def main() -> int:
    parser = argparse.ArgumentParser(description="gateway-added latency over a direct Lambda invoke")
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser.add_argument("--samples", type=int, default=100 if quick else 400)
    parser.add_argument("--warmup", type=int, default=20 if quick else 50)
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
        # the access log (stdout) is not part of the report
        gw_env = dict(os.environ)
        procs.append(
            subprocess.Popen(gw_cmd + ["--log-level", "WARNING"], cwd=ROOT, env=gw_env, stdout=subprocess.DEVNULL)
        )
        gateway_url = f"http://127.0.0.1:{gw_port}"
        _wait(gateway_url + "/__health", procs[1])
        series = asyncio.run(_measure(emulator_url, gateway_url, args.samples, args.warmup))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    direct, through, lean, floor = series["direct"], series["through"], series["lean"], series["floor"]
    d50, g50, l50, f50 = (statistics.median(v) for v in (direct, through, lean, floor))
    paired = statistics.median(g - d for g, d in zip(through, direct, strict=True))
    print(f"rounds: {len(direct)} (after {args.warmup} warm-up rounds), function: hello (Python, prints one line)")
    print(f"direct aiobotocore invoke: p50 {d50:.3f} ms  p90 {_pct(direct, 0.9):.3f} ms")
    print(f"direct krakenpy invoker:   p50 {l50:.3f} ms  p90 {_pct(lean, 0.9):.3f} ms")
    print(f"through the gateway:       p50 {g50:.3f} ms  p90 {_pct(through, 0.9):.3f} ms")
    print(f"gateway-added latency:     p50 {g50 - d50:.3f} ms (difference of medians, over aiobotocore)")
    print(f"                           p50 {paired:.3f} ms (median of paired differences)")
    print(f"                           p50 {g50 - l50:.3f} ms over krakenpy's own invoker")
    print(f"HTTP hop floor (GET /__health): p50 {f50:.3f} ms -> Lambda pipeline share p50 {g50 - l50 - f50:.3f} ms")
    figures = {
        "added_p50_ms": round(g50 - d50, 3),
        "added_paired_p50_ms": round(paired, 3),
        "added_over_krakenpy_invoker_p50_ms": round(g50 - l50, 3),
        "direct_aiobotocore_p50_ms": round(d50, 3),
        "direct_krakenpy_invoker_p50_ms": round(l50, 3),
        "gateway_p50_ms": round(g50, 3),
        "http_hop_floor_p50_ms": round(f50, 3),
    }
    if os.environ.get("BENCH_RESULT_JSON"):
        Path(os.environ["BENCH_RESULT_JSON"]).write_bytes(orjson.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
