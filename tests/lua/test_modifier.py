"""The KrakenD Lua API at every level, through a real gateway and a real loopback backend."""

from __future__ import annotations

import pytest
from yarl import URL

from tests.lua.helpers import config, echo_app, lua_endpoint


async def test_router_ctx_getters_and_setters(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = """
local c = ctx.load()
c:headers("X-Method", c:method())
c:headers("X-Url", c:url())
c:headers("X-Host-Seen", c:host())
c:headers("X-Q", c:query("a"))
c:headers("X-Param", c:params("id"))
c:headers("X-Header", c:headers("X-In"))
c:headers("X-Gone", nil)
c:headers("X-Missing", "[" .. c:headers("Nope") .. "]")
local l = luaList.new(); l:set(0, "1"); l:set(1, "2")
c:headerList("X-Multi", l)
c:headers("X-List-Len", tostring(c:headerList("X-Multi"):len()))
c:headers("X-All", tostring(c:headers():len() > 3))
c:query("b", "added")
c:params("id", "99")
c:method("POST")
c:body(c:body() .. "+lua")
"""
    doc = config(
        lua_endpoint(
            host,
            endpoint="/test/{id}",
            url="/echo/{id}",
            method="POST",
            input_headers=["*"],
            input_query_strings=["a", "b"],
            router_lua={"pre": pre},
        )
    )
    client = await gateway(doc)
    resp = await client.post("/test/7?a=1&z=2", data=b"in", headers={"X-In": "v", "X-Gone": "g"})
    assert resp.status == 200
    body = await resp.json()
    headers = body["headers"]
    assert headers["X-Method"] == "POST"
    assert headers["X-Url"] == "/test/7?a=1&z=2"
    assert headers["X-Host-Seen"].startswith("127.0.0.1")
    assert headers["X-Q"] == "1"
    assert headers["X-Param"] == "7"
    assert headers["X-Header"] == "v"
    assert "X-Gone" not in headers
    assert headers["X-Missing"] == "[]"
    assert headers["X-List-Len"] == "2"
    assert headers["X-All"] == "true"
    assert body["path"] == "/echo/99"  # params(k, v) reaches the backend URL
    assert body["query"] == "a=1&b=added"
    assert body["body"] == "in+lua"


async def test_router_headers_respect_input_headers_after_lua(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = "local c = ctx.load(); c:headers('Camera', c:host():match('([^%.:]+)') or 'unknown')"
    doc = config(lua_endpoint(host, input_headers=["Camera"], router_lua={"pre": pre}))
    client = await gateway(doc)
    body = await (await client.get("/test", headers={"X-Other": "dropped"})).json()
    assert body["headers"]["Camera"] == "127"
    assert "X-Other" not in body["headers"]


async def test_proxy_request_getters_and_setters(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = """
local r = request.load()
r:headers("X-Method", r:method())
r:headers("X-Path", r:path())
r:headers("X-Query", r:query())
r:headers("X-Param", r:params("Id"))
r:headers("X-Params-Len", tostring(r:params():len()))
r:headers("Accept", "application/xml")
r:headers("X-To-Delete", nil)
local l = luaList.new(); l:set(0, "A"); l:set(1, "B")
r:headerList("X-Multi", l)
r:params("Id", "42")
r:query("q=new&r=1")
r:body(r:body() .. " foo" .. r:headers("unknown"))
"""
    doc = config(
        lua_endpoint(
            host,
            endpoint="/p/{id}",
            url="/echo/{id}",
            method="POST",
            input_headers=["*"],
            input_query_strings=["*"],
            proxy_lua={"pre": pre},
        )
    )
    client = await gateway(doc)
    resp = await client.post("/p/7?q=old", data=b"initial", headers={"X-To-Delete": "x"})
    assert resp.status == 200
    body = await resp.json()
    h = body["headers"]
    assert h["X-Method"] == "POST"
    assert h["X-Path"] == "/p/7"
    assert h["X-Query"] == "q=old"
    assert h["X-Param"] == "7"
    assert h["X-Params-Len"] == "1"
    assert h["Accept"] == "application/xml"
    assert "X-To-Delete" not in h
    assert body["path"] == "/echo/42"
    assert body["query"] == "q=new&r=1"
    assert body["body"] == "initial foo"


async def test_router_ctx_url_keeps_a_query_byte_that_is_not_utf8(backend, gateway) -> None:
    """A client's ``%FF`` in the query (no UTF-8) comes back from ``ctx:url()`` as it was sent, as Go's
    ``URL.String()`` keeps it: it failed the script (500, Python's codec error as the text)."""
    host = await backend(echo_app())
    pre = 'local c = ctx.load()\nc:headers("X-Url", c:url())'
    doc = config(lua_endpoint(host, input_headers=["*"], router_lua={"pre": pre}))
    client = await gateway(doc)
    resp = await client.get(URL("/test?a=%FF&b=%C3%A9", encoded=True))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["headers"]["X-Url"] == "/test?a=%FF&b=%C3%A9"


async def test_router_ctx_url_escapes_the_path_as_go_does(backend, gateway) -> None:
    """``ctx:url()`` is Go's ``URL.String()``: the path escaped (``%C3%A9``, ``%20``, ``%00``), not the
    decoded path (it handed the script raw ``é``, a space and a NUL byte)."""
    host = await backend(echo_app())
    pre = "local c = ctx.load()\nc:body(c:url())"
    doc = config(lua_endpoint(host, endpoint="/test/{id}", url="/echo/{id}", method="POST", router_lua={"pre": pre}))
    client = await gateway(doc)
    resp = await client.post(URL("/test/%C3%A9%20%00?a=%FF", encoded=True))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["body"] == "/test/%C3%A9%20%00?a=%FF"
    assert body["path"] == "/echo/\u00e9 \x00"  # the parameter reaches the backend (decoded by aiohttp)


async def test_router_ctx_url_setter_holds_the_path_decoded(backend, gateway) -> None:
    """``ctx:url(v)`` parses ``v`` as Go's ``url.Parse`` does: the proxy level's ``request:path()`` (Go's
    ``URL.Path``) reads the path decoded, a byte that is no UTF-8 as that byte (it read the escapes),
    ``ctx:url()`` writes the same URL again, and a ``%`` that starts no escape is refused (400)."""
    host = await backend(echo_app())
    router = 'local c = ctx.load()\nc:url(c:query("u"))\nc:headers("X-Url", c:url())'
    proxy = (
        "local r = request.load()\nlocal hex = r:path():gsub('.', function(ch)"
        " return string.format('%02X', ch:byte()) end)\nr:headers('X-Path', hex)"
    )
    doc = config(
        lua_endpoint(host, input_headers=["*"], router_lua={"pre": router}, proxy_lua={"pre": proxy}),
        return_error_msg=True,
    )
    client = await gateway(doc)
    resp = await client.get("/test", params={"u": "/x/%FF%20%C3%A9?b=%FF"})
    assert resp.status == 200, await resp.text()
    headers = (await resp.json())["headers"]
    assert headers["X-Path"] == "2F782FFF20C3A9"  # "/x/", 0xFF, " ", "é"
    assert headers["X-Url"] == "/x/%FF%20%C3%A9?b=%FF"
    resp = await client.get("/test", params={"u": "/x/%zz"})
    assert resp.status == 400
    assert 'url: invalid URL escape "%zz"' in await resp.text()


async def test_router_ctx_url_setter_refuses_what_go_url_parse_refuses(backend, gateway) -> None:
    """``ctx:url(v)`` answers 400 where Go's ``url.Parse`` fails, not only for a bad escape in the path:
    one in the fragment (Go reads it, though the URL keeps none here), a leading ``:`` and a colon in
    a relative path's first segment; a scheme (``a:b``) and a good fragment are taken."""
    host = await backend(echo_app())
    pre = 'local c = ctx.load()\nc:url(c:query("u"))\nc:headers("X-Url", c:url())'
    doc = config(lua_endpoint(host, input_headers=["*"], router_lua={"pre": pre}), return_error_msg=True)
    client = await gateway(doc)
    refused = {
        "/a#%zz": 'url: invalid URL escape "%zz"',
        ":x": "url: missing protocol scheme",
        "a_b:c/d": "url: first path segment in URL cannot contain colon",
    }
    for value, message in refused.items():
        resp = await client.get("/test", params={"u": value})
        assert resp.status == 400, (value, await resp.text())
        assert message in await resp.text()
    for value, shown in {"/a#%20ok": "/a", "/a:b?c=1": "/a:b?c=1"}.items():
        resp = await client.get("/test", params={"u": value})
        assert resp.status == 200, (value, await resp.text())
        assert (await resp.json())["headers"]["X-Url"] == shown


async def test_router_ctx_url_setter_refuses_a_port_go_refuses(backend, gateway) -> None:
    """Go's ``url.Parse`` checks the port after the host (digits only, an empty one taken):
    ``http://h:abc/x`` and ``http://[::1]x/`` answer 400 as there; ``http://h:/x`` and
    ``http://u:p@h:8080/x`` are taken (the path kept)."""
    host = await backend(echo_app())
    pre = 'local c = ctx.load()\nc:url(c:query("u"))\nc:headers("X-Url", c:url())'
    doc = config(lua_endpoint(host, input_headers=["*"], router_lua={"pre": pre}), return_error_msg=True)
    client = await gateway(doc)
    refused = {
        "http://h:abc/x": 'url: invalid port ":abc" after host',
        "http://h:８0/x": 'url: invalid port ":８0" after host',
        "http://[::1]x/y": 'url: invalid port "x" after host',
    }
    for value, message in refused.items():
        resp = await client.get("/test", params={"u": value})
        assert resp.status == 400, (value, await resp.text())
        assert message in await resp.text()
    for value in ("http://h:/x", "http://u:p@h:8080/x", "http://[::1]:80/x"):
        resp = await client.get("/test", params={"u": value})
        assert resp.status == 200, (value, await resp.text())
        assert (await resp.json())["headers"]["X-Url"] == "/x"


async def test_router_ctx_url_keeps_the_asterisk_path_as_go_does(backend, gateway) -> None:
    """Go's ``URL.EscapedPath`` writes the path ``*`` as it is (``OPTIONS *``), never ``%2A``: a script
    setting ``ctx:url("*?a=1")`` reads ``*?a=1`` back; a ``*`` inside a path is still escaped."""
    host = await backend(echo_app())
    pre = 'local c = ctx.load()\nc:url(c:query("u"))\nc:headers("X-Url", c:url())'
    client = await gateway(config(lua_endpoint(host, input_headers=["*"], router_lua={"pre": pre})))
    resp = await client.get("/test", params={"u": "*?a=1"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["headers"]["X-Url"] == "*?a=1"
    resp = await client.get("/test", params={"u": "/a*b"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["headers"]["X-Url"] == "/a%2Ab"


async def test_backend_request_url_and_method(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = """
local r = request.load()
r:headers("X-Url-Before", r:url())
r:url(r:url() .. "?more=true")
r:method("PUT")
"""
    doc = config(lua_endpoint(host, backend_lua={"pre": pre}))
    client = await gateway(doc)
    body = await (await client.get("/test")).json()
    assert body["headers"]["X-Url-Before"] == f"{host}/echo/x"
    assert body["query"] == "more=true"
    assert body["method"] == "PUT"


POST_SCRIPT = """
local resp = response.load()
resp:isComplete(true)
local d = resp:data()
d:set("foo", "some_new_value")
local data = {}
data["bar"] = 120
data["supu"] = {tupu = "some", original = d:get("ok")}
local col = d:get("items")
col:del(0)
d:set("items", col)
data["collection_size"] = col:len()
local ids = {}
for i = 0, col:len() - 1 do table.insert(ids, col:get(i):get("id")) end
data["ids"] = ids
d:set("more", data)
d:set("keys", d:keys())
d:del("to_be_removed")
if d:keyExists("to_be_removed") then custom_error("unexpected key") end
resp:headers("X-Not-Needed", nil)
resp:headers("X-Added", "yes")
local l = luaList.new(); l:set(0, "X"); l:set(1, "Y")
resp:headerList("X-Multi-Res", l)
d:set("status_seen", resp:statusCode())
d:set("header_seen", resp:headers("X-Not-Needed"))
"""

EXPECTED_DATA = {
    "foo": "some_new_value",
    "items": [{"id": 2, "name": "b"}],
    "keys": ["foo", "items", "more", "ok", "to_be_removed"],
    "more": {"bar": 120, "collection_size": 1, "ids": [2], "supu": {"original": True, "tupu": "some"}},
    "ok": True,
    "status_seen": 200,
    "header_seen": "",
}


async def test_backend_post_response_api(backend, gateway) -> None:
    host = await backend(echo_app())
    doc = config(lua_endpoint(host, url="/items", backend_lua={"post": POST_SCRIPT}))
    client = await gateway(doc)
    resp = await client.get("/test")
    assert resp.status == 200
    assert await resp.json() == EXPECTED_DATA
    assert resp.headers["X-Krakend-Completed"] == "true"
    assert resp.headers["X-Added"] == "yes"  # krakenpy: header changes reach the client
    assert resp.headers.getall("X-Multi-Res") == ["X", "Y"]


async def test_proxy_post_response_api(backend, gateway) -> None:
    host = await backend(echo_app())
    doc = config(lua_endpoint(host, url="/items", proxy_lua={"post": POST_SCRIPT}))
    client = await gateway(doc)
    resp = await client.get("/test")
    assert resp.status == 200
    assert await resp.json() == EXPECTED_DATA


async def test_pre_and_post_share_globals_within_one_request(backend, gateway) -> None:
    host = await backend(echo_app())
    lua = {
        "pre": "seen = request.load():headers('X-Id')",
        "post": "response.load():data():set('seen', seen)",
    }
    doc = config(lua_endpoint(host, input_headers=["X-Id"], backend_lua=lua))
    client = await gateway(doc)
    assert (await (await client.get("/test", headers={"X-Id": "abc"})).json())["seen"] == "abc"


@pytest.mark.parametrize("lua_timeout", [None, "2s"])
@pytest.mark.parametrize("pre", [True, False])
async def test_proxy_pre_and_post_phases_with_and_without_timeout(backend, gateway, lua_timeout, pre) -> None:
    # the P3 pair: pre's record kept for post, or post alone; a timeout passes a deadline to each run
    # (without one the pair is two setter plans, run without Lua: krakenpy/lua/setters.py)
    host = await backend(echo_app())
    lua: dict[str, object] = {"post": "local r = response.load(); r:data():set('lua', true)"}
    if pre:
        lua["pre"] = "local r = request.load(); r:headers('X-Bench', 'lua')"
    if lua_timeout:
        lua["timeout"] = lua_timeout
    client = await gateway(config(lua_endpoint(host, input_headers=["X-Bench"], proxy_lua=lua)))
    for _ in range(3):  # ids handed out and released on every request
        body = await (await client.get("/test")).json()
        assert body["lua"] is True
        assert body["headers"].get("X-Bench") == ("lua" if pre else None)


async def test_status_code_setter_reaches_client_on_json_endpoint(backend, gateway) -> None:
    host = await backend(echo_app())
    doc = config(lua_endpoint(host, proxy_lua={"post": "response.load():statusCode(201)"}))
    client = await gateway(doc)
    assert (await client.get("/test")).status == 201


async def test_noop_body_and_status(backend, gateway) -> None:
    host = await backend(echo_app())
    post = """
local r = response.load()
r:body(r:body() .. " bar")
r:statusCode(202)
r:headers("Content-Type", "text/x-lua")
"""
    endpoint = lua_endpoint(host, url="/text", output_encoding="no-op", backend_lua={"post": post})
    endpoint["backend"][0]["encoding"] = "no-op"
    client = await gateway(config(endpoint))
    resp = await client.get("/test")
    assert resp.status == 202
    assert await resp.read() == b"plain body bar"
    assert resp.headers["Content-Type"] == "text/x-lua"


async def test_skip_next_builds_the_response(backend, gateway) -> None:
    host = await backend(echo_app())
    lua = {"skip_next": True, "post": "local d = response.load():data(); d:set('made', 'by lua')"}
    client = await gateway(config(lua_endpoint(host, url="/fail", backend_lua=lua)))
    resp = await client.get("/test")
    assert resp.status == 200
    assert await resp.json() == {"made": "by lua"}


async def test_lua_helpers_nil_and_list_growth(backend, gateway) -> None:
    host = await backend(echo_app())
    post = """
local d = response.load():data()
local g = luaList.new()
g:set(0, "foo")
g:set(2, "bar")
d:set("grow_list", g)
d:set("null", luaNil.new())
d:set("out_of_range", tostring(g:get(10)))
local t = luaTable.new()
t:set("k", 1.5)
t:set("n", 3)
d:set("t", t)
d:set("t_len", t:len())
"""
    client = await gateway(config(lua_endpoint(host, url="/items", backend_lua={"post": post})))
    body = await (await client.get("/test")).json()
    assert body["grow_list"] == ["foo", None, "bar"]
    assert body["null"] is None
    assert body["out_of_range"] == "nil"
    assert body["t"] == {"k": 1.5, "n": 3}
    assert body["t_len"] == 2
