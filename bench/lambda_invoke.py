"""CPU per Lambda invoke in the gateway's process: aiobotocore's ``client.invoke`` (what krakenpy
used before) against krakenpy's own invoker (not a test; prints figures).

A canned Lambda API (an aiohttp app answering every Invoke with ``{"ok":true}``) runs in a child
process on a free loopback port, so only the caller's CPU is counted. Rounds of ``-n`` sequential
invokes alternate between the two callers; for each, the best round's process CPU µs per invoke
and the median wall time per invoke are reported. Both use keep-alive connections and the same
credentials, payload and options (standard retries, no retry happens).

    .venv/bin/python -m bench.lambda_invoke            # ~20 s; -n invokes per round, --rounds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from aiobotocore.config import AioConfig

from bench.lambda_overhead import _free_port, _wait
from krakenpy.backends.client import ClientOptions
from krakenpy.backends.fastclient import FastClient
from krakenpy.config.build import build_service
from krakenpy.lambda_.credentials import LambdaSession
from krakenpy.lambda_.invoker import lambda_invoker
from krakenpy.lambda_.options import parse_options
from krakenpy.resources import Resources

PAYLOAD = b'{"first_name":"Ada","last_name":"Lovelace"}\n'
SERVER = """
import sys
from aiohttp import web
async def invoke(request):
    await request.read()
    headers = {"X-Amz-Executed-Version": "$LATEST"}
    return web.Response(body=b'{"ok":true}', content_type="application/json", headers=headers)
app = web.Application()
app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)
app.router.add_get("/health", lambda r: web.Response(text="ok"))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""

Call = Callable[[], Awaitable[bytes]]


async def _round(call: Call, n: int) -> tuple[float, float]:
    walls: list[float] = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        body = await call()
        walls.append(time.perf_counter() - start)
        if body != b'{"ok":true}':
            raise RuntimeError(f"unexpected answer {body[:100]!r}")
    return (time.process_time() - cpu) / n * 1e6, statistics.median(walls) * 1e6


async def _measure(url: str, n: int, rounds: int) -> dict[str, tuple[float, float]]:
    async with AsyncExitStack() as stack:
        # before: the aiobotocore client exactly as krakenpy configured it (standard retries, 905 s read
        # timeout, pool of 10), one call = client.invoke + reading the payload stream
        config = AioConfig(
            retries={"mode": "standard"}, read_timeout=905.0, connect_timeout=10.0, max_pool_connections=10
        )
        client = await stack.enter_async_context(
            LambdaSession().create_client("lambda", region_name="us-east-1", endpoint_url=url, config=config)
        )

        async def boto() -> bytes:
            response = await client.invoke(
                FunctionName="hello", Payload=PAYLOAD, InvocationType="RequestResponse", LogType="None"
            )
            return bytes(await response["Payload"].read())

        # after: krakenpy's invoker, as a gateway builds it (fast client on this http endpoint)
        options = parse_options(
            {"function_name": "hello", "region": "us-east-1", "endpoint": url}, method="GET", path="bench"
        )
        service = build_service({"version": 3, "endpoints": []})
        resources = Resources(service=service, http=FastClient(ClientOptions()), stack=stack)
        invoke = await lambda_invoker(options, resources, "bench")

        async def lean() -> bytes:
            result = await invoke("hello", PAYLOAD, invocation_type="RequestResponse", qualifier=None)
            return result.payload

        calls: dict[str, Call] = {"aiobotocore client.invoke": boto, "krakenpy invoker": lean}
        for call in calls.values():  # warm-up: connections, credentials, caches
            await _round(call, 50)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                results[name].append(await _round(call, n))
        await resources.http.close()
        return {
            name: (min(cpu for cpu, _ in rows), statistics.median(wall for _, wall in rows))
            for name, rows in results.items()
        }


def main() -> int:
    parser = argparse.ArgumentParser(description="CPU µs per Lambda invoke: aiobotocore vs krakenpy's invoker")
    parser.add_argument("-n", type=int, default=500, help="invokes per round")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        _wait(f"http://127.0.0.1:{port}/health", server)
        results = asyncio.run(_measure(f"http://127.0.0.1:{port}", args.n, args.rounds))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{args.rounds} alternating rounds of {args.n} sequential invokes (canned Lambda API in a child process)")
    for name, (cpu, wall) in results.items():
        print(f"{name:28} CPU {cpu:7.1f} µs/invoke (best round)   wall p50 {wall:7.1f} µs")
    before, after = results["aiobotocore client.invoke"][0], results["krakenpy invoker"][0]
    print(f"CPU saved per invoke: {before - after:.1f} µs ({after / before:.2f}× of aiobotocore's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
