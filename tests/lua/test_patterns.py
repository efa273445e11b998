"""krakenpy's Lua pattern matcher (strlib.lua) against Lua's own (lstrlib.c), and its worst-case bound
(pattern.lua) against the steps the matcher really takes: thousands of random patterns and subjects
through real Lua (lupa), outside the sandbox."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lupa.lua54 as lupa
import pytest

LUA = Path(__file__).resolve().parents[2] / "krakenpy" / "lua"

ATOMS = ["a", "b", ".", "%a", "%d", "[ab]", "[^a]", "%s", "%%", "(", ")", "()", "%b()", "%f[%a]", "%1", "x", "%."]
ATOMS += ["-", "[%a-]", "^", "$", "%w", "[1-3]", "%A", "[]]"]
STRUCTURAL = {"(", ")", "()", "%b()", "%f[%a]", "%1", "^", "$"}
QUANTIFIERS = ["", "", "", "*", "+", "-", "?"]


def _cases(seed: int, count: int, alphabet: str, longest: int) -> tuple[list[bytes], list[bytes]]:
    rng = random.Random(seed)
    patterns, subjects = [], []
    for _ in range(count):
        p = "^" if rng.random() < 0.2 else ""
        for _ in range(rng.randint(0, 5)):
            atom = rng.choice(ATOMS)
            p += atom + ("" if atom in STRUCTURAL else rng.choice(QUANTIFIERS))
        p += "$" if rng.random() < 0.2 else ""
        patterns.append(p.encode())
        subjects.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest))).encode())
    return patterns, subjects


def _strlib(lua: Any, source: bytes) -> Any:
    """strlib.lua with a matcher-only setup: no budget, every call through the Lua matcher."""
    return lua.execute(
        b"""local psrc, ssrc = ...
        local pattern = load(psrc, "@pattern", "t")()
        local steps = { charged = 0 }
        local never = { n = 0, room = -1 } -- no call is small enough for C
        local S = load(ssrc, "@strlib", "t")(pattern, function(n) steps.charged = steps.charged + n end,
          never, function() end, 10000, function(m) error(m, 0) end, type, 100000)
        return S, pattern, steps""",
        (LUA / "pattern.lua").read_bytes(),
        source,
    )


COMPARE = b"""
local S, patterns, subjects = ...
local bad, n = {}, 0
local function pack(...) return { n = select("#", ...), ... } end
local function run(f, ...)
  local r = pack(pcall(f, ...))
  if not r[1] then r[2] = tostring(r[2]):gsub("^[^:]*:%d+: ", "") end
  return r
end
local function same(a, b)
  if a.n ~= b.n then return false end
  for i = 1, a.n do if a[i] ~= b[i] then return false end end
  return true
end
local function show(r)
  local t = {}
  for i = 1, r.n do t[i] = tostring(r[i]) end
  return "[" .. table.concat(t, ",") .. "]"
