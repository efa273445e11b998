"""Requests share one Lua runtime: no script may reach a table another request sees. One endpoint tries
every way to a shared table and writes through it; a request to another endpoint must then find a
sandbox identical to the one seen before the attempt."""

from __future__ import annotations

import pytest

from tests.lua.helpers import config, echo_app, lua_endpoint

#: the globals of the sandbox (without allow_open_libs)
GLOBALS = (
    "assert error ipairs next pairs pcall select tonumber tostring type xpcall rawequal rawget rawlen rawset "
    "setmetatable getmetatable unpack print _VERSION string table math utf8 os luaTable luaList luaNil "
    "custom_error exit http_response json base64"
).split()

# Everything a script can observe about the shared sandbox, as one string: each global, each field
# of each library (through pairs and through indexing), function identities, and a few behaviours.
FINGERPRINT = f"""
local names = {{ {", ".join(repr(n) for n in GLOBALS)} }}
local out = {{}}
local function add(s) out[#out + 1] = s end
for _, name in ipairs(names) do
  local v = _ENV[name]
  add(name .. "=" .. tostring(v))
  if type(v) == "table" then
    local keys = {{}}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, k in ipairs(keys) do add(name .. "." .. k .. "=" .. tostring(v[k])) end
    add(name .. "#" .. tostring(rawlen(v)) .. "/" .. tostring(getmetatable(v)))
    for _, probe in ipairs({{ "leaked", "x", "__index", "dump" }}) do
      add(name .. "?" .. probe .. "=" .. tostring(v[probe]))
    end
  end
end
for _, probe in ipairs({{ "upper", "find", "dump", "leaked", "x" }}) do
  add("str:" .. probe .. "=" .. tostring(("")[probe]))
end
add(("abc"):upper() .. string.upper("d") .. string.format("%d", 7) .. table.concat({{1, 2}}, ","))
add(json.encode({{ json.null, luaNil.new(), {{}} }}) .. tostring(luaNil.new().x))
add(tostring(getmetatable(luaNil.new())))
local t = luaTable.new(); t:set("n", luaNil.new()); add(json.encode(t:get("n") == luaNil.new()))
local ok, e = pcall(custom_error, "m", 418); add(tostring(getmetatable(e)) .. tostring(e))
add(tostring(getmetatable(request.load())) .. tostring(getmetatable(_ENV)) .. tostring((getmetatable(""))))
exit(200, {{ fingerprint = table.concat(out, "\\n") }})
"""

