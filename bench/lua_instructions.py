"""Run N requests through one Lua level, for counting machine instructions under valgrind (a driver).

CPU time on a shared machine moves by ±20 %; instruction counts do not. The per-request count of a
level is the difference between a run of N requests and a run of 0, divided by N (both include the
same start-up). With a fixed hash seed the figure repeats within ~0.2 %:

    export PYTHONHASHSEED=0
    run() {
      valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.lua_instructions "$@" \
        2>&1 | awk '/Collected/ {print $4}'
    }
    echo $(( ($(run backend 2000) - $(run backend 0)) / 2000 ))

Level ``general`` runs bench/configs/p3-general.json's pair (reads, compares and branches) through
``modifier/lua-proxy``; level ``vm`` the same pair kept in the Lua VM (``max_instructions`` below the
subset's 1,000,000: every accessor call crosses from Lua into Python, through the memory guard).
Level ``none`` is the floor: the same loop through a no-op layer (building the request, the inner
proxy, the event loop); a level's own cost is its count less this one's.
Run it from another checkout (``git worktree add``, ``cd`` there, same venv) to compare two revisions.
The scripts and the trivial inner proxy are those of ``bench/lua_overhead.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import orjson

from bench.lua_overhead import _config, _inner, _levels, _passthrough, _request
from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.config.build import build_service
from krakenpy.lua.modifier import proxy_middleware
from krakenpy.lua.scan import MIN_BUDGET
from krakenpy.lua.script import build_script
from krakenpy.resources import Resources


async def run(level: str, requests: int) -> None:
    """Warm up with 200 requests, then send ``requests`` more through the ``level`` middleware."""
    async with AsyncExitStack() as stack:
        resources = Resources(service=build_service(_config()), http=AiohttpClient(ClientOptions()), stack=stack)
        levels = {
            **_levels(resources),
            "none": _passthrough,
            "general": _general(resources),
            "vm": _general(resources, in_vm=True),
        }
        middleware = next(m for name, m in levels.items() if name.startswith(level))
        proxy = middleware(_inner)
        for _ in range(200 + requests):
            await proxy(_request())


def _general(resources: Resources, *, in_vm: bool = False) -> Any:
    """bench/configs/p3-general.json's ``modifier/lua-proxy`` pair (``in_vm``: with a budget that keeps it in Lua)."""
    p3 = orjson.loads((Path(__file__).parent / "configs" / "p3-general.json").read_bytes())
    raw = dict(p3["endpoints"][0]["extra_config"]["modifier/lua-proxy"])
    if in_vm:
        raw["max_instructions"] = MIN_BUDGET - 1
    script = build_script(raw, resources, "vm" if in_vm else "general")
    assert (script.setters is None) is in_vm, "the pair no longer runs where this level says"
    return proxy_middleware(script)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lua_instructions", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("level", choices=["endpoint", "proxy", "backend", "general", "vm", "none"])
    p.add_argument("requests", type=int, help="requests after the warm-up (0 for the start-up run)")
    args = p.parse_args(argv)
    asyncio.run(run(args.level, max(args.requests, 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
