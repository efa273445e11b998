"""``exit(status, body, headers)`` with a header whose value is a list (a plain Lua array or a
``luaList``): one header line per value, in order, as Kong's ``kong.response.exit`` sends them (its
``headers`` table takes an array value as several lines, ngx's ``header[name] = {...}``). The lines
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
