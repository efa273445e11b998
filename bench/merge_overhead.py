"""``python -m bench.merge_overhead``: CPU µs per request of P1 (one backend) and P2 (two backends
merged) in process: the edge handler, the pipeline and the upstream client against a canned loopback
backend (``bench/wire_micro.py``'s), no server socket on the client side.

    taskset -c 0 .venv/bin/python -m bench.merge_overhead [--n 3000] [--rounds 7]

P1 and P2 run in interleaved rounds (drift on a shared machine hits both alike); each figure is the
best round's process time per request, and ``P2 − P1`` is what the second backend and the merge add.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy


async def _run(n: int, rounds: int) -> None:
    from bench import wire_micro
    from krakenpy.config.build import build_service
    from krakenpy.edge import HttpRequest
    from krakenpy.gateway import build_gateway

    runner, port = await wire_micro._backend()
    host = [f"http://127.0.0.1:{port}"]
    doc: dict[str, Any] = {
        "version": 3,
        "extra_config": {"router": {"disable_access_log": True}, "telemetry/access_log": {"request_id_header": ""}},
        "endpoints": [
            {"endpoint": "/p1", "backend": [{"host": host, "url_pattern": "/data", "allow": ["a", "b", "d"]}]},
            {
                "endpoint": "/p2",
                "backend": [
                    {"host": host, "url_pattern": "/data", "allow": ["a", "b", "d.e"]},
                    {"host": host, "url_pattern": "/posts", "group": "activity"},
                ],
            },
        ],
    }
    gateway = await build_gateway(build_service(doc))
    headers = CIMultiDictProxy(CIMultiDict({"Host": "gw.example", "User-Agent": "bench", "Accept": "*/*"}))
    edge = gateway.edge

    async def drive(path: str, count: int) -> float:
        gc.collect()
        start = time.process_time()
        for _ in range(count):
            response = await edge(HttpRequest("GET", path, "", headers, remote="127.0.0.1", host="gw.example"))
            assert response.status == 200
        return (time.process_time() - start) / count * 1e6

    for path in ("/p1", "/p2"):
        await drive(path, 1000)  # warm up pools and caches
    best = {"/p1": float("inf"), "/p2": float("inf")}
    for _ in range(rounds):
        for path in best:
            best[path] = min(best[path], await drive(path, n))
    print(f"client={os.environ.get('KRAKENPY_HTTP_CLIENT', 'fast')} n={n} rounds={rounds} (best round, CPU µs/request)")
    print(f"  P1 one backend         {best['/p1']:7.1f}")
    print(f"  P2 two backends merged {best['/p2']:7.1f}")
    print(f"  P2 - P1                {best['/p2'] - best['/p1']:7.1f}")
    await gateway.close()
    runner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(_run(args.n, args.rounds))


if __name__ == "__main__":
    main()
