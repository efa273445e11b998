"""Every Lua accessor called with wrong-typed arguments (table-driven): each is a Lua error with a clear
message at the script's line, never a Python exception, and values of the right type still work.

The cases run in one script per level through the real runtime (lupa) against a loopback backend
(``http_response.new``); each case records what ``pcall`` saw, and the script answers with ``exit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.lua.bindings import PostState
from krakenpy.lua.errors import LuaExit
from krakenpy.lua.runtime import Limits, Runtime
from krakenpy.proxy.types import Request, Response

#: bad values, as Lua expressions (the upper-case names are locals of the generated script)
VALUES: dict[str, str] = {
    "int": "42",
    "float": "1.5",
    "nil": "nil",
    "boolean": "true",
    "table": "{}",
    "function": "print",
    "huge": "HUGE",  # 1 MiB of "x"
    "huge_number": "BIGNUM",  # 5000 nines: no integer
    "luaTable": "luaTable.new()",
    "luaList": "luaList.new()",
    "luaNil": "luaNil.new()",
    "request": "REQ",
    "response": "RESP",
    "http_response": "HTTP",
}
STRINGS = frozenset({"int", "float", "huge", "huge_number"})  # Lua accepts numbers for strings
VALUE = STRINGS | {"nil", "boolean", "table", "luaTable", "luaList", "luaNil"}  # convertible data

#: parameter type → (which VALUES it accepts, a valid value)
PARAMS: dict[str, tuple[frozenset[str], str]] = {
    "key": (STRINGS, '"k"'),
    "integer": (frozenset({"int"}), "0"),
    "value": (VALUE, '"v"'),
    "string": (STRINGS, '"s"'),
    "json_text": (frozenset({"int", "float"}), '"[1]"'),
    "header_name": (STRINGS, '"X-Test"'),
    "header_value": (STRINGS | {"nil"}, '"v"'),
    "list": (frozenset({"luaList"}), "LIST"),
    "boolean": (frozenset({"boolean"}), "true"),
    "status": (frozenset(), "201"),
    "line": (STRINGS, '"/p"'),
    "url": (frozenset(), "URL"),
    "http_method": (frozenset({"nil"}), '"POST"'),
    "body": (STRINGS, '"b"'),
    "http_body": (STRINGS | {"nil"}, '"b"'),
    "header_table": (frozenset({"nil", "table", "luaTable"}), "{['X-A'] = 'a'}"),
    "plain_table": (frozenset({"nil", "table"}), "{}"),
    "message": (STRINGS, '"m"'),
    "error_status": (frozenset({"nil"}), "418"),
    "content_type": (STRINGS | {"nil"}, '"text/plain"'),
}


@dataclass(frozen=True)
class Call:
    """One accessor with one way of calling it (``self`` is None for plain functions)."""

    target: str  # "REQ:headers" or "json.encode"
    params: tuple[str, ...]
    #: the function always raises on purpose (custom_error, exit): only argument errors count
    raises: bool = False


def _methods(obj: str, spec: dict[str, list[tuple[str, ...]]]) -> list[Call]:
    return [Call(f"{obj}:{name}", params) for name, signatures in spec.items() for params in signatures]


HEADERS = {
    "headers": [(), ("header_name",), ("header_name", "header_value")],
    "headerList": [("header_name",), ("header_name", "list")],
}
TABLE = {"get": [("key",)], "set": [("key", "value")], "del": [("key",)], "keyExists": [("key",)]}
TABLE |= {"len": [()], "keys": [()]}
LIST = {"get": [("integer",)], "set": [("integer", "value")], "del": [("integer",)], "len": [()]}
REQUEST = {
    "method": [(), ("string",)],
    "path": [(), ("line",)],
    "url": [(), ("line",)],
    "query": [(), ("string",)],
    "params": [(), ("key",), ("key", "string")],
    "body": [(), ("body",)],
    **HEADERS,
}
CTX = {
    "method": [(), ("string",)],
    "url": [(), ("line",)],
    "host": [(), ("line",)],
    "query": [("key",), ("key", "header_value")],
    "params": [(), ("key",), ("key", "string")],
    "body": [(), ("body",)],
    **HEADERS,
}
RESPONSE = {
    "isComplete": [(), ("boolean",)],
    "statusCode": [(), ("status",)],
    "body": [(), ("body",)],
    "error": [()],
    "data": [()],
    **HEADERS,
}
HTTP_RESPONSE = {
    "statusCode": [()],
    "headers": [("key",)],
    "headerList": [("key",)],
    "body": [()],
    "close": [()],
}
FUNCTIONS = [
    Call("json.encode", ("value",)),
    Call("json.decode", ("json_text",)),
    Call("json.array", ("plain_table",)),
    Call("json.object", ("plain_table",)),
    Call("base64.encode", ("string",)),
    Call("base64.decode", ("string",)),
    Call("http_response.new", ("url",)),
    Call("http_response.new", ("url", "http_method", "http_body")),
    Call("http_response.new", ("url", "http_method", "http_body", "header_table")),
    Call("custom_error", ("message",), raises=True),
    Call("custom_error", ("message", "error_status", "content_type"), raises=True),
    Call("exit", ("status", "value", "header_table"), raises=True),
]
POST_CALLS = [
    *_methods("T", TABLE),
    *_methods("L", LIST),
    *_methods("REQ", REQUEST),
    *_methods("RESP", RESPONSE),
    *_methods("HTTP", HTTP_RESPONSE),
    *FUNCTIONS,
]
ROUTER_CALLS = _methods("REQ", CTX)
#: the class each method's ``self`` must be
CLASSES = {"T": "luaTable", "L": "luaList", "REQ": "request", "RESP": "response", "HTTP": "http_response"}

PRELUDE = """local HUGE, BIGNUM = ("x"):rep(2^20), ("9"):rep(5000)
local LIST = luaList.new(); LIST:set(0, "a")
local T, L = luaTable.new(), luaList.new()
local OUT = {}
local function rec(id, ok, e)
  OUT[id] = { ok = ok, t = type(e), msg = not ok and tostring(e):sub(1, 300) or nil }
