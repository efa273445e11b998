"""``exit(status, body, headers)`` with a header whose value is a list (a plain Lua array or a
``luaList``): one header line per value, in order, as Kong's ``kong.response.exit`` sends them (its
``headers`` table takes an array value as several lines, ngx's ``header[name] = {...}``; OpenResty's
single-value headers keep the last element, the framing headers are the gateway's own). The lines
are read off the socket, not through a client's header map, so that order and count are what was
sent. ``exit`` is outside the subset (a script with it keeps the VM): the straight-line run (no
count hook) and the hooked run (a loop) are the two paths."""

from __future__ import annotations

import asyncio

import pytest

from krakenpy.lua.scan import straight_line
from tests.lua.helpers import config, echo_app, lua_endpoint
from tests.lua.test_setters import _script

#: the header tables under test: a plain array, a luaList in a plain table (both indexed by a
#: computed key: never straight-line), a luaTable of a luaList and a table json.decode made
TABLES = {
    "plain": "{['X-Multi'] = {'one', 'two', 'three'}, ['X-Single'] = 's'}",
    "luaList": "{['X-Multi'] = l, ['X-Single'] = 's'}",
    "luaTable": "t",
    "json": """json.decode('{"X-Multi": ["one", "two", "three"], "X-Single": "s"}')""",
}
_PREFIX = (
    "local l = luaList.new(); l:set(0, 'one'); l:set(1, 'two'); l:set(2, 'three')\n"
    "local t = luaTable.new(); t:set('X-Multi', l); t:set('X-Single', 's')\n"
)
#: a loop keeps the instruction-count hook: the script runs in a coroutine, not straight through
_LOOP = "for _ = 1, 2 do end\n"
#: (table, hooked): the tables a straight-line script can build run both ways
CASES = [("plain", True), ("luaList", True), ("luaTable", False), ("luaTable", True), ("json", False), ("json", True)]


def _code(table: str, hooked: bool) -> str:
    return (_LOOP if hooked else "") + _PREFIX + f"exit(403, 'no', {TABLES[table]})"


async def _raw_get(port: int, path: str) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode())
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    fields = [(name.strip().lower(), value.strip()) for name, _, value in (line.partition(b":") for line in lines)]
    return status, fields, body


@pytest.mark.parametrize(("table", "hooked"), CASES)
@pytest.mark.parametrize("level", ["router_lua", "proxy_lua", "backend_lua"])
async def test_exit_sends_a_list_value_as_several_header_lines(backend, gateway, level, table, hooked) -> None:
    host = await backend(echo_app())
    client = await gateway(config(lua_endpoint(host, **{level: {"pre": _code(table, hooked)}})))
    status, fields, body = await _raw_get(client.port, "/test")
    assert status.startswith(b"HTTP/1.1 403"), status
    assert body == b"no"
    assert [v for n, v in fields if n == b"x-multi"] == [b"one", b"two", b"three"]
    assert [v for n, v in fields if n == b"x-single"] == [b"s"]
    assert [v for n, v in fields if n == b"x-krakend-completed"] == [b"false"]


def test_a_script_with_exit_runs_in_the_vm_straight_or_hooked() -> None:
    """No subset run of ``exit`` (the parser refuses it): the two VM paths above are every path."""
    names = _script({"pre": "local x = 1"}).runtime.global_names
    for table, hooked in CASES:
        code = _code(table, hooked)
        assert _script({"pre": code}).setters is None
        assert straight_line(code, names) is not hooked, (table, hooked)


#: single-value headers (OpenResty's built-in single headers, krakenpy.lua.http._SINGLE): of a list only
#: the last element is sent, as ngx.header keeps it; Cache-Control and Link stay one line per element
SINGLE = (
    "{['Location'] = {'/a', 'https://evil.example/b'}, ['Content-Encoding'] = {'gzip', 'br'}, "
    "['Date'] = {'d1', 'd2'}, ['Server'] = {'s1', 's2'}, ['ETag'] = {'\"1\"', '\"2\"'}, "
    "['Expires'] = {'e1', 'e2'}, ['Last-Modified'] = {'m1', 'm2'}, ['WWW-Authenticate'] = {'Basic', 'Bearer'}, "
    "['Content-Type'] = {'text/html', 'application/json'}, "
    "['Cache-Control'] = {'no-store', 'private'}, ['Link'] = {'</a>', '</b>'}}"
)


@pytest.mark.parametrize("hooked", [False, True])
async def test_exit_sends_the_last_element_of_a_single_value_header(backend, gateway, hooked) -> None:
    host = await backend(echo_app())
    code = (_LOOP if hooked else "") + f"exit(302, 'moved', {SINGLE})"
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": code})))
    status, fields, body = await _raw_get(client.port, "/test")
    assert status.startswith(b"HTTP/1.1 302"), status
    assert body == b"moved"
    last = {
        b"location": b"https://evil.example/b",
        b"content-encoding": b"br",
        b"date": b"d2",
        b"server": b"s2",
        b"etag": b'"2"',
        b"expires": b"e2",
        b"last-modified": b"m2",
        b"www-authenticate": b"Bearer",
        b"content-type": b"application/json",
    }
    for name, value in last.items():
        assert [v for n, v in fields if n == name] == [value], (name, fields)
    assert [v for n, v in fields if n == b"cache-control"] == [b"no-store", b"private"]
    assert [v for n, v in fields if n == b"link"] == [b"</a>", b"</b>"]


@pytest.mark.parametrize("hooked", [False, True])
async def test_exit_never_takes_the_connection_headers_of_a_script(backend, gateway, hooked) -> None:
    # the client asks to close: the gateway's Connection: close is sent, not the script's keep-alive
    # (which had replaced it), and no other hop-by-hop name of the script's table
    host = await backend(echo_app())
    table = (
        "{['Connection'] = {'keep-alive', 'upgrade'}, ['Upgrade'] = 'h2c', ['Keep-Alive'] = 'timeout=5', "
        "['Transfer-Encoding'] = 'chunked', ['Content-Length'] = {'5', '100'}, ['Trailer'] = 'X', ['X-A'] = 'a'}"
    )
    code = (_LOOP if hooked else "") + f"exit(200, 'hello', {table})"
    client = await gateway(config(lua_endpoint(host, proxy_lua={"pre": code})))
    status, fields, body = await _raw_get(client.port, "/test")
    assert status.startswith(b"HTTP/1.1 200"), status
    assert body == b"hello"
    assert [v for n, v in fields if n == b"connection"] == [b"close"], fields
    assert [v for n, v in fields if n == b"content-length"] == [b"5"], fields
    for name in (b"upgrade", b"keep-alive", b"transfer-encoding", b"trailer"):
        assert name not in [n for n, _ in fields], (name, fields)
    assert [v for n, v in fields if n == b"x-a"] == [b"a"]
