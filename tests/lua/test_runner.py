"""The runner: runs reuse pooled worker coroutines, so what one run leaves behind (a failure, a spent
budget, a suspended http_response call) must never show in another."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.lua.helpers import config, echo_app, lua_endpoint


def _app_with_slow_route() -> web.Application:
    app = echo_app()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(text="slow " + request.query.get("id", ""), headers={"X-Slow": "yes"})

    app.router.add_get("/slow", slow)
    return app


async def test_http_response_in_pre_and_post(backend, gateway) -> None:
    host = await backend(_app_with_slow_route())
    lua = {
        "pre": f"""
local r = http_response.new("{host}/slow?id=pre")
request.load():headers("X-Got", r:body() .. " " .. r:statusCode() .. " " .. r:headers("X-Slow"))
""",
        "post": f"""
local r = http_response.new("{host}/slow?id=post", "GET", "")
response.load():data():set("post", r:body())
""",
    }
    client = await gateway(config(lua_endpoint(host, proxy_lua=lua)))
    body = await (await client.get("/test")).json()
    assert body["headers"]["X-Got"] == "slow pre 200 yes"
    assert body["post"] == "slow post"


async def test_http_response_error_is_raised_at_the_script_line(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = """
local ok, err = pcall(http_response.new, "file:///etc/passwd")
request.load():headers("X-Err", tostring(ok) .. " " .. tostring(err))
"""
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": pre})))
    body = await (await client.get("/test")).json()
    assert body["headers"]["X-Err"].startswith("false pre-script:2: http_response.new: unsupported url")


async def test_suspended_runs_keep_their_own_env(backend, gateway) -> None:
    host = await backend(_app_with_slow_route())
    # each run sets a global, waits in http_response.new while the others run, then reads it back
    pre = f"""
mine = request.load():params("Id")
local r = http_response.new("{host}/slow?id=" .. mine)
request.load():headers("X-Seen", mine .. "/" .. r:body())
"""
    doc = config(lua_endpoint(host, endpoint="/test/{id}", proxy_lua={"pre": pre}))
    client = await gateway(doc)
    responses = await asyncio.gather(*(client.get(f"/test/{i}") for i in range(8)))
    for i, resp in enumerate(responses):
        assert (await resp.json())["headers"]["X-Seen"] == f"{i}/slow {i}"


async def test_http_response_time_limit(backend, gateway) -> None:
    host = await backend(_app_with_slow_route())
    lua = {"pre": f'http_response.new("{host}/slow")', "timeout": "10ms"}
    client = await gateway(config(lua_endpoint(host, proxy_lua=lua), return_error_msg=True))
    resp = await client.get("/test")
    assert resp.status == 500
    assert "time limit" in await resp.text()


async def test_runs_after_failures_start_clean(backend, gateway) -> None:
    host = await backend(echo_app())
    # ~60 % of the budget per run: a count carried over from an earlier run would fail the next one
    pre = """
local q = request.load():query()
leaked = (leaked or 0) + 1
if q:find("fail=1") then error("asked to fail") end
if q:find("spin=1") then while true do end end
local n = 0
for i = 1, 20000 do n = n + i end
request.load():headers("X-Runs", tostring(leaked))
"""
    lua = {"pre": pre, "max_instructions": 100_000}
    doc = config(lua_endpoint(host, input_query_strings=["fail", "spin"], proxy_lua=lua), return_error_msg=True)
    client = await gateway(doc)
    for query in ("", "fail=1", "", "spin=1", "", "", "fail=1", ""):
        resp = await client.get("/test?" + query)
        if query:
            assert resp.status == 500
        else:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["headers"]["X-Runs"] == "1"


async def test_error_level_2_at_top_level_has_no_runner_position(backend, gateway) -> None:
    host = await backend(echo_app())
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": "error('boom', 2)"}), return_error_msg=True))
    resp = await client.get("/test")
    assert resp.status == 500
    assert await resp.text() == "boom"
