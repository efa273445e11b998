"""Cost of krakenpy's bounded string pattern functions on normal patterns (a benchmark, not a test).

For each case, ns per call of: Lua's own C function (``string.find`` as KrakenD's gopher-lua users
write it), krakenpy's wrapper when the call runs in C (argument checks, cached pattern, worst-case
bound, charge) and krakenpy's Lua matcher (what a call whose bound exceeds ``PATTERN_C_MAX`` runs),
plus the bound that decided, for the subject given. Measured inside one Lua loop with ``os.clock``
(CPU time), minus the cost of the empty loop; each figure is the median of ``--repeat`` rounds.

    .venv/bin/python -m bench.lua_patterns [--calls 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import lupa.lua54 as lupa

from krakenpy.lua.runtime import PATTERN_C_MAX

LUA = Path(__file__).resolve().parents[1] / "krakenpy" / "lua"
JWT = "Bearer " + "eyJhbGciOiJSUzI1NiJ9." + "x" * 980
QUERY = "&".join(f"key{i}=value{i}" for i in range(8))
BODY = "word " * 40

#: (label, function, subject, pattern, extra argument)
CASES: list[tuple[str, str, str, str, object]] = [
    ("plain find in a 1 KiB JWT", "find", JWT, "Bearer ", True),
    ("bearer token of a 1 KiB JWT", "match", JWT, "^Bearer%s+(.+)$", None),
    ("host without port", "match", "api.example.com:8080", "([^%.:]+)", None),
    ("digits in an id", "find", "user-12345", "%d+", None),
    ("trim", "match", "   hello world   ", "^%s*(.-)%s*$", None),
    ("collapse spaces, 200 B", "gsub", BODY, "%s+", " "),
    ("query pairs (gmatch, 8 pairs)", "gmatch", QUERY, "([^&=]+)=([^&=]*)", None),
    ("double slashes", "gsub", "/api//v1///users/42", "/+", "/"),
]

HARNESS = b"""
local psrc, ssrc, c_max = ...
local pattern = load(psrc, "@pattern", "t")()
local charged = 0
local function charge(n) charged = charged + n end -- what the runtime does between its checks
local function fail(m) error(m, 0) end
local function budget(room) -- the runtime's state, as strlib sees it: pending charges and the C limit
  local acc = { n = 0, room = room }
  return acc, function() charged, acc.n = charged + acc.n, 0 end
end
local acc, settle = budget(c_max)
local fast = load(ssrc, "@strlib", "t")(pattern, charge, acc, settle, 10000, fail, type, c_max)
local never, settle2 = budget(-1)
local slow = load(ssrc, "@strlib", "t")(pattern, charge, never, settle2, 10000, fail, type, c_max)
local libs = { C = string, wrapper = fast, lua = slow }
return function(which, fname, s, p, extra, calls)
  local f, clock = libs[which][fname], os.clock
  local t0 = clock()
  for _ = 1, calls do end
  local t1 = clock()
  if fname == "gmatch" then
    for _ = 1, calls do for _ in f(s, p) do end end
  elseif extra == true then -- a plain find
    for _ = 1, calls do f(s, p, 1, true) end
  else
    for _ = 1, calls do f(s, p, extra) end
  end
  local t2 = clock()
  return ((t2 - t1) - (t1 - t0)) / calls * 1e9
end, function(fname, s, p, extra) return fast.bound(fname, s, p, extra == true) end
"""


def run(calls: int, repeat: int) -> list[tuple[str, float, float, float, float]]:
    """Per case: label, ns per call (C, wrapper, Lua matcher), worst-case bound."""
    lua = lupa.LuaRuntime(encoding=None)
    sources = ((LUA / name).read_bytes() for name in ("pattern.lua", "strlib.lua"))
    timer, bound = lua.execute(HARNESS, *sources, PATTERN_C_MAX)
    rows = []
    for label, fname, subject, pattern, extra in CASES:
        args = (fname.encode(), subject.encode(), pattern.encode(), extra.encode() if isinstance(extra, str) else extra)
        figures = [
            statistics.median(timer(which, *args, calls) for _ in range(repeat)) for which in (b"C", b"wrapper", b"lua")
        ]
        rows.append((label, *figures, bound(*args)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lua_patterns", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--calls", type=int, default=20_000, help="calls per round (default 20000)")
    p.add_argument("--repeat", type=int, default=5, help="rounds per figure, median (default 5)")
    args = p.parse_args(argv)
    rows = run(max(args.calls, 1), max(args.repeat, 1))
    print(f"ns per call, median of {args.repeat} rounds of {args.calls}; C path when bound <= {PATTERN_C_MAX}")
    print(f"{'case':34} {'C':>8} {'wrapper':>8} {'Lua':>8} {'bound':>10}  runs in")
    for label, c, wrapped, lua, bound in rows:
        where = "C" if bound <= PATTERN_C_MAX else "Lua"
        print(f"{label:34} {c:8.0f} {wrapped:8.0f} {lua:8.0f} {bound:10.0f}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
