"""Bytes that are no UTF-8 through the Lua API at each level: a script reads what the client sent and
what it writes back reaches the backend byte-exact (Lua strings are bytes, as gopher-lua's are)."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from tests.lua.helpers import config, lua_endpoint

#: the client's header value, body, and query value (``%FF%C3%28``): no UTF-8
RAW = b"\xff\xc3("

#: each level reads the client's bytes, then writes them back (a header, the query, a parameter, the body)
SCRIPTS = {
    "router_lua": """local c = ctx.load()
assert(c:headers('X-In') == RAW and c:query('a') == RAW and c:body() == '\\255\\254')
c:headers('X-Set', c:headers('X-In')); c:query('q', c:query('a')); c:params('id', RAW); c:body(RAW)""",
    "proxy_lua": """local r = request.load()
assert(r:headers('X-In') == RAW and r:query() == 'a=%FF%C3%28' and r:body() == '\\255\\254')
r:headers('X-Set', r:headers('X-In')); r:query(r:query() .. '&q=' .. RAW); r:params('Id', RAW); r:body(RAW)""",
    "backend_lua": """local r = request.load()
assert(r:headers('X-In') == RAW and r:body() == '\\255\\254')
r:headers('X-Set', r:headers('X-In')); r:url(r:url() .. '&q=%FF%C3%28'); r:body(RAW)""",
}


async def _raw(request: web.Request) -> web.Response:
    headers = {k.decode(): v.hex() for k, v in request.raw_headers if k.lower().startswith(b"x-")}
    body = (await request.read()).hex()
    return web.json_response({"target": request.raw_path, "headers": headers, "body": body})


@pytest.mark.parametrize("level", list(SCRIPTS))
async def test_bytes_that_are_not_utf8_reach_the_backend_as_sent(backend, gateway, level) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _raw)
    host = await backend(app)
    script = "local RAW = '\\255\\195('\n" + SCRIPTS[level]
    endpoint = lua_endpoint(
        host,
        endpoint="/test/{id}",
        url="/echo/{id}",
        method="POST",
        input_headers=["X-In", "X-Set"],
        input_query_strings=["a", "q"],
        **{level: {"pre": script}},
    )
    client = await gateway(config(endpoint, return_error_msg=True))
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(
        b"POST /test/x?a=%FF%C3%28 HTTP/1.1\r\nHost: gw\r\nX-In: " + RAW + b"\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n\xff\xfe"
    )
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    seen = json.loads(body)
    assert seen["headers"]["X-In"] == seen["headers"]["X-Set"] == RAW.hex()
    assert seen["body"] == RAW.hex()
    path, _, query = seen["target"].partition("?")
    assert "q=%FF%C3%28" in query.split("&")
    # a parameter set at the router or proxy level is percent-encoded into the backend path
    assert path == ("/echo/x" if level == "backend_lua" else "/echo/%FF%C3(")
