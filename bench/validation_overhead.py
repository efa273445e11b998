"""CPU µs per request that ``validation/json-schema`` and ``validation/cel`` add, in process:
``python -m bench.validation_overhead`` (pin it: ``taskset -c 0 ...``).

A benchmark, not a test: no server, no network. It parses and builds the two components of
``bench/configs/p8.json``'s ``/p8`` endpoint exactly as the gateway does (registry order: CEL, then
the schema) around a trivial proxy, and times requests with the P8 body through them, against the
trivial proxy alone. The wrk row (``python -m bench --only P8``) measures the same thing end to end,
but on a shared machine its difference of two ~250 µs figures is noisy; this one isolates it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import orjson

from bench.scenarios import P8_BODY
from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.components import registry
from krakenpy.components.base import Site
from krakenpy.config.build import build_service
from krakenpy.proxy.compose import compose
from krakenpy.proxy.types import Proxy, Request, Response
from krakenpy.resources import Resources

CONFIG = Path(__file__).resolve().parent / "configs" / "p8.json"


async def _stacks() -> tuple[Proxy, Proxy, list[str]]:
    service = build_service(orjson.loads(CONFIG.read_bytes()))
    endpoint = next(e for e in service.endpoints if e.endpoint == "/p8")
    resources = Resources(service=service, http=AiohttpClient(ClientOptions()), stack=AsyncExitStack())

    async def trivial(request: Request) -> Response:
        return Response(data={"ok": True})

    built = []
    names = []
    for component in map(registry.component, registry.PROXY):
        raw = endpoint.extra_config.get(component.namespace)
        if raw is None:
            continue
        site = Site("endpoint", f"{endpoint.path}.extra_config.{component.namespace}", service, endpoint)
        assert component.proxy is not None
        built.append(await component.proxy(component.parse(raw, site), site, resources))
        names.append(component.namespace)
    await resources.http.close()
    return trivial, compose(trivial, *built), names


def _request() -> Request:
    headers: dict[str, list[str]] = {
        "Content-Type": ["application/json"],
        "X-Forwarded-For": ["127.0.0.1"],
        "X-Forwarded-Host": ["127.0.0.1:18090"],
        "User-Agent": ["KrakenPy Version 0.1.0"],
    }
    return Request(method="POST", path="/p8", params={}, headers=headers, query={}, body=P8_BODY)


async def _cpu_us(proxy: Proxy, requests: int) -> float:
    start = time.process_time()
    for _ in range(requests):
        await proxy(_request())
    return (time.process_time() - start) / requests * 1e6


async def main_async(args: Any) -> None:
    plain, checked, names = await _stacks()
    response = await checked(_request())
    assert response.data == {"ok": True}, "the P8 body must pass the checks"
    with_, without = [], []
    for _ in range(args.repeat):
        without.append(await _cpu_us(plain, args.requests))
        with_.append(await _cpu_us(checked, args.requests))
    base, full = statistics.median(without), statistics.median(with_)
    print(f"components: {', '.join(names)}; body {len(P8_BODY)} B; median of {args.repeat} × {args.requests} requests")
    print("| stack | CPU µs/request |\n|---|---|")
    print(f"| trivial proxy | {base:.2f} |\n| + CEL + JSON schema | {full:.2f} |")
    print(f"| **added** | **{full - base:.2f}** |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
