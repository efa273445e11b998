"""CPU cost of Lua modifiers per request, at each level (a benchmark, not a test; prints figures).

Builds the gateway's own Lua middlewares (``modifier/lua-endpoint``, ``modifier/lua-proxy``,
``modifier/lua-backend``) through their public factories around a trivial in-process proxy (no
network, no server) and times the same request loop with and without them. The scripts are the P3
pair of bench/configs/p3.json (the router level has ``pre`` only, so it sets the header on
``ctx``). Figures are CPU time (``time.thread_time``), so a busy shared machine inflates them less
than wall time would; each is the mean over ``--repeat`` rounds, so Python's garbage collections
(counted in the last column, per 10,000 requests with Lua) are paid for where they happen.

Two columns per level:

- *warm*: requests back to back, so Lua, lupa and the script stay in the CPU caches. The floor.
- *cold*: ``--evict`` MiB of memory are copied before every request, as a real server's network,
  HTTP and JSON work does between two Lua runs. In-server probes of the P3 benchmark measured Lua
  costs close to this column (2-3x the warm one), so it is the one to compare with the benchmark;
  it is also noisier, since it depends on what shares the L3 cache.

    .venv/bin/python -m bench.lua_overhead [--requests 10000] [--cold-requests 500] [--repeat 5] [--evict 8]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.config.build import build_service
from krakenpy.lua.modifier import proxy_middleware, router_middleware
from krakenpy.lua.script import build_script
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources

PRE = "local r = request.load(); r:headers('X-Bench', 'lua')"
POST = "local r = response.load(); r:data():set('lua', true)"
ROUTER_PRE = "local c = ctx.load(); c:headers('X-Bench', 'lua')"
#: what the P1/P3 backend answers, decoded (~200 B of JSON)
DATA = {"id": 42, "name": "Ada Lovelace", "username": "ada", "phone": "+44 20 7946 0000", "website": "ada.dev"}


def _config() -> dict[str, Any]:
    lua = {"pre": PRE, "post": POST}
    backend = {"host": ["http://127.0.0.1:18080"], "url_pattern": "/small.json"}
    return {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/p3",
                "backend": [{**backend, "extra_config": {"modifier/lua-backend": lua}}],
                "extra_config": {"modifier/lua-proxy": lua, "modifier/lua-endpoint": {"pre": ROUTER_PRE}},
            }
        ],
    }


def _request() -> Request:
    headers = {"Accept": ["*/*"], "User-Agent": ["wrk"], "X-Forwarded-For": ["127.0.0.1"]}
    return Request(method="GET", path="/small.json", params={}, headers=headers, query={}, url="/small.json")


async def _inner(request: Request) -> Response:
    return Response(data=dict(DATA), headers={"Content-Type": ["application/json"]})


def _passthrough(next_proxy: Proxy) -> Proxy:
    """The baseline: one no-op coroutine layer, as every middleware adds."""

    async def passthrough(request: Request) -> Response:
        return await next_proxy(request)

    return passthrough


def _levels(resources: Resources) -> dict[str, Middleware]:
    endpoint = resources.service.endpoints[0]
    extra, backend_extra = endpoint.extra_config, endpoint.backends[0].extra_config
    found = {
        "endpoint (lua-endpoint pre)": router_middleware(
            build_script(extra["modifier/lua-endpoint"], resources, "endpoint"), service_level=False
        ),
        "proxy (lua-proxy pre+post)": proxy_middleware(build_script(extra["modifier/lua-proxy"], resources, "proxy")),
        "backend (lua-backend pre+post)": proxy_middleware(
            build_script(backend_extra["modifier/lua-backend"], resources, "backend")
        ),
    }
    return {name: mw for name, mw in found.items() if mw is not None}


class _Evictor:
    """Copies ``mib`` MiB between two buffers: pushes the previous request's lines out of the caches."""

    def __init__(self, mib: int) -> None:
        self._src = bytearray(mib * 1024 * 1024)
        self._dst = bytearray(mib * 1024 * 1024)

    def __call__(self) -> None:
        self._dst[:] = self._src


async def _round(proxy: Proxy, requests: int, evict: Callable[[], None] | None) -> float:
    """CPU µs per request over ``requests`` sequential calls (eviction not counted)."""
    clock = time.thread_time_ns
    if evict is None:
        start = clock()
        for _ in range(requests):
            await proxy(_request())
        return (clock() - start) / 1000 / requests
    total = 0
    for _ in range(requests):
        evict()
        request = _request()
        start = clock()
        await proxy(request)
        total += clock() - start
    return total / 1000 / requests


async def _mean(proxy: Proxy, requests: int, repeat: int, evict: Callable[[], None] | None) -> float:
    await _round(proxy, min(requests, 500), None)  # warm-up (first-run allocations, lazy imports)
    return statistics.fmean([await _round(proxy, requests, evict) for _ in range(repeat)])


def _collections() -> int:
    return sum(generation["collections"] for generation in gc.get_stats())


async def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> dict[str, tuple[float, float]]:
    """Print one row per level; return the Lua overhead (warm, cold) in µs/request by level."""
    evict = _Evictor(args.evict)
    async with AsyncExitStack() as stack:
        service = build_service(_config())
        resources = Resources(service=service, http=AiohttpClient(ClientOptions()), stack=stack)
        levels = _levels(resources)
        baseline = _passthrough(_inner)
        base = await _mean(baseline, args.requests, args.repeat, None)
        base_cold = await _mean(baseline, args.cold_requests, args.repeat, evict)
        out(f"CPU µs/request, mean of {args.repeat} rounds; cold = {args.evict} MiB evicted before each request")
        head = f"{'warm':>7} {'+Lua':>7} {'adds':>7} | {'cold':>7} {'+Lua':>7} {'adds':>7} | {'gc/10k':>6}"
        out(f"{'level':32} {head}")
        overhead: dict[str, tuple[float, float]] = {}
        for name, middleware in levels.items():
            proxy = middleware(_inner)
            before = _collections()
            warm = await _mean(proxy, args.requests, args.repeat, None)
            collections = (_collections() - before) * 10_000 / (args.requests * args.repeat)
            cold = await _mean(proxy, args.cold_requests, args.repeat, evict)
            overhead[name] = (warm - base, cold - base_cold)
            row = f"{base:7.2f} {warm:7.2f} {warm - base:7.2f} | {base_cold:7.2f} {cold:7.2f} {cold - base_cold:7.2f}"
            out(f"{name:32} {row} | {collections:6.1f}")
        return overhead


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lua_overhead", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--requests", type=int, default=10_000, help="requests per warm round (default 10000)")
    p.add_argument("--cold-requests", type=int, default=500, help="requests per cold round (default 500)")
    p.add_argument("--repeat", type=int, default=5, help="rounds per figure, averaged (default 5)")
    p.add_argument("--evict", type=int, default=8, help="MiB copied before each cold request (default 8)")
    args = p.parse_args(argv)
    args.requests, args.cold_requests = max(args.requests, 1), max(args.cold_requests, 1)
    args.repeat, args.evict = max(args.repeat, 1), max(args.evict, 1)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
