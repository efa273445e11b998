"""Where a Lua run's cost goes, one case at a time, for counting machine instructions under valgrind.

Each case repeats one operation on a bare :class:`~krakenpy.lua.runtime.Runtime` (no middleware, no
event loop): a Python→Lua call, a Lua→Python call, an empty ``pre`` run, a run that loads the
request, one that also reads or writes a header, an empty pre + post pair and the P3 pair; ``objects``
builds the ``Request`` and ``Response`` the pair cases build (no Lua: subtract it for Lua's share).
The per-operation count is the difference between a run of N and a run of 0, divided by N (the
recipe of ``bench/lua_instructions.py``):

    export PYTHONHASHSEED=0
    run() {
      valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python -m bench.lua_crossings "$@" \
        2>&1 | awk '/Collected/ {print $4}'
    }
    for c in none objects call0 call5 callback4 ref run load read write pair p3; do
      echo "$c $(( ($(run $c 3000) - $(run $c 0)) / 3000 ))"
    done

Subtract ``none`` (the loop itself) from the others.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from krakenpy.lua.bindings import PostState
from krakenpy.lua.runtime import DEFAULT_MAX_MEMORY, Limits, Runtime
from krakenpy.proxy.types import Request, Response

CASES = ("none", "objects", "call0", "call5", "callback4", "ref", "run", "load", "read", "write", "pair", "p3")
_PRE = {
    "run": b"local x",
    "load": b"local r = request.load()",
    "read": b"local r = request.load(); local a = r:headers('Accept')",
    "write": b"local r = request.load(); r:headers('X-Bench', 'lua')",
    "pair": b"local x",
    "p3": b"local r = request.load(); r:headers('X-Bench', 'lua')",
}
_POST = {"pair": b"local x", "p3": b"local r = response.load(); r:data():set('lua', true)"}


def _request() -> Request:
    return Request(method="GET", path="/s", params={}, headers={"Accept": ["*/*"]}, query={}, url="/s")


def operation(case: str) -> Callable[[], object]:
    """The operation ``case`` repeats."""
    rt = Runtime(None, open_libs=False, max_memory=DEFAULT_MAX_MEMORY)  # type: ignore[arg-type]  # no http here
    lua, limits, objects = rt.lua, Limits(), rt.objects
    request = _request()
    if case == "none":
        return lambda: None
    if case == "objects":  # what the p3 case builds that a request without Lua builds too
        return lambda: (_request(), Response(data={"a": 1}, headers={}))
    if case == "call0":
        return lua.eval("function() return true end")  # type: ignore[no-any-return]
    if case == "call5":
        f5 = lua.eval("function(a, b, c, d, e) return true end")
        return lambda: f5(1, f5, 10_000_000, None, True)
    if case == "callback4":  # Lua calls a Python function with an id, a count and two strings
        return lua.eval("function(f) return function() f(1, 2, 'X-Bench', 'lua') end end")(lambda *a: None)  # type: ignore[no-any-return]
    if case == "ref":

        def ref() -> None:
            scope: list[int] = []
            objects.scope = scope
            objects.ref(request)
            rt.release(scope)

        return ref
    # the sources, as krakenpy.lua.script passes them: straight-line scripts run without the count hook
    pre_code = _PRE[case].decode()
    post_code = _POST[case].decode() if case in _POST else ""
    post = (
        rt.runner("post", rt.compile(_POST[case], "post"), limits, source=f"{pre_code}\n{post_code}")
        if case in _POST
        else None
    )
    pre = rt.runner("pre", rt.compile(_PRE[case], "pre"), limits, keep=post is not None, source=pre_code)

    def run() -> None:
        scope: list[int] = []
        req = _request()
        kept = rt.pre(scope, req, pre, limits)
        if post is not None:
            rt.post(scope, kept, req, PostState(Response(data={"a": 1}, headers={})), post, limits)
        rt.release(scope)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lua_crossings", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("case", choices=CASES)
    p.add_argument("n", type=int, help="repetitions after a warm-up of 200 (0 for the start-up run)")
    args = p.parse_args(argv)
    op = operation(args.case)
    for _ in range(200 + max(args.n, 0)):
        op()
    return 0


if __name__ == "__main__":
    sys.exit(main())
