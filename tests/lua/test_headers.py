"""CR/LF and other control characters from Lua into the request line or headers: refused with a clear
Lua error (400 when the value is on the request, where it comes from the client), never sent, never
a 5xx with a traceback."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp import web

from krakenpy.lua.api import headers
from tests.lua.helpers import config, echo_app, lua_endpoint

COPY_PARAM = "local r = request.load(); r:headers('X-Id', r:params('Id'))"


def _counting_app(seen: list[str]) -> web.Application:
    app = echo_app()

    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        seen.append(request.path)
        return await handler(request)

    app.middlewares.append(web.middleware(record))
    return app


@pytest.mark.parametrize("level", ["backend_lua", "proxy_lua"])
async def test_header_value_from_client_with_crlf_is_400(backend, gateway, caplog, level) -> None:
    seen: list[str] = []
    host = await backend(_counting_app(seen))
    endpoint = lua_endpoint(host, endpoint="/t/{id}", **{level: {"pre": COPY_PARAM}})
    client = await gateway(config(endpoint, return_error_msg=True))
    caplog.set_level(logging.DEBUG, logger="krakenpy")
    headers._refused.clear()  # logged once per process: start as a fresh one
    for _ in range(2):
        resp = await client.get("/t/a%0D%0AX-Evil:%201")
        assert resp.status == 400
        text = await resp.text()
        assert text == (
            "headers: invalid value for header X-Id: control characters (CR, LF...) are not allowed (pre-script:L1)"
        )
    assert seen == []  # nothing was sent
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    refusals = [
        r.levelno for r in caplog.records if r.name == "krakenpy.lua" and "control characters" in r.getMessage()
    ]
    assert refusals == [logging.WARNING, logging.DEBUG]  # (krakenpy.failures logs each failed request too)
    assert (await client.get("/t/fine")).status == 200


async def test_router_header_from_client_query_with_crlf_is_400(backend, gateway, caplog) -> None:
    host = await backend(echo_app())
    pre = "local c = ctx.load(); c:headers('X-Q', c:query('q'))"
    client = await gateway(config(lua_endpoint(host, router_lua={"pre": pre}, input_headers=["X-Q"])))
    resp = await client.get("/test?q=a%0Ab")
    assert resp.status == 400
    assert await resp.read() == b""  # the message only with return_error_msg
    assert not [r for r in caplog.records if r.exc_info]
    ok = await client.get("/test?q=fine")
    assert (await ok.json())["headers"]["X-Q"] == "fine"


@pytest.mark.parametrize(
    "code",
    [
        "request.load():method('GET /admin HTTP/1.1\\r\\nX-Smuggled: 1\\r\\n\\r\\nGET')",
        "request.load():url(request.load():url() .. '\\r\\nX-Smuggled: 1')",
        "request.load():path('/a\\nb')",
        "local l = luaList.new(); l:set(0, 'ok'); l:set(1, 'a\\r\\nb'); request.load():headerList('X-L', l)",
        "request.load():headers('X-Nul', 'a\\0b')",
    ],
)
async def test_request_line_and_header_injection_refused(backend, gateway, code) -> None:
    seen: list[str] = []
    host = await backend(_counting_app(seen))
    client = await gateway(config(lua_endpoint(host, backend_lua={"pre": code}), return_error_msg=True))
    resp = await client.get("/test")
    assert resp.status == 400
    assert "control characters" in await resp.text() or "invalid HTTP method" in await resp.text()
    assert seen == []


async def test_response_header_with_crlf_is_a_script_error(backend, gateway, caplog) -> None:
    host = await backend(echo_app())
    post = "response.load():headers('X-Echo', response.load():data():get('body'))"
    endpoint = lua_endpoint(host, method="POST", backend_lua={"post": post})
    client = await gateway(config(endpoint, return_error_msg=True))
    resp = await client.post("/test", data=b"a\r\nSet-Cookie: x=1")
    assert resp.status == 500  # the value came from the backend: not the client's fault
    assert "Set-Cookie" not in resp.headers
    assert "invalid value for header X-Echo" in await resp.text()
    assert not [r for r in caplog.records if r.exc_info]


async def test_header_name_must_be_a_token(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = "request.load():headers('X-A: b\\r\\nX-C', 'v')"
    client = await gateway(config(lua_endpoint(host, backend_lua={"pre": pre}), return_error_msg=True))
    resp = await client.get("/test")
    assert resp.status == 500
    assert (await resp.text()).startswith("headers: invalid header name 'X-A: b\\r\\nX-C'")


async def test_pcall_can_handle_a_refused_value(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = """
local r = request.load()
local ok, err = pcall(r.headers, r, 'X-Id', r:params('Id'))
if not ok then r:headers('X-Id', 'invalid'); r:headers('X-Why', tostring(err):match('invalid value') or '?') end
"""
    client = await gateway(config(lua_endpoint(host, endpoint="/t/{id}", backend_lua={"pre": pre})))
    body = await (await client.get("/t/a%0Db")).json()
    assert body["headers"]["X-Id"] == "invalid"
    assert body["headers"]["X-Why"] == "invalid value"


async def test_header_bytes_that_are_not_utf8_reach_the_script_unchanged(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = """
local v = request.load():headers('X-Raw')
request.load():headers('X-Copy', v)
exit(200, {len = #v, second = v:byte(2), copied = request.load():headers('X-Copy') == v, json = v})
"""
    client = await gateway(config(lua_endpoint(host, backend_lua={"pre": pre}, input_headers=["X-Raw"])))
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(b"GET /test HTTP/1.1\r\nHost: gw\r\nX-Raw: a\xffb\r\nConnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    # the script sees the three bytes; JSON data gets U+FFFD, as Go's encoding/json does
    assert json.loads(body) == {"len": 3, "second": 255, "copied": True, "json": "a\ufffdb"}


async def test_service_level_refused_client_value_is_400_custom_error_500(backend, gateway, caplog) -> None:
    host = await backend(echo_app())
    pre = (
        "local c = ctx.load(); if c:query('boom') ~= '' then custom_error('nope', 418) end; "
        "c:headers('X-Q', c:query('q'))"
    )
    doc = config(lua_endpoint(host, input_headers=["X-Q"]))
    doc["extra_config"] = {"modifier/lua-endpoint": {"pre": pre}}
    client = await gateway(doc)
    assert (await client.get("/test?q=a%0Ab")).status == 400  # the client's value: the client's error
    assert (await client.get("/test?boom=1&q=x")).status == 500  # KrakenD: service-level errors are 500
    ok = await client.get("/test?q=fine")
    assert (await ok.json())["headers"]["X-Q"] == "fine"
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("level", ["backend_lua", "proxy_lua"])
async def test_json_decode_table_is_a_header_table_for_exit(backend, gateway, level) -> None:
    """A table json.decode made answers exactly as the same Lua table does."""
    host = await backend(echo_app())
    lua = "exit(201, 'made', {['X-From-Json'] = 'yes', ['X-List'] = {'a', 'b'}})"
    decoded = """exit(201, 'made', json.decode('{"X-From-Json": "yes", "X-List": ["a", "b"]}'))"""
    client = await gateway(config(
        lua_endpoint(host, endpoint="/lua", **{level: {"pre": lua}}),
        lua_endpoint(host, endpoint="/json", **{level: {"pre": decoded}}),
        return_error_msg=True,
    ))  # fmt: skip
    answers = []
    for path in ("/lua", "/json"):
        resp = await client.get(path)
        answers.append((resp.status, await resp.text(), resp.headers.get("X-From-Json"), resp.headers.getall("X-List")))
    assert answers[0] == answers[1]
    assert answers[1][:3] == (201, "made", "yes")


async def test_json_decode_table_is_a_header_table_for_http_response_new(backend, gateway) -> None:
    host = await backend(echo_app())
    pre = f"""
local h = json.decode('{{"X-From-Json": "yes"}}')
local r = http_response.new('{host}/echo/sent', 'GET', '', h)
exit(200, json.decode(r:body()).headers['X-From-Json'] or 'missing')
"""
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": pre}), return_error_msg=True))
    resp = await client.get("/test")
    assert (resp.status, await resp.text()) == (200, "yes")


async def test_json_decode_array_is_refused_as_headers_as_a_lua_array_is(backend, gateway) -> None:
    host = await backend(echo_app())
    client = await gateway(config(
        lua_endpoint(host, endpoint="/a", proxy_lua={"pre": "exit(200, 'x', {'v'})"}),
        lua_endpoint(host, endpoint="/j", proxy_lua={"pre": """exit(200, 'x', json.decode('["v"]'))"""}),
        return_error_msg=True,
    ))  # fmt: skip
    plain, decoded = await client.get("/a"), await client.get("/j")
    assert plain.status == decoded.status == 500
    assert await plain.text() == await decoded.text() == "exit: invalid header name number (pre-script:L1)"


async def test_print_of_a_client_value_with_crlf_is_one_log_line(backend, gateway, caplog) -> None:
    # a decoded %0D%0A printed as is forged a log line ("INJECTED ..." at the start of a line)
    host = await backend(echo_app())
    pre = "local c = ctx.load(); print('q=' .. c:query('q'), c:params('id'))"
    client = await gateway(config(lua_endpoint(host, endpoint="/p/{id}", router_lua={"pre": pre})))
    caplog.set_level(logging.INFO, logger="krakenpy.lua")
    resp = await client.get("/p/a%0Ab?q=x%0D%0AINJECTED%20line")
    assert resp.status == 200
    printed = [r.getMessage() for r in caplog.records if r.name == "krakenpy.lua" and r.getMessage().startswith("lua:")]
    assert printed == ["lua: q=x\\r\\nINJECTED line\ta\\nb"]
