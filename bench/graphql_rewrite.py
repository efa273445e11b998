"""``python -m bench.graphql_rewrite``: µs per request of the ``backend/graphql`` request rewrite.

The rewrite (placeholder substitution, one JSON dump, method/body/headers or query string) is run on
fresh requests; the cost of making the request is measured alone and subtracted. CPU time of the
process (descheduled time on a busy machine is not counted). The document is the
KrakenD playground's film query (~200 B); best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable
from typing import Any

from krakenpy.components.backend.graphql import COMPONENT, compile_rewrite
from krakenpy.components.base import Site
from krakenpy.config.build import build_service
from krakenpy.proxy.types import Request

FILM = (
    "query Query ($movie_id: ID!) {\nfilm (filmID: $movie_id) {\nid\nepisodeID\ntitle\ndirector\nreleaseDate\n"
    "speciesConnection {\nspecies {\nname\nclassification\nhomeworld {\nname\n}\n}\n}\n}\n}"
)
BODY = b'{"movie_id":"1","lang":"en","flags":{"a":true,"b":[1,2,3]}}'
CASES: dict[str, dict[str, Any]] = {
    "query, POST, one placeholder (the playground's)": {"variables": {"movie_id": "{movie_id}"}},
    "query, POST, fixed variables (one body for all)": {"variables": {"movie_id": "1"}},
    "query, GET, one placeholder": {"variables": {"movie_id": "{movie_id}"}, "method": "GET"},
    "mutation, POST, 60 B client body": {"type": "mutation", "variables": {"lang": "es"}},
}


def _request() -> Request:
    return Request(
        "GET", "/films/4", {"Movie_id": "4"}, {"Content-Type": ["text/plain"]}, {}, body=BODY, url="http://h/graphql"
    )


def _best(fn: Callable[[], object], n: int, rounds: int) -> float:
    # process time: on a shared machine, the time the process was descheduled is not counted
    return min(timeit.repeat(fn, number=n, repeat=rounds, timer=time.process_time)) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.graphql_rewrite", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    doc = {"version": 3, "endpoints": [{"endpoint": "/films/{movie_id}", "backend": [{"host": ["http://h"]}]}]}
    service = build_service(doc)
    site = Site("backend", "endpoints[0].backend[0].extra_config.backend/graphql", service)
    base = _best(_request, args.n, args.rounds)
    print(f"making the request alone: {base:.2f} µs (subtracted below)")
    for name, extra in CASES.items():
        options = COMPONENT.parse({"type": "query", "query": FILM, **extra}, site)
        rewrite = compile_rewrite(options, options.query)

        def one(rewrite: Callable[[Request], None] = rewrite) -> None:
            rewrite(_request())

        cost = _best(one, args.n, args.rounds) - base
        print(f"{name}: {cost:.2f} µs")


if __name__ == "__main__":
    main()
