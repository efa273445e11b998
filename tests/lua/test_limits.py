"""``timeout`` and ``max_instructions`` hold inside C functions too: a backtracking pattern on a client
header, loops of cheap-looking C calls, loops of big string copies. Each test is bounded by a pytest
timeout: without the limits these runs take from seconds to hours."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from tests.lua.helpers import config, echo_app, lua_endpoint

HEADER = "local h = request.load():headers('X-Data')\n"
#: 400 bytes of "a": Lua's own C matcher takes about 13 s on this pattern
EVIL = {"X-Data": "a" * 400}


async def _run(backend, gateway, pre: str, headers: dict[str, str] | None = None, **lua: object) -> tuple[int, str]:
    host = await backend(echo_app())
    endpoint = lua_endpoint(host, proxy_lua={"pre": pre, **lua}, input_headers=["X-Data"])
    client = await gateway(config(endpoint, return_error_msg=True))
    resp = await client.get("/test", headers=headers or {})
    return resp.status, await resp.text()


@pytest.mark.timeout(15)
@pytest.mark.parametrize(
    "code",
    [
        "string.find(h, 'a*a*a*b')",
        "h:find('a*a*a*b')",
        "h:match('a*a*a*b')",
        "for _ in h:gmatch('a*a*a*b') do end",
        "h:gsub('a*a*a*b', '')",
        "for i = 1, 1e9 do pcall(string.find, h, 'a*a*a*b') end",  # catching the error does not help
    ],
)
async def test_limits_timeout_stops_backtracking_pattern(backend, gateway, code: str) -> None:
    status, text = await _run(backend, gateway, HEADER + code, EVIL, timeout="100ms", max_instructions=10**12)
    assert status == 500
    assert text == "script exceeded its time limit (pre-script:L2)"


@pytest.mark.timeout(15)
async def test_limits_budget_stops_backtracking_pattern(backend, gateway) -> None:
    status, text = await _run(backend, gateway, HEADER + "h:find('a*a*a*b')", EVIL)
    assert status == 500
    assert text == "script exceeded its instruction budget (pre-script:L2)"


@pytest.mark.timeout(15)
async def test_limits_c_calls_are_charged(backend, gateway) -> None:
    # each call runs in C in ~10 us but may take ~20,000 steps: charged that much, the budget ends the
    # loop after ~500 calls (uncharged, 10 million calls would take minutes)
    pre = "local s = ('a'):rep(20)\nfor i = 1, 1e7 do s:find('a*a*b') end"
    status, text = await _run(backend, gateway, pre)
    assert (status, text) == (500, "script exceeded its instruction budget (pre-script:L2)")


@pytest.mark.timeout(15)
@pytest.mark.parametrize(
    "code",
    [
        "for i = 1, 1e9 do local s = ('x'):rep(1e6) end",
        "local t = {} for i = 1, 1e4 do t[i] = ('x'):rep(100) end\nfor i = 1, 1e9 do local s = table.concat(t) end",
        "local t = {} for i = 1, 1e4 do t[i] = -i end\nfor i = 1, 1e9 do table.sort(t) end",
    ],
)
async def test_limits_copies_and_sorts_are_charged(backend, gateway, code: str) -> None:
    status, text = await _run(backend, gateway, code)
    assert status == 500
    assert "script exceeded its instruction budget" in text


@pytest.mark.timeout(15)
@pytest.mark.parametrize(
    "code",
    [
        "local lt = luaTable.new()\nfor i = 1, 1e9 do lt:set('k', t) end",
        "local l = luaList.new()\nfor i = 1, 1e9 do l:set(0, t) end",
        "for i = 1, 1e9 do local s = json.encode(t) end",
        "local s = json.encode(t)\nfor i = 1, 1e9 do local d = json.decode(s) end",
    ],
)
@pytest.mark.parametrize("limit", ["budget", "timeout"])
async def test_limits_conversions_are_charged(backend, gateway, code: str, limit: str) -> None:
    # converting 20,000 entries takes ~0.1 s in a handful of instructions
    pre = "local t = {} for i = 1, 20000 do t[i] = i end\n" + code
    lua: dict[str, object] = {"timeout": "100ms", "max_instructions": 10**12} if limit == "timeout" else {}
    status, text = await _run(backend, gateway, pre, **lua)
    assert status == 500
    assert "instruction budget" in text if limit == "budget" else "time limit" in text


@pytest.mark.timeout(15)
async def test_limits_timeout_holds_in_a_loop_of_big_copies(backend, gateway) -> None:
    # one `..` instruction copies 16 MiB: between two count hooks (10,000 instructions) that is seconds;
    # the collections these copies cause make the run check its deadline
    pre = "local s = ('x'):rep(2^24)\nwhile true do local t = s .. 'y' end"
    status, text = await _run(backend, gateway, pre, timeout="100ms", max_instructions=10**12)
    assert status == 500
    assert "script exceeded its time limit" in text


async def test_limits_small_budget_prefers_the_counted_matcher(backend, gateway) -> None:
    # charged at its worst case (~10,000 steps) in C, ten such calls would not fit in 50,000
    # instructions; the Lua matcher counts what they really take
    pre = """
