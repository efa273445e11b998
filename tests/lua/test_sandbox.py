"""The sandbox refuses escapes; loops and memory bombs end one request, never the server."""

from __future__ import annotations

import pytest

from tests.lua.helpers import config, echo_app, lua_endpoint

PROBES = """
local out = {}
local function probe(name, f)
  local ok, v = pcall(f)
  out[name] = ok and tostring(v) or "error"
end
probe("os_execute", function() return os.execute end)
probe("io", function() return io end)
probe("load", function() return load end)
probe("loadstring", function() return loadstring end)
probe("dofile", function() return dofile end)
probe("require", function() return require end)
probe("debug", function() return debug end)
probe("string_dump", function() return string.dump end)
probe("python", function() return python end)
probe("collectgarbage", function() return collectgarbage end)
probe("string_meta", function() return getmetatable("") end)
probe("api_meta", function() return getmetatable(request.load()) end)
probe("string_write", function() string.upper = nil; return "written" end)
probe("rawset_lib", function() rawset(string, "x", 1); return "written" end)
probe("setmetatable_lib", function() setmetatable(string, {}); return "written" end)
probe("env_meta", function() return getmetatable(_ENV) end)
probe("handle_fields", function() local n = 0; for _ in pairs(request.load()) do n = n + 1 end; return n end)
probe("string_ok", function() return ("abc"):upper() .. string.format("%d", 7) .. math.floor(2.5) end)
probe("table_ok", function() local t = {3, 1}; table.sort(t); return table.concat(t, ",") end)
probe("os_time", function() return type(os.time()) end)
probe("unpack", function() return unpack({5}) end)
exit(200, out)
"""


async def test_sandbox_refuses_escapes(backend, gateway) -> None:
    host = await backend(echo_app())
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": PROBES})))
    resp = await client.get("/test")
    assert resp.status == 200
    out = await resp.json()
    for name in ("os_execute", "io", "load", "loadstring", "dofile", "require", "debug", "string_dump", "python"):
        assert out[name] == "nil", name
    assert out["collectgarbage"] == "nil"
    assert out["string_meta"] == "nil"
    assert out["api_meta"] == "false"
    assert out["env_meta"] == "false"
    assert out["string_write"] == "error"
    assert out["rawset_lib"] == "error"
    assert out["setmetatable_lib"] == "error"
    assert out["handle_fields"] == "0"
    assert out["string_ok"] == "ABC72"
    assert out["table_ok"] == "1,3"
    assert out["os_time"] == "number"
    assert out["unpack"] == "5"


async def test_open_libs_refuse_bytecode(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = """
local f = load(string.dump(function() return 1 end))
exit(200, {os = type(os.execute), io = type(io.open), loaded = tostring(f)})
"""
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": pre, "allow_open_libs": True})))
    resp = await client.get("/test")
    assert await resp.json() == {"os": "function", "io": "function", "loaded": "nil"}


async def test_python_objects_are_opaque(backend, gateway) -> None:
    host = await backend(echo_app())
    # the error value of a failing Python accessor must not expose Python attributes
    pre = """
local ok, e = pcall(function() return luaList.new():set(0, function() end) end)
local ok2, e2 = pcall(function() return json.encode(setmetatable({}, {__index = function() error({}) end})) end)
exit(200, {ok = tostring(ok)})
"""
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": pre})))
    assert (await client.get("/test")).status == 200


async def test_globals_do_not_leak_between_requests(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = "local before = counter; counter = (counter or 0) + 1; exit(200, {before = tostring(before)})"
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": pre})))
    for _ in range(3):
        assert await (await client.get("/test")).json() == {"before": "nil"}


@pytest.mark.parametrize(
    "code",
    [
        "while true do end",
        "while true do pcall(function() while true do end end) end",
        "local function f() return f() end return f()",  # proper tail calls loop forever
    ],
)
async def test_infinite_loop_ends_request_and_server_keeps_serving(backend, gateway, code) -> None:
    host = await backend(echo_app())
    doc = config(
        lua_endpoint(host, proxy_lua={"pre": code, "max_instructions": 200_000}),
        lua_endpoint(host, endpoint="/ok"),
        return_error_msg=True,
    )
    client = await gateway(doc)
    resp = await client.get("/test")
    assert resp.status == 500
    assert "instruction budget" in await resp.text()
    assert (await client.get("/ok")).status == 200
    assert (await client.get("/test")).status == 500  # and the script stays bounded


@pytest.mark.parametrize(
    "code",
    [
        "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1024) .. i end",
        "local s = ('x'):rep(1e9)",
        "local t = {} while true do pcall(function() t[#t + 1] = ('y'):rep(4096) .. #t end) end",
    ],
)
async def test_memory_bomb_ends_request_and_server_keeps_serving(backend, gateway, code) -> None:
    host = await backend(echo_app())
    lua = {"pre": code, "max_memory": 16 * 1024 * 1024, "max_instructions": 50_000_000}
    doc = config(lua_endpoint(host, proxy_lua=lua), return_error_msg=True)
    doc["endpoints"][0]["extra_config"]["modifier/lua-proxy"] = lua
    doc["endpoints"].append(lua_endpoint(host, endpoint="/ok", proxy_lua={"pre": "local x = ('z'):rep(1000)"}))
    doc["endpoints"][1]["extra_config"]["modifier/lua-proxy"]["max_memory"] = 16 * 1024 * 1024
    client = await gateway(doc)
    resp = await client.get("/test")
    assert resp.status == 500
    text = await resp.text()
    assert any(s in text for s in ("memory", "instruction budget")), text
    assert (await client.get("/ok")).status == 200  # same runtime, still usable


async def test_time_limit_ends_request(backend, gateway) -> None:
    host = await backend(echo_app())
    lua = {"pre": "while true do end", "timeout": "50ms", "max_instructions": 10**12}
    client = await gateway(config(lua_endpoint(host, proxy_lua=lua), return_error_msg=True))
    resp = await client.get("/test")
    assert resp.status == 500
    assert "time limit" in await resp.text()
