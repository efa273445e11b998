"""``python -m bench.ratelimit_overhead``: µs per request the in-memory rate limits add, in-process.

Like ``bench.edge_overhead``: each limiter wraps a proxy that answers a ready-made response, the same
request runs through the bare proxy and the wrapped one, and the figure is the difference of the best
rounds of each. The limits are far above the request count, so every request takes the allowed path
(the one that matters for latency). The last row is the cost of a tier policy the first time a value
is seen (afterwards the chosen tier is remembered).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from krakenpy.cel.engine import compile_value_predicate
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.ratelimit.keys import key_extractor
from krakenpy.ratelimit.options import parse_router_limit
from krakenpy.ratelimit.router import router_limit_middleware
from krakenpy.ratelimit.tiers import parse_tiered, tiered_middleware

BIG = {"max_rate": 1e9, "capacity": 10**9, "client_max_rate": 1e9, "client_capacity": 10**9}
ANSWER = Response({"ok": True})


async def _answer(request: Request) -> Response:
    return ANSWER


def _request(plan: str) -> Request:
    headers = {"X-Plan": [plan], "X-User": ["alice"]}
    return Request(method="GET", path="/p", params={}, headers=headers, query={}, client_ip="192.0.2.7")


async def _per_request(proxy: Proxy, request: Request, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await proxy(request)
    return (time.perf_counter() - start) / n * 1e6


async def _added(middleware: Middleware, request: Request, n: int, rounds: int) -> float:
    wrapped = middleware(_answer)
    bare = with_mw = float("inf")
    for _ in range(rounds):  # interleaved, so a busy spell of the machine hits both alike
        bare = min(bare, await _per_request(_answer, request, n))
        with_mw = min(with_mw, await _per_request(wrapped, request, n))
    return with_mw - bare


def _router(**extra: object) -> Middleware:
    options = parse_router_limit({**BIG, **extra})
    middleware = router_limit_middleware(options, key_extractor(options.strategy, options.key))
    assert middleware is not None
    return middleware


def _tiered() -> Middleware:
    tier = {"ratelimit": {**BIG, "strategy": "header", "key": "X-User"}}
    tiers = [
        {"tier_value": "gold", "tier_value_as": "literal", **tier},
        {"tier_value": "value.matches('^silver(-[a-z]+)?$')", "tier_value_as": "policy", **tier},
    ]
    options = parse_tiered({"tier_key": "X-Plan", "tiers": tiers}, lambda *k: "bench", {})
    limit = _router(strategy="header", key="X-User")
    middleware = tiered_middleware(options, [limit, limit])
    assert middleware is not None
    return middleware


def _header_router() -> Middleware:
    return _router(strategy="header", key="X-User")


def _cases() -> list[tuple[str, Callable[[], Middleware], Request]]:
    return [
        ("router or service limit, global bucket only", lambda: _router(client_max_rate=0), _request("gold")),
        ("router or service limit, client (ip) + global", lambda: _router(strategy="ip"), _request("gold")),
        (
            "router or service limit, client (header) + global",
            _header_router,
            _request("gold"),
        ),
        ("tiered, literal tier, its client + global limit", _tiered, _request("gold")),
        ("tiered, policy tier (remembered), client + global", _tiered, _request("silver-eu")),
        ("tiered, value matching no tier", _tiered, _request("bronze")),
    ]


def _policy_first_sight(n: int, rounds: int) -> float:
    predicate = compile_value_predicate("value.matches('^silver(-[a-z]+)?$')")
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(n):
            predicate(f"silver-{i % 7}")
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


async def _main(n: int, rounds: int) -> None:
    print("| limiter | µs added per request |\n|---|---|")
    for name, make, request in _cases():
        print(f"| {name} | {await _added(make(), request, n, rounds):.2f} |")
    print(f"| tier policy evaluated (first sight of a value) | {_policy_first_sight(n, rounds):.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ratelimit_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    asyncio.run(_main(args.n, args.rounds))


if __name__ == "__main__":
    main()