end
"""


@dataclass(frozen=True)
class Case:
    id: str
    line: int
    call: Call
    #: a bad value (or a bad self) is expected to be refused
    refused: bool
    label: str


def _script(calls: list[Call], head: str) -> tuple[str, list[Case]]:
    lines = (head + PRELUDE).splitlines()
    cases: list[Case] = []

    def add(call: Call, expr: str, refused: bool, label: str) -> None:
        case = Case(f"c{len(cases)}", len(lines) + 1, call, refused, label)
        cases.append(case)
        lines.append(f'rec("{case.id}", pcall(function() return {expr} end))')

    for call in calls:
        obj, _, method = call.target.partition(":")
        valid = [PARAMS[p][1] for p in call.params]
        add(call, f"{call.target}({', '.join(valid)})", False, "valid arguments")
        for i, param in enumerate(call.params):
            accepted = PARAMS[param][0]
            for name, expr in VALUES.items():
                args = [*valid[:i], expr, *valid[i + 1 :]]
                add(call, f"{call.target}({', '.join(args)})", name not in accepted, f"#{i + 1} {param} = {name}")
        if method:  # the same method on an object of another class (obj.method(other, ...))
            for name in ("int", "table", "luaTable", "luaList", "request", "response", "http_response"):
                if name != CLASSES[obj]:
                    add(call, f"{obj}.{method}({', '.join([VALUES[name], *valid])})", True, f"self = {name}")
    lines.append("exit(200, OUT)")
    return "\n".join(lines), cases


@pytest.fixture
async def runtime(backend) -> Any:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello", headers={"X-Backend": "yes"})

    app = web.Application()
    app.router.add_route("*", "/hello", hello)
    host = await backend(app)
    client = AiohttpClient(ClientOptions())
    yield Runtime(client, open_libs=False, max_memory=64 * 1024 * 1024), host
    await client.close()


async def _run(runtime: Runtime, source: str, *, router: bool) -> dict[str, Any]:
    fn = runtime.compile(source.encode(), "pre-script")
    request = Request(method="GET", path="/x", params={"Id": "1"}, headers={"X-In": ["v"]}, query={}, url="/x")
    limits = Limits(max_instructions=10**9)
    scope: list[int] = []
    try:
        if router:
            result = runtime.router(scope, request, runtime.runner("router", fn, limits), limits)
        else:
            state = PostState(Response(data={"a": 1}))
            result = runtime.post(scope, None, request, state, runtime.runner("post", fn, limits), limits)
        await runtime.settle(scope, result, limits)
    except LuaExit as exc:
        return orjson.loads(str(exc))  # type: ignore[no-any-return]
    finally:
        runtime.release(scope)
    raise AssertionError("the script did not end with exit()")


def _check(cases: list[Case], out: dict[str, Any]) -> None:
    problems = []
    for case in cases:
        got = out[case.id]
        where = f"{case.call.target}{case.call.params} {case.label}"
        msg = got.get("msg") or ""
        # a refused argument: a Lua error raised at the line of the call, with a message
        argument_error = not got["ok"] and msg.startswith(f"pre-script:{case.line}: ") and len(msg) > 25
        if case.refused and not argument_error:
            problems.append(f"{where}: expected a Lua error at line {case.line}, got {got}")
        elif not case.refused and (argument_error or (not got["ok"] and not case.call.raises)):
            problems.append(f"{where}: expected success, got {got}")
        if got["t"] == "userdata" or "Traceback" in msg or " object at 0x" in msg:
            problems.append(f"{where}: a Python exception reached the script: {got}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])


async def test_accessors_refuse_wrong_types_at_the_script_line(runtime) -> None:
    rt, host = runtime
    head = f'local URL = "{host}/hello"\nlocal REQ, RESP = request.load(), response.load()\n'
    head += "local HTTP = http_response.new(URL)\n"
    source, cases = _script(POST_CALLS, head)
    assert len(cases) > 700  # every accessor, every position, every kind of value
    _check(cases, await _run(rt, source, router=False))


async def test_ctx_accessors_refuse_wrong_types_at_the_script_line(runtime) -> None:
    rt, host = runtime
    head = f'local URL = "{host}/hello"\nlocal REQ, RESP, HTTP = ctx.load(), luaTable.new(), http_response.new(URL)\n'
    source, cases = _script(ROUTER_CALLS, head)
    _check(cases, await _run(rt, source, router=True))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("request.load():headers(5, 'x')", None),  # a number is a header name, as Lua converts it
        ("request.load():headers({}, 'x')", "bad argument #1 to 'headers' (string expected, got table)"),
        ("request.load():headers('Bad Name', 'x')", "headers: invalid header name 'Bad Name'"),
        ("luaList.new():set(2^40, 1)", "too far past the end"),
        ("luaList.new():set(1.5, 1)", "bad argument #1 to 'set' (number has no integer representation)"),
        ("luaList.new():get(('9'):rep(5000))", "bad argument #1 to 'get' (integer expected, got string)"),
        ("luaTable.new():set('k', request.load())", "set: cannot convert a request object"),
        ("luaTable.new():set('k', {[{}] = 1})", "set: a table cannot be an object key"),
        ("local t = {}; t.t = t; json.encode(t)", "json.encode: table nested too deeply (or cyclic)"),
        ("json.decode(('['):rep(100) .. (']'):rep(100))", "json.decode: nested too deeply"),
        ("request.load().headers(luaList.new(), 'A')", "request expected"),
    ],
)
async def test_accessor_errors_name_the_problem(runtime, code: str, message: str | None) -> None:
    rt, _ = runtime
    out = await _run(
        rt, f"local ok, e = pcall(function() {code} end)\nexit(200, {{tostring(ok), tostring(e)}})", router=False
    )
    if message is None:
        assert out == ["true", "nil"]
    else:
        assert out[0] == "false"
        assert out[1].startswith("pre-script:1: ") and message in out[1], out[1]


async def test_base64_decode_skips_foreign_characters_and_is_nil_when_not_base64(runtime) -> None:
    """README's rule: characters outside the alphabet are skipped (line breaks, ``*``, ``%``), and what is
    left that is not base64 (missing padding) decodes to nil, never an error."""
    rt, _ = runtime
    code = (
        "local d = base64.decode\n"
        "exit(200, {tostring(d('%%%')), tostring(d('YQ==\\n')), tostring(d('Y*Q==')), tostring(d('YQ'))})"
    )
    assert await _run(rt, code, router=False) == ["", "a", "a", "nil"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ('{"v"}', "http_response.new: invalid header name number"),
        ("{[{}] = 'v'}", "http_response.new: invalid header name table"),
        ("{['Bad Name'] = 'v'}", "http_response.new: invalid header name b'Bad Name'"),
        ("{['X-A'] = {true}}", "http_response.new: the values of header X-A must be strings"),
        ("{['X-A'] = 'a\\r\\nX-B: b'}", "http_response.new: invalid value for header X-A"),
        ("{['X-A'] = {'ok', 'a\\nb'}}", "http_response.new: invalid value for header X-A"),
        ("luaNil.new()", "http_response.new: headers must be a table, got luaNil"),
    ],
)
async def test_http_response_new_refuses_bad_header_tables(runtime, headers: str, message: str) -> None:
    rt, host = runtime
    code = f'local ok, e = pcall(function() local r = http_response.new("{host}/hello", "GET", "", {headers}) end)'
    out = await _run(rt, f"{code}\nexit(200, {{tostring(ok), tostring(e)}})", router=False)
    assert out[0] == "false"
    assert out[1].startswith("pre-script:1: " + message), out[1]
