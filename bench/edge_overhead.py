"""``python -m bench.edge_overhead``: µs per request each edge-security middleware adds, in-process.

wrk rows measure the whole gateway and move 5-10 % with the machine's load; the few microseconds an
edge middleware costs disappear in that noise. Here each middleware wraps a handler that answers a
ready-made response, and the same requests run through the bare handler and the wrapped one; the
figure is the difference of the best rounds of each (the minimum is the least disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.botdetect import Detector, bot_edge_middleware, parse_bot
from krakenpy.cors import CorsPolicy, cors_middleware, parse_cors
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.httpsecure import parse_secure, secure_middleware

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
CORS = {
    "allow_origins": ["https://app.example.com", "https://*.example.org"],
    "allow_methods": ["GET", "POST"],
    "allow_headers": ["Authorization", "Content-Type"],
    "expose_headers": ["Content-Length"],
    "allow_credentials": True,
    "max_age": "12h",
}
SECURE = {"frame_deny": True, "content_type_nosniff": True, "browser_xss_filter": True, "sts_seconds": 300}
BOTS = {"deny": ["BadBot/1.0"], "patterns": ["(?i)googlebot", "(facebookexternalhit)/.*", "(?i)scrapy", "curl/.*"]}


def _request(method: str = "GET", headers: list[tuple[str, str]] | None = None) -> HttpRequest:
    base = [("Host", "api.example.com"), ("User-Agent", BROWSER_UA), ("Accept", "application/json")]
    return HttpRequest(method, "/p1", headers=CIMultiDictProxy(CIMultiDict(base + (headers or []))))


async def _answer(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, CIMultiDict((("Content-Type", "application/json"), ("X-Krakend", "v"))), b"{}")


async def _per_request(handler: EdgeHandler, request: HttpRequest, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await handler(request)
    return (time.perf_counter() - start) / n * 1e6


async def _added(middleware: EdgeMiddleware, request: HttpRequest, n: int, rounds: int) -> float:
    wrapped = middleware(_answer)
    bare = with_mw = float("inf")
    for _ in range(rounds):  # interleaved, so a busy spell of the machine hits both alike
        bare = min(bare, await _per_request(_answer, request, n))
        with_mw = min(with_mw, await _per_request(wrapped, request, n))
    return with_mw - bare


def _cases() -> list[tuple[str, Callable[[], EdgeMiddleware], HttpRequest]]:
    cors = CorsPolicy(parse_cors(CORS, "bench"))
    origin = [("Origin", "https://app.example.com")]
    preflight = origin + [("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "content-type")]
    return [
        ("security/cors, actual request, allowed Origin", lambda: cors_middleware(cors), _request("GET", origin)),
        ("security/cors, actual request, no Origin", lambda: cors_middleware(cors), _request()),
        ("security/cors, preflight answered", lambda: cors_middleware(cors), _request("OPTIONS", preflight)),
        ("security/http, 4 headers", lambda: secure_middleware(parse_secure(SECURE, "bench")), _request()),
        (
            "security/bot-detector, 4 patterns, no cache",
            lambda: bot_edge_middleware(Detector(parse_bot(BOTS, "bench"))),
            _request(),
        ),
        (
            "security/bot-detector, 4 patterns, LRU hit",
            lambda: bot_edge_middleware(Detector(parse_bot({**BOTS, "cache_size": 1000}, "bench"))),
            _request(),
        ),
    ]


async def _main(n: int, rounds: int) -> None:
    print(f"| edge middleware | µs added per request (best of {rounds} × {n}) |")
    print("|---|--:|")
    for name, make, request in _cases():
        print(f"| {name} | {await _added(make(), request, n, rounds):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_overhead", description=__doc__)
    parser.add_argument("-n", type=int, default=20_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(_main(args.n, args.rounds))


if __name__ == "__main__":
    main()
