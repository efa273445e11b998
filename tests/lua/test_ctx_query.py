"""Router-level ``ctx:url()`` and the query, as KrakenD's Lua bindings give them (Go's ``URL.String()``):
the client's raw query as sent, the query re-encoded once a setter changed it; raw request targets are
written on a plain socket, so no client library normalises them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.lua.helpers import config, echo_app, lua_endpoint


async def _raw_get(client: Any, target: str) -> tuple[int, dict[str, Any]]:
    """``GET target`` written as it is on a fresh connection; the status and the JSON answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode("latin-1"))
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"chunked" not in head.lower(), head
    return int(head.split(b" ", 2)[1]), json.loads(body)


def _router(pre: str) -> dict[str, Any]:
    return {"pre": "local c = ctx.load()\n" + pre}


async def test_router_ctx_url_is_the_clients_raw_query(backend, gateway) -> None:
    """A repeated key stays where the client put it, ``(`` stays raw, a lower-case escape keeps its
    spelling, a bare ``?`` is kept (Go's RawQuery and ForceQuery); the backend still gets every value."""
    host = await backend(echo_app())
    doc = config(
        lua_endpoint(
            host, input_headers=["*"], input_query_strings=["*"], router_lua=_router('c:headers("X-Url", c:url())')
        )
    )
    client = await gateway(doc)
    status, body = await _raw_get(client, "/test?a=1&b=(2)&a=3&c=%7e")
    assert status == 200, body
    assert body["headers"]["X-Url"] == "/test?a=1&b=(2)&a=3&c=%7e"
    assert body["query"] == "a=1&a=3&b=(2)&c=~"  # every value reaches the backend (the echo decodes them)
    status, body = await _raw_get(client, "/test?")
    assert status == 200, body
    assert body["headers"]["X-Url"] == "/test?"
    status, body = await _raw_get(client, "/test")
    assert body["headers"]["X-Url"] == "/test"


async def test_router_ctx_query_setters_reencode_the_url(backend, gateway) -> None:
    """KrakenD's ``query(k, v)`` / ``query(k, nil)`` write ``RawQuery = Query().Encode()``: keys sorted,
    a space as ``+``; ``url()`` shows that query afterwards, and the getters read the changed values."""
    host = await backend(echo_app())
    pre = (
        'c:headers("X-Before", c:url())\n'
        'c:query("c", "x y")\n'
        'c:headers("X-Set", c:url() .. " " .. c:query("b") .. " " .. c:query("c"))\n'
        'c:query("c", nil)\nc:query("b", nil)\nc:query("a", nil)\n'
        'c:headers("X-Del", "[" .. c:url() .. "]")'
    )
    doc = config(lua_endpoint(host, input_headers=["*"], input_query_strings=["*"], router_lua=_router(pre)))
    client = await gateway(doc)
    status, body = await _raw_get(client, "/test?b=2&a=(1)&b=3")
    assert status == 200, body
    headers = body["headers"]
    assert headers["X-Before"] == "/test?b=2&a=(1)&b=3"
    assert headers["X-Set"] == "/test?a=%281%29&b=2&b=3&c=x+y 2 x y"
    assert headers["X-Del"] == "[/test]"
    assert body["query"] == ""


async def test_router_ctx_url_setter_keeps_its_query_as_written(backend, gateway) -> None:
    """``ctx:url(v)`` is Go's ``url.Parse(v)``: ``url()`` gives ``v``'s query as written (the fragment
    cut off); the getters, the proxy level's ``request:query()`` (Go's ``Encode``) and the backend
    read the same values."""
    host = await backend(echo_app())
    pre = 'c:url("/n?z=1&y=(2)&z=3#frag")\nc:headers("X-Url", c:url())\nc:headers("X-Z", c:query("z") .. c:query("y"))'
    proxy = {"pre": 'local r = request.load()\nr:headers("X-Proxy-Query", r:query())'}
    doc = config(
        lua_endpoint(host, input_headers=["*"], input_query_strings=["*"], router_lua=_router(pre), proxy_lua=proxy)
    )
    client = await gateway(doc)
    status, body = await _raw_get(client, "/test?old=1")
    assert status == 200, body
    headers = body["headers"]
    assert headers["X-Url"] == "/n?z=1&y=(2)&z=3"
    assert headers["X-Z"] == "1(2)"
    assert headers["X-Proxy-Query"] == "y=%282%29&z=1&z=3"
    assert body["query"] == "y=(2)&z=1&z=3"  # as the echo reads it: decoded


async def test_service_level_ctx_url_is_the_clients_raw_query(backend, gateway) -> None:
    """The service-level script (it wraps every endpoint) reads the same raw query."""
    host = await backend(echo_app())
    lua = {"modifier/lua-endpoint": _router('c:headers("X-Url", c:url())')}
    doc = config(lua_endpoint(host, input_headers=["*"]), extra_config=lua)
    client = await gateway(doc)
    status, body = await _raw_get(client, "/test?k=[1]&j=2&k=3")
    assert status == 200, body
    assert body["headers"]["X-Url"] == "/test?k=[1]&j=2&k=3"


async def test_router_ctx_url_after_a_query_api_key_shows_no_key(backend, gateway) -> None:
    """``auth/api-keys`` (``query_string``) takes the key out of the query before the endpoint's script
    runs: ``ctx:url()`` shows the query without it (re-encoded, as a ``query(k, nil)`` would), and a
    script writing ``url()`` back (``ctx:url(ctx:url())``) forwards no key either."""
    host = await backend(echo_app())
    pre = 'c:headers("X-Url", c:url())\nc:url(c:url())'
    endpoint = lua_endpoint(host, input_headers=["*"], input_query_strings=["*"], router_lua=_router(pre))
    endpoint["extra_config"]["auth/api-keys"] = {"roles": ["r"]}
    keys = {"keys": [{"key": "k3y-s3cr3t-value", "roles": ["r"]}], "strategy": "query_string", "identifier": "key"}
    doc = config(endpoint, extra_config={"auth/api-keys": keys})
    client = await gateway(doc)
    status, body = await _raw_get(client, "/test?b=(2)&key=k3y-s3cr3t-value&a=1")
    assert status == 200, body
    assert body["headers"]["X-Url"] == "/test?a=1&b=%282%29"
    assert body["query"] == "a=1&b=(2)"
