"""The write contract of the Lua API, whatever way a write reaches Python (each call crossing at
once, or queued and applied later as a batching implementation would): reads, conversions and exit
see earlier writes, their order holds, a failed run keeps them, bad values fail at the script's line."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.config.build import build_service
from krakenpy.errors import PipelineError
from krakenpy.lua.errors import LuaError, LuaExit
from krakenpy.lua.modifier import proxy_middleware, router_middleware
from krakenpy.lua.script import build_script
from krakenpy.proxy.types import Request, Response
from krakenpy.resources import Resources
from tests.conftest import make_config
from tests.lua.helpers import config, echo_app, lua_endpoint


def _resources() -> Resources:
    service = build_service(make_config([{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:18080"]}]}]))
    return Resources(service=service, http=AiohttpClient(ClientOptions()), stack=AsyncExitStack())


def _request() -> Request:
    return Request(method="GET", path="/x", params={}, headers={"X-In": ["a"]}, query={})


async def _echo(request: Request) -> Response:
    return Response(data={"headers": {k: v[0] for k, v in request.headers.items()}, "a": 1})


def _proxy(raw: dict[str, Any]) -> Any:
    return proxy_middleware(build_script(raw, _resources(), "test"))(_echo)


async def test_writes_reads_see_earlier_writes() -> None:
    pre = """
local r = request.load()
r:headers("X-A", "1")
r:headers("X-B", r:headers("X-A") .. "2")
r:headers("x-a", "3")
"""
    post = """
local d = response.load():data()
d:set("k", "v")
d:set("n", d:get("k") .. "!")
d:set("has", d:keyExists("k"))
d:set("count", d:len())
"""
    response = await _proxy({"pre": pre, "post": post})(_request())
    assert response.data["headers"]["X-A"] == "3"
    assert response.data["headers"]["X-B"] == "12"
    assert (response.data["k"], response.data["n"], response.data["has"]) == ("v", "v!", True)
    assert response.data["count"] == 5  # headers, a, k, n, has


async def test_writes_many_writes_keep_their_order() -> None:
    pre = """
local r = request.load()
for i = 1, 300 do r:headers("X-" .. (i % 7), tostring(i)) end
for i = 1, 150 do r:headers("X-Last", tostring(i)) end
"""
    post = """
local d = response.load():data()
for i = 1, 1000 do d:set("k" .. (i % 90), i) end
d:set("f", 2.5); d:set(7, "seven"); d:set("t", false); d:set("s", "\\255")
"""
    response = await _proxy({"pre": pre, "post": post})(_request())
    headers = response.data["headers"]
    assert [headers[f"X-{i}"] for i in range(7)] == [str(max(j for j in range(1, 301) if j % 7 == i)) for i in range(7)]
    assert headers["X-Last"] == "150"
    assert response.data["k0"] == 990 and response.data["k89"] == 989
    assert (response.data["f"], response.data["7"], response.data["t"]) == (2.5, "seven", False)
    assert response.data["s"] == "\ufffd"  # not UTF-8: replaced, as a crossing set does


async def test_writes_writes_seen_by_conversions_and_exit() -> None:
    post = """
local r = response.load()
local d = r:data()
d:set("x", 1)
r:headers("X-Json", json.encode(d:get("headers")))
exit(201, d, {["X-Out"] = "o"})
"""
    with pytest.raises(LuaExit) as caught:
        await _proxy({"pre": "request.load():headers('X-P', 'p')", "post": post})(_request())
    assert '"x":1' in str(caught.value) and '"X-P":"p"' in str(caught.value)


async def test_writes_writes_of_a_failed_run_are_kept() -> None:
    request = _request()
    with pytest.raises(LuaError, match=r"boom \(pre-script:L3\)"):
        await _proxy({"pre": "local r = request.load()\nr:headers('X-Kept', 'yes')\nerror('boom')"})(request)
    assert request.headers["X-Kept"] == ["yes"]


async def test_writes_router_writes_reach_the_request() -> None:
    script = build_script({"pre": "ctx.load():headers('X-R', 'r'); ctx.load():headers('X-In', nil)"}, _resources(), "t")
    middleware = router_middleware(script, service_level=False)
    assert middleware is not None
    response = await middleware(_echo)(_request())
    assert response.data["headers"] == {"X-R": "r"}
    # nothing kept (a setter script's run leaves its reserved id empty: krakenpy/lua/setters.py)
    assert {k: v for k, v in script.runtime.objects.objects.items() if v is not None} == {}


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("request.load():headers('X-Bad', 'a\\r\\nb')", 400, "invalid value for header X-Bad"),
        ("request.load():headers('Bad Name', 'v')", 500, "invalid header name"),
        ("response.load():headers('X-Bad', 'a\\nb')", 500, "invalid value for header X-Bad"),
    ],
)
async def test_writes_checks_still_fail_at_the_script_line(code: str, status: int, message: str) -> None:
    raw = {"pre": "local x = 1\n" + code} if code.startswith("request") else {"post": "local x = 1\n" + code}
    with pytest.raises(PipelineError) as caught:
        await _proxy(raw)(_request())
    assert message in str(caught.value) and ":L2)" in str(caught.value)
    assert caught.value.status == status


async def test_writes_writes_flushed_before_http_response(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = f"""
local r = request.load()
r:headers("X-Before", "b")
local res = http_response.new("{host}/echo/side")
r:headers("X-Side", tostring(res:statusCode()))
r:headers("X-After", r:headers("X-Before") .. "a")
"""
    doc = config(lua_endpoint(host, proxy_lua={"pre": pre}))
    client = await gateway(doc)
    resp = await client.get("/test")
    assert resp.status == 200
    headers = (await resp.json())["headers"]
    assert (headers["X-Before"], headers["X-Side"], headers["X-After"]) == ("b", "200", "ba")