local s = ("k"):rep(1000) .. "=" .. ("v"):rep(1000)
local n = 0
for i = 1, 10 do
  local k, v = s:match("^(%w+)=(%w+)$")
  n = n + #k + #v
end
exit(200, {n = n})
"""
    status, text = await _run(backend, gateway, pre, max_instructions=50_000)
    assert (status, json.loads(text)) == (200, {"n": 20000})


async def test_limits_lua_matcher_results_in_the_sandbox(backend, gateway) -> None:
    # inputs long enough for every call to take the Lua matcher (bounds far above the C limit)
    pre = r"""
local s = ("ab"):rep(5000) .. "c"
local a, b, cap = s:find("(a+)b*c")
local words = 0
for w in (("word "):rep(3000)):gmatch("(%a+)%s*$?") do words = words + 1 end
local replaced, n = (("x y "):rep(2000)):gsub("(%a)%s(%a)", "%2%1", 5)
local bal = (("(" ):rep(200) .. (")"):rep(200) .. "tail"):match("%b()(.*)")
exit(200, {a = a, b = b, cap = cap, words = words, head = replaced:sub(1, 12), n = n, bal = bal})
"""
    status, text = await _run(backend, gateway, pre)
    assert status == 200, text
    expected = {"a": 9999, "b": 10001, "cap": "a", "words": 3000, "head": "yx yx yx yx ", "n": 5, "bal": "tail"}
    assert json.loads(text) == expected


def _big_app() -> web.Application:
    app = echo_app()

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (3 * 1024 * 1024))

    app.router.add_get("/big", big)
    return app


async def test_limits_http_response_bodies_count_against_max_memory(backend, gateway, caplog) -> None:
    host = await backend(_big_app())
    many = f"for i = 1, 50 do local r = http_response.new('{host}/big') end"
    twice = f"local b = http_response.new('{host}/big'):body(); local c = b .. b .. b"
    lua = {"max_memory": 4 * 1024 * 1024}
    doc = config(
        lua_endpoint(host, endpoint="/many", proxy_lua={"pre": many, **lua}),
        lua_endpoint(host, endpoint="/twice", proxy_lua={"pre": twice, **lua}),
        return_error_msg=True,
    )
    client = await gateway(doc)
    resp = await client.get("/many")  # 150 MiB of answers held by one run: refused at the second
    assert resp.status == 500
    assert (await resp.text()).startswith("http_response.new: the responses of this run exceed max_memory")
    resp = await client.get("/twice")
    assert (resp.status, await resp.text()) == (500, "lua: not enough memory")
    assert not [r for r in caplog.records if r.exc_info]
