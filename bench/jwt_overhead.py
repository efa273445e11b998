"""Per-request cost of ``auth/validator`` with a cached token, in process (no network).

    taskset -c 0 .venv/bin/python -m bench.jwt_overhead [--n 20000] [--rounds 7]

The gateways are built from the very configs the wrk JWT rows serve (``bench.jwt_material``: P1's
endpoint behind ``auth/validator`` with a local JWK set, RS256 and HS256) and from ``p1.json`` without
the validator; the one backend is the static in-process client of :mod:`bench.telemetry_overhead`.
Every request of a JWT row carries the same bearer token, so after the first one it is the cache-hit
path (no signature verification), as under wrk. Rounds are interleaved and the best round of each
row counts (CPU µs per request); the ``+µs`` column is the difference to plain P1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from bench.jwt_material import jwt_rows
from bench.telemetry_overhead import _Static
from krakenpy.config.build import build_service
from krakenpy.edge import HttpRequest
from krakenpy.gateway import build_gateway
from krakenpy.server.worker import settle_gc
from krakenpy.telemetry.writer import _STDOUT, LineWriter

P1 = Path(__file__).parent / "configs" / "p1.json"
#: what wrk sends besides the token
_BASE_HEADERS = (("Host", "127.0.0.1:18090"), ("User-Agent", "wrk"))


async def _gateway(config: Path) -> Any:
    doc = orjson.loads(config.read_bytes())
    return await build_gateway(build_service(doc), client=_Static())


def _headers(token: str | None) -> CIMultiDictProxy[str]:
    pairs = list(_BASE_HEADERS)
    if token is not None:
        pairs.append(("Authorization", f"Bearer {token}"))
    return CIMultiDictProxy(CIMultiDict(pairs))


async def _round(gateway: Any, headers: CIMultiDictProxy[str], n: int) -> float:
    """CPU µs per request (process time: other load on a shared machine does not count)."""
    edge = gateway.edge
    start = time.process_time()
    for i in range(n):
        response = await edge(HttpRequest("GET", "/p1", "", headers, remote="127.0.0.1", host="127.0.0.1:18090"))
        assert response.status == 200, (response.status, response.body)
        if i % 256 == 0:
            await asyncio.sleep(0)  # let the access log's batched writes run, as a server would
    return (time.process_time() - start) / n * 1e6


async def main_async(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="krakenpy-jwt-bench-") as tmp:
        # the access log (on by default, as in the wrk rows) goes to a file: a terminal would measure the terminal
        fd = os.open(Path(tmp) / "access.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _STDOUT[sys.stdout.fileno()] = LineWriter(fd, name="bench")
        material = jwt_rows(Path(tmp), P1)
        rows: dict[str, tuple[Any, CIMultiDictProxy[str]]] = {"P1 (no validator)": (await _gateway(P1), _headers(None))}
        for alg, (config, token) in material.items():
            rows[f"P1 + auth/validator {alg} (cached token)"] = (await _gateway(config), _headers(token))
        settle_gc()  # as a worker does once it has built the gateway (start-up objects out of the GC's view)
        best = {label: float("inf") for label in rows}
        for _ in range(rounds):  # interleaved: drift hits every row alike
            for label, (gateway, headers) in rows.items():
                best[label] = min(best[label], await _round(gateway, headers, n))
        for gateway, _ in rows.values():
            await gateway.close()
        os.close(fd)
    base = best["P1 (no validator)"]
    print(f"{'configuration':44} {'CPU µs/req':>10} {'+µs':>7} {'of P1':>6}")
    for label, us in best.items():
        print(f"{label:44} {us:10.2f} {us - base:+7.2f} {base / us * 100:5.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main_async(args.n, args.rounds))


if __name__ == "__main__":
    main()