# Each attempt runs under pcall: the attack must not stop at the first refusal.
ATTACK = """
local attempts = {}
local function try(name, f) attempts[name] = pcall(f) end
local shared = {}
try("pairs", function() local _, real = pairs(string); shared[#shared + 1] = real end)
try("pairs_json", function() local _, real = pairs(json); shared[#shared + 1] = real end)
try("pairs_luaTable", function() local _, real = pairs(luaTable); shared[#shared + 1] = real end)
try("next", function() local k, v = next(string); shared[#shared + 1] = v end)
try("pairs_values", function()
  for _, v in pairs(string) do if type(v) == "table" then shared[#shared + 1] = v end end
end)
try("string_meta_index", function() shared[#shared + 1] = getmetatable("").__index end)
try("method_table", function() shared[#shared + 1] = ("").__index end)
try("rawget", function() shared[#shared + 1] = rawget(string, "upper") and string end)
try("api_meta", function() shared[#shared + 1] = getmetatable(request.load()) end)
try("env_meta", function() shared[#shared + 1] = getmetatable(_ENV) end)
try("custom_meta", function() local _, e = pcall(custom_error, "x", 418); shared[#shared + 1] = getmetatable(e) end)
try("exit_meta", function() local _, e = pcall(exit, 200, "x"); shared[#shared + 1] = getmetatable(e) end)
try("status_meta", function()
  local _, e = pcall(function() request.load():headers("X", "a\\nb") end); shared[#shared + 1] = getmetatable(e)
end)
try("nil_meta", function() shared[#shared + 1] = getmetatable(luaNil.new()) end)
shared[#shared + 1] = luaNil.new()
shared[#shared + 1] = json.null
shared[#shared + 1] = json
shared[#shared + 1] = string
shared[#shared + 1] = luaTable
-- write through everything found, every way there is
local upper = function() return "pwned" end
for i, t in ipairs(shared) do
  if type(t) == "table" then
    try("set" .. i, function() t.upper = upper; t.leaked = "secret"; t.x = 1 end)
    try("rawset" .. i, function() rawset(t, "leaked", "secret") end)
    try("insert" .. i, function() table.insert(t, "secret") end)
    try("setmeta" .. i, function() setmetatable(t, { __index = function() return "secret" end }) end)
    try("meta_field" .. i, function()
      local mt = getmetatable(t)
      if type(mt) == "table" then mt.__tostring = upper end
    end)
  end
end
try("string_upper", function() string.upper = upper end)
try("string_method", function() local s = "x"; s.upper = upper end)
try("table_leaked", function() table.leaked = "secret" end)
try("json_array_nil", function() json.array(json.null) end)
try("json_object_string", function() json.object(string) end)
try("json_array_request", function() json.array(request.load()) end)
try("nil_field", function() luaNil.new().leaked = "secret" end)
try("custom_field", function() local _, e = pcall(custom_error, "x", 418); getmetatable(e).__tostring = upper end)
try("gc", function() setmetatable({}, { __gc = function() while true do end end }) end)
try("global", function() leaked_global = "secret" end)
exit(200, attempts)
"""


async def test_isolation_second_request_sees_a_pristine_sandbox(backend, gateway) -> None:
    host = await backend(echo_app())
    doc = config(
        lua_endpoint(host, endpoint="/look", proxy_lua={"pre": FINGERPRINT}),
        lua_endpoint(host, endpoint="/attack", backend_lua={"pre": ATTACK}),
        return_error_msg=True,
    )
    client = await gateway(doc)
    before = await client.get("/look")
    assert before.status == 200, await before.text()
    fingerprint = (await before.json())["fingerprint"]
    assert "pwned" not in fingerprint and "secret" not in fingerprint
    assert "str:dump=nil" in fingerprint and "string?dump=nil" in fingerprint

    attack = await client.get("/attack")
    assert attack.status == 200, await attack.text()
    attempts = await attack.json()
    writes = ("set", "rawset", "insert", "setmeta", "string_", "table_leaked", "json_", "nil_field", "custom_field")
    assert sorted(name for name, ok in attempts.items() if ok and name.startswith(writes)) == []
    assert attempts["gc"] is False
    assert attempts["global"] is True  # its own env

    after = await client.get("/look")
    assert after.status == 200, await after.text()
    assert (await after.json())["fingerprint"] == fingerprint


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("local _, real = pairs(string); return rawequal(real, string)", "true"),  # the view, not the table
        ("return tostring(('').dump)", "nil"),
        ("return tostring(string.dump)", "nil"),
        ("local k = next(string); return tostring(k)", "nil"),
        ("return tostring(rawget(string, 'upper'))", "nil"),
        ("return select('#', pcall(setmetatable, {}, {__gc = true}))", "2"),
        ("return tostring(pcall(function() json.null.x = 1 end))", "false"),
        ("local n = 0; for k, v in pairs(string) do n = n + 1 end; return tostring(n > 10)", "true"),
        ("return ('%d'):format(3) .. ('a,b'):find(',')", "32"),
    ],
)
async def test_isolation_probes(backend, gateway, code: str, expected: str) -> None:
    host = await backend(echo_app())
    pre = f"local function probe() {code} end\nexit(200, tostring(probe()))"
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": pre}), return_error_msg=True))
    resp = await client.get("/test")
    assert await resp.text() == expected