end
local function all(iter, s, p)
  local out = {}
  for a, b in iter(s, p) do
    out[#out + 1] = tostring(a) .. "|" .. tostring(b)
    if #out > 50 then break end
  end
  return table.concat(out, ";")
end
-- an error only krakenpy raises: it checks the whole pattern up front, C only what its match reaches
local STRICTER = { "unfinished capture", "invalid capture index", "malformed", "invalid pattern capture", "missing" }
local function stricter(a, b)
  if not a[1] or b[1] then return false end
  for _, m in ipairs(STRICTER) do if b[2]:find(m, 1, true) then return true end end
  return false
end
local count = function(...) return "<" .. select("#", ...) .. ">" end
for i = 1, #patterns do
  local p, s = patterns[i], subjects[i]
  local cases = {
    { "find", string.find, S.lua_find, s, p },
    { "find at 3", string.find, S.lua_find, s, p, 3 },
    { "find at -2", string.find, S.lua_find, s, p, -2 },
    { "match", string.match, S.lua_match, s, p },
    { "gsub string", string.gsub, S.lua_gsub, s, p, "<%0%1>" },
    { "gsub function", string.gsub, S.lua_gsub, s, p, count },
    { "gsub table", string.gsub, S.lua_gsub, s, p, { a = "A", ["1"] = 7, b = false } },
    { "gsub max 2", string.gsub, S.lua_gsub, s, p, "%%", 2 },
    { "gmatch", function(s, p) return all(string.gmatch, s, p) end,
      function(s, p) return all(S.lua_gmatch, s, p) end, s, p },
  }
  for _, c in ipairs(cases) do
    local a, b = run(c[2], table.unpack(c, 4)), run(c[3], table.unpack(c, 4))
    if not same(a, b) and not stricter(a, b) then
      n = n + 1
      if n <= 20 then
        bad[n] = c[1] .. " " .. string.format("%q", p) .. " on " .. string.format("%q", s)
          .. ": C " .. show(a) .. " krakenpy " .. show(b)
      end
    end
  end
end
return n, table.concat(bad, "\\n")
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_patterns_lua_matcher_agrees_with_lua(seed: int) -> None:
    lua = lupa.LuaRuntime(encoding=None)
    S, _, _ = _strlib(lua, (LUA / "strlib.lua").read_bytes())
    patterns, subjects = _cases(seed, 4000, "ab(1) x.-]", 12)
    mismatches, detail = lua.execute(COMPARE, S, lua.table_from(patterns), lua.table_from(subjects))
    assert mismatches == 0, detail.decode()


BOUND = b"""
local S, pattern, steps, patterns, subjects = ...
local bad, n, worst = {}, 0, 0
for i = 1, #patterns do
  local p, s = patterns[i], subjects[i]
  local ok, P = pcall(pattern.compile, p, false)
  if ok then
    for _, name in ipairs({ "find", "gsub" }) do
      STEPS, steps.charged = 0, 0
      if pcall(name == "find" and S.lua_find or S.lua_gsub, s, p, name == "gsub" and "x" or nil) then
        -- a step: one match() call, or one byte a scan covered (what lstrlib.c tests one by one)
        local taken, bound = STEPS + steps.charged, pattern.cost(P, #s + 1, name == "gsub")
        worst = math.max(worst, taken / bound)
        if taken > bound then
          n = n + 1
          bad[n] = name .. " " .. string.format("%q", p) .. " on " .. #s .. " bytes: " .. taken .. " > " .. bound
        end
      end
    end
  end
end
return n, table.concat(bad, "\\n", 1, math.min(n, 20)), worst
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_patterns_bound_is_never_below_the_steps_taken(seed: int) -> None:
    source = (LUA / "strlib.lua").read_text()
    counting = source.replace("match = function(ms, s, k)\n", "match = function(ms, s, k)\n  STEPS = STEPS + 1\n", 1)
    assert counting != source  # the matcher is where the test expects it
    lua = lupa.LuaRuntime(encoding=None)
    S, pattern, steps = _strlib(lua, counting.encode())
    patterns, subjects = _cases(seed, 4000, "aab( )", 40)
    violations, detail, worst = lua.execute(
        BOUND, S, pattern, steps, lua.table_from(patterns), lua.table_from(subjects)
    )
    assert violations == 0, detail.decode()
    assert worst > 0.3  # and not so loose that it says nothing


@pytest.mark.parametrize(
    ("pattern", "subject", "at_most"),
    [
        ("^Bearer%s+(.+)$", 1000, 10),  # linear (a '.+' before '$' is tried once)
        ("([^&=]+)=([^&=]*)", 100, 700),  # quadratic (a key without '=' rescans), about 3m * 2m
        ("a*a*a*b", 20, 50_000),  # what makes the C matcher take seconds on 400 bytes
        ("%s+", 10_000, 10),  # linear: what an item scans is what the match consumes
    ],
)
def test_patterns_cost_grows_as_the_matcher_does(pattern: str, subject: int, at_most: int) -> None:
    lua = lupa.LuaRuntime(encoding=None)
    _, compiled, _ = _strlib(lua, (LUA / "strlib.lua").read_bytes())
    bound = compiled.cost(compiled.compile(pattern.encode(), False), subject + 1, False)
    assert bound <= at_most * (subject + 1)


def test_patterns_cost_of_a_high_degree_pattern_never_wraps() -> None:
    # ten '.-' on 300 bytes: about 300^11 steps, past 2^63 (integers wrapped into a small bound, and the
    # C matcher, which no hook stops, ran it)
    lua = lupa.LuaRuntime(encoding=None)
    _, compiled, _ = _strlib(lua, (LUA / "strlib.lua").read_bytes())
    for degree in (6, 8, 10, 14):
        bound = compiled.cost(compiled.compile(b".-" * degree + b"b", False), 301, False)
        assert bound >= 10**15


@pytest.mark.timeout(15)
async def test_patterns_budget_stops_a_high_degree_pattern(backend: Any, gateway: Any) -> None:
    from tests.lua.helpers import config, echo_app, lua_endpoint

    pre = "local s = ('a'):rep(300)\nlocal p = ('.-'):rep(10) .. 'b'\nlocal r = s:find(p)"
    endpoint = lua_endpoint(await backend(echo_app()), proxy_lua={"pre": pre, "max_instructions": 999_999})
    resp = await (await gateway(config(endpoint, return_error_msg=True))).get("/test")
    assert (resp.status, await resp.text()) == (500, "script exceeded its instruction budget (pre-script:L3)")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("('x'):find('%')", "malformed pattern (ends with '%')"),
        ("('x'):find('[a')", "malformed pattern (missing ']')"),
        ("('x'):find('(x')", "unfinished capture"),
        ("('x'):find('x)')", "invalid pattern capture"),
        ("('x'):find('%1')", "invalid capture index %1"),
        ("('x'):find('%f')", "missing '[' after '%f' in pattern"),
        ("('x'):find('%b(')", "malformed pattern (missing arguments to '%b')"),
        ("('x'):find(('()'):rep(33))", "too many captures"),
        ("(('x'):rep(300)):find(('x?'):rep(250))", "pattern too complex"),
        ("('x'):gsub('x', '%2')", "invalid capture index %2"),
        ("('x'):gsub('x', '%z')", "invalid use of '%' in replacement string"),
        ("('x'):gsub('x', function() return {} end)", "invalid replacement value (a table)"),
        ("('x'):gsub('x', true)", "bad argument #3 to 'gsub' (string/function/table expected, got boolean)"),
        ("string.find({}, 'x')", "bad argument #1 to 'find' (string expected, got table)"),
        ("string.find('x', 'x', 1.5)", "bad argument #3 to 'find' (number has no integer representation)"),
        ("string.match('x', nil)", "bad argument #2 to 'match' (string expected, got nil)"),
    ],
)
def test_patterns_errors_have_lstrlib_messages(code: str, message: str) -> None:
    lua = lupa.LuaRuntime(encoding=None)
    S, _, _ = _strlib(lua, (LUA / "strlib.lua").read_bytes())
    ok, error = lua.execute(
        b"""local S, code = ...
        local lib = { find = S.find, match = S.match, gmatch = S.gmatch, gsub = S.gsub }
        setmetatable(lib, { __index = string })
        local mt = getmetatable("")
        local saved = mt.__index
        mt.__index = lib
        local ok, e = pcall(load("local string = ...; return " .. code), lib)
        mt.__index = saved
        return ok, e""",
        S,
        code.encode(),
    )
    assert ok is False
    assert error.decode().endswith(message), error
