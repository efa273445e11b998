"""Scripts of the subset run without Lua (krakenpy/lua/subset.py): reads, comparisons, branches,
``custom_error``. Every accepted shape runs both ways, in Python and in Lua (a budget below
MIN_BUDGET keeps a script in the VM), and the two must agree on the writes, the errors (message with
its ``name:line``, status, content type), and the post-on-failure outcomes; table-driven cases first,
then scripts generated from the subset's grammar."""

from __future__ import annotations

import random
from typing import Any

import pytest

from krakenpy.errors import BackendError, PipelineError
from krakenpy.lua.errors import LuaError
from krakenpy.lua.modifier import proxy_middleware, router_middleware
from krakenpy.lua.setters_run import _phase
from krakenpy.proxy.types import Request, Response
from tests.lua.test_setters import _IN_LUA, _plan, _script

#: the response data post scripts read (a JSON null, containers, an integer Lua cannot hold...)
DATA: dict[str, Any] = {
    "s": "str",
    "n": 200,
    "f": 1.5,
    "one": 1.0,
    "t": True,
    "z": None,
    "o": {"k": 1},
    "l": [1, 2],
    "e": "",
    "big": 2**64,
}


def _request() -> Request:
    headers = {"X-In": ["a"], "Accept": ["*/*"], "X-Num": ["200"], "X-Empty": [""]}
    return Request(
        method="GET", path="/x", params={"Id": "1"}, headers=headers, query={"q": ["1"]}, url="/x?q=1", body=b"hi"
    )


def _inner(fail: str) -> Any:
    async def inner(request: Request) -> Response:
        if fail == "raise":
            raise BackendError("backend down", status=502, backend_status=503)
        response = Response(data=dict(DATA), headers={"X-Up": ["u"]}, status=200)
        if fail == "partial":
            response.errors = (BackendError("one failed", status=500),)
        return response

    return inner


def _failure(exc: PipelineError) -> Any:
    return type(exc).__name__, str(exc), exc.status, exc.content_type, getattr(exc, "custom", None)


async def _outcome(raw: dict[str, Any], fail: str) -> Any:
    request = _request()
    seen: Any
    try:
        response = await proxy_middleware(_script(raw))(_inner(fail))(request)
        seen = (response.data, response.status, response.headers, response.override_headers, response.is_complete)
    except PipelineError as exc:
        seen = _failure(exc)
    return seen, (request.method, request.path, request.url, request.query, request.params, request.headers)


async def _both(pre: str, post: str, fails: tuple[str, ...] = ("", "raise", "partial")) -> None:
    raw = {key: code for key, code in (("pre", pre), ("post", post)) if code}
    setters = _script(raw).setters
    assert setters is not None  # both phases run without Lua
    assert any(p is not None and p.chunk is not None for p in (setters.pre, setters.post))
    for fail in fails:
        assert await _outcome(raw, fail) == await _outcome({**raw, "max_instructions": _IN_LUA}, fail), (
            pre,
            post,
            fail,
        )


P3_GENERAL = (
    "local r = request.load(); if r:method() == 'GET' then r:headers('X-Bench', 'lua') end",
    "local r = response.load(); r:data():set('lua', r:statusCode() == 200)",
)
_POST = "local r = response.load(); local d = r:data(); local q = request.load()\n"

_CASES = [
    P3_GENERAL,
    # nil and missing values: a missing header is "", a missing key nil, a JSON null luaNil (a table)
    (
        "",
        _POST
        + "d:set('a', r:headers('X-No') == ''); d:set('b', d:get('missing') == nil); d:set('c', d:get('z') == nil)",
    ),
    (
        "",
        _POST + "d:set('a', d:get('z') == d:get('z')); d:set('b', d:get('o') == d:get('o'))\nlocal o = d:get('o')"
        "\nd:set('c', o == o); d:set('d', not d:get('z')); if d:get('l') then d:set('e', 1) end",
    ),
    # numbers and strings never equal; integers and floats do; booleans are not numbers
    (
        "",
        _POST + "d:set('a', r:statusCode() == '200'); d:set('b', q:headers('X-Num') == 200); d:set('c', 1 == 1.0)\n"
        "d:set('d', d:get('one') == 1); d:set('e', true == 1); d:set('f', d:get('f') == 1.5); d:set('g', 0 == -0)",
    ),
    # and/or return operands; not; Lua's truth ('' and 0 are true)
    (
        "",
        _POST
        + "d:set('a', d:get('missing') or 'dflt'); d:set('b', d:get('n') and d:get('s')); d:set('c', false or nil)\n"
        "d:set('d', nil and 1); d:set('e', not nil); d:set('f', not 0); d:set('g', not '')\n"
        "d:set('h', 0 and '' or 'x')\n"
        "d:set('i', false and 1 or 'y'); d:set('j', not not d:get('e'))",
    ),
    # nested ifs, elseif, else, block locals, assignment, return
    (
        "local r = request.load()\nlocal m = r:method()\nif m == 'POST' then\n  r:headers('X-A', 'post')\n"
        "elseif m == 'GET' then\n  local h = r:headers('X-In')\n  if h == 'a' then r:headers('X-A', h) else"
        " r:headers('X-A', 'other') end\n  local h2 = 'x'\n  h2 = r:path()\n  r:headers('X-P', h2)\n"
        "else\n  return\nend\n"
        "if r:headers('X-Stop') == '' then return end\nr:headers('X-Never', 'set')",
        _POST + "local m\nif r:isComplete() then m = 'done' elseif r:statusCode() ~= 200 then m = 'bad' end\n"
        "if m then d:set('m', m) else d:set('m', 'none') end\nif not m then return; end\nd:set('after', true)",
    ),
    # getters of every class
    (
        "local r = request.load(); r:headers('X-M', r:method()); r:headers('X-P', r:path())\n"
        "r:headers('X-U', r:url())\n"
        "r:headers('X-Q', r:query()); r:headers('X-B', r:body()); r:headers('X-Id', r:params('Id'))\n"
        "r:headers('X-Id2', r:params('Nope')); r:headers('X-Acc', r:headers('Accept'))",
        "",
    ),
    (
        "",
        _POST
        + "d:set('b', r:body()); d:set('h', r:headers('X-Up')); d:set('n', d:len()); d:set('k', d:keyExists('s'))\n"
        "d:set('k2', d:keyExists('missing')); d:set('s2', d:get('s')); d:set('f2', d:get('f'))\n"
        "d:set('one2', d:get('one')); d:set('o2', d:get('o')); d:set('l2', d:get('l')); d:set('z2', d:get('z'))",
    ),
    # errors: bad arguments at their line, statuses, an integer Lua cannot hold
    ("local r = request.load()\n\nr:headers(true)", ""),
    ("local r = request.load()\nif r:method() == 'GET' then\n  r:method(r:headers('X-No'))\nend", ""),
    ("local r = request.load(); r:headers('X-A', r:headers('X-In') == 'a')", ""),
    ("", _POST + "\nd:set('a', d:get(true))"),
    ("", _POST + "d:set('a', d:get(nil))"),
    ("", _POST + "d:set('a', d:get(5))"),
    ("", _POST + "local b = d:get('big')"),
    ("", _POST + "if d:keyExists(false) then d:set('x', 1) end"),
    ("", _POST + "r:statusCode(d:get('n') == 200 and 201 or 500)"),
    ("", _POST + "r:statusCode(q:headers('X-Num'))"),
    ("", _POST + "r:statusCode(q:headers('X-In'))"),
    ("", _POST + "r:isComplete(r:statusCode() == 200)"),
    # custom_error: messages, statuses, content types, its own argument errors
    ("local r = request.load()\nif r:headers('X-Token') == '' then custom_error('no token', 401) end", ""),
    ("custom_error(request.load():path(), 404.0, 'text/plain')", ""),
    ("custom_error(1.5)", ""),
    ("custom_error(100000000000000.0, 418)", ""),
    ("custom_error(-7, nil, 'a/b')", ""),
    ("\ncustom_error(nil, 404)", ""),
    ("custom_error(true)", ""),
    ("custom_error()", ""),
    ("custom_error('x', 99)", ""),
    ("custom_error('x', 1000)", ""),
    ("custom_error('x', 404.5)", ""),
    ("custom_error('x', true)", ""),
    ("custom_error('x', 404, 'a\tb')", ""),
    ("custom_error('x', nil, nil)", ""),
    ("", _POST + "if r:statusCode() ~= 200 then custom_error('upstream said ' , 502) end\nd:set('ok', true)"),
    ("", _POST + "if r:isComplete() == false then custom_error('partial') end"),
    # ordering: numbers with numbers, strings with strings, else an error naming the types
    (
        "",
        _POST + "d:set('a', r:statusCode() < 300); d:set('b', r:statusCode() >= 200.5); d:set('c', 'a' < 'b')\n"
        "d:set('d', d:get('s') <= 'st'); d:set('e', 1 > 1.0); d:set('f', '10' < '9'); d:set('g', d:get('f') > 1)",
    ),
    ("", _POST + "\nif r:statusCode() < '300' then d:set('x', 1) end"),
    ("", _POST + "if '300' > r:statusCode() then d:set('x', 1) end"),
    ("", _POST + "if d:get('missing') >= 3 then d:set('x', 1) end"),
    ("", _POST + "if 3 <= d:get('missing') then d:set('x', 1) end"),
    ("", _POST + "if d:get('missing') < d:get('nope') then d:set('x', 1) end"),
    ("", _POST + "if d:get('o') < d:get('l') then d:set('x', 1) end"),
    ("", _POST + "if d:get('z') > true then d:set('x', 1) end"),
    ("", _POST + "local x = r:isComplete() < r:isComplete()"),
    (
        "",
        _POST + "d:set('a', 007 == 7); d:set('b', -0.0 == 0); d:set('c', 'é' < 'z'); d:set('d', 'a\0' > 'a')\n"
        "d:set('e', 999999999999999999 > 999999999999999998.0); d:set('f', 0.1 == 0.10000000000000001)",
    ),
    # chunks without locals run bare (setters_run._phase): return, an accessor's error and custom_error
    # reach the middleware's own handlers, in pre and in post; literal keys decoded once at start-up
    (
        "local r = request.load()\nif r:method() == 'GET' then return end\nr:headers('X-Never', 'set')",
        "local r = response.load()\nif r:statusCode() ~= 0 then return end\nr:data():set('never', 1)",
    ),
    ("local r = request.load()\nif r:method() == 'GET' then r:method('a b') end", ""),
    ("", "local r = response.load()\nif r:statusCode() ~= 0 then r:statusCode(1) end"),
    ("", "local r = response.load()\nif r:isComplete() ~= nil then custom_error('nope', 418) end"),
    ("", "local r = response.load(); r:data():set('clé', r:statusCode() == 200); r:data():set('', r:body())"),
]


@pytest.mark.parametrize(("pre", "post"), _CASES)
async def test_subset_runs_like_lua(pre: str, post: str) -> None:
    await _both(pre, post)


def test_subset_bare_cases_run_without_their_wrapper() -> None:
    # the cases above that check the bare runs: their chunks are handed to the middleware as they are
    for pre, post in _CASES[-5:]:
        for code, phase in ((pre, "pre"), (post, "post")):
            if code:
                planned = _plan(code, phase)
                assert planned is not None and planned.chunk is not None and not planned.clear
                assert _phase(planned, lambda result: None, None, bare=True) is planned.chunk


@pytest.mark.parametrize(
    ("code", "phase"),
    [
        ("local r = request.load(); r:headers('X-A', 'a' .. 'b')", "pre"),  # `..`
        ("local r = request.load(); if r:method() <\n'GET' then end", "pre"),  # an order over two lines
        ("local d = response.load():data(); d:set(d:get('o'), 1)", "post"),  # a table passed on
        ("local r = response.load(); r:headers('X', r:data():get('o'))", "post"),
        ("local d = response.load():data(); d:get('o'):get('k')", "post"),
        ("custom_error('x', '404')", "pre"),  # a string status: tonumber's rules
        ("custom_error('x', 404, 5)", "pre"),
        ("custom_error('x', 404, 'a', 'b')", "pre"),
        ("custom_error('x', 40 + 4)", "pre"),
        ("local r = request.load(); return r:method()", "pre"),  # return with a value
        ("local r = request.load(); return; r:method()", "pre"),
        ("local r = request.load(); r:headers()", "pre"),  # a table getter
        ("local r = request.load(); r:params()", "pre"),
        ("local r = request.load(); local x = r:path('/y')", "pre"),  # a setter's result used
        ("local r = request.load(); if r:method() ==\n'GET' then end", "pre"),  # fine: the call is on one line
        ("local r = request.load(); if r:headers(\n'X') then end", "pre"),  # a call over two lines
        ("local r = request.load(); local x = r == r", "pre"),  # an object as a value
        ("local r = request.load(); if r then end", "pre"),
        ("if x then end", "pre"),  # a global
        ("local x = 1; if x then local y = 2 end; y = 3", "pre"),  # y is a global after its block
        ("local r = response.load():error()", "post"),
        ("local r = request.load(); while r:method() do end", "pre"),
        ("local x = -x", "pre"),
        ("local x = #'abc'", "pre"),
        ("local x = 0x10", "pre"),
        ("local x = 1e3", "pre"),
        ("local x = 'a\\n'", "pre"),
        ("local x = {}", "pre"),
        ("local print = 1", "pre"),
        ("local x = tostring(1)", "pre"),
    ],
)
def test_subset_refuses_what_it_cannot_keep_exact(code: str, phase: str) -> None:
    planned = _plan(code, phase)
    expected_planned = code == "local r = request.load(); if r:method() ==\n'GET' then end"
    assert (planned is not None) == expected_planned


async def _router_outcome(raw: dict[str, Any], service_level: bool) -> Any:
    request = _request()
    request.context["raw_params"] = {"id": "7"}
    middleware = router_middleware(_script(raw), service_level=service_level)
    assert middleware is not None
    seen: Any
    try:
        seen = (await middleware(_inner(""))(request)).data
    except PipelineError as exc:
        seen = _failure(exc)
    return seen, (request.method, request.path, request.query, request.params, request.headers, request.host)


@pytest.mark.parametrize("service_level", [False, True])
@pytest.mark.parametrize(
    "pre",
    [
        "local c = ctx.load()\nif c:method() == 'GET' and c:query('q') == '1' then\n  c:headers('X-Q', c:query('q'))\n"
        "  c:headers('X-H', c:host()); c:headers('X-U', c:url()); c:headers('X-Id', c:params('id'))\nend",
        "local c = ctx.load(); if c:headers('Authorization') == '' then custom_error('denied', 403) end",
        "local c = ctx.load(); c:headers('X-B', c:body()); c:headers('Bad Name', c:method())",
        "local c = ctx.load(); c:url(c:query(true))",
        "local c = ctx.load(); if c:method() ~= 'POST' then c:method('bad method') end",
    ],
)
async def test_subset_router_runs_like_lua(pre: str, service_level: bool) -> None:
    script = _script({"pre": pre})
    assert script.router_setters is not None and script.router_setters.chunk is not None
    planned = await _router_outcome({"pre": pre}, service_level)
    assert planned == await _router_outcome({"pre": pre, "max_instructions": _IN_LUA}, service_level)


async def test_subset_locals_keep_no_table_after_a_run() -> None:
    post = "local d = response.load():data(); local o = d:get('o'); if o then d:set('seen', true) end"
    script = _script({"post": post})
    assert script.setters is not None and script.setters.post is not None
    response = await proxy_middleware(script)(_inner(""))(_request())
    assert response.data["seen"] is True
    assert [cell[0] for cell in script.setters.post.clear] == [None]  # the response's dict is not kept


async def test_subset_locals_keep_no_string_after_a_run() -> None:
    pre = (
        "local r = request.load(); local a = r:headers('Authorization'); local b\n"
        "b = r:body(); if a ~= '' and b ~= '' then r:headers('X-Seen', 'yes') end"
    )
    script = _script({"pre": pre})
    assert script.setters is not None and script.setters.pre is not None
    assert script.setters.pre.chunk is not None
    request = _request()
    request.headers["Authorization"] = ["Bearer secret"]
    request.body = b"the body"
    await proxy_middleware(script)(_inner(""))(request)
    assert request.headers["X-Seen"] == ["yes"]
    cells = script.setters.pre.clear
    assert len(cells) == 2 and [cell[0] for cell in cells] == [None, None]  # neither the secret nor the body


async def test_subset_custom_error_is_a_custom_lua_error() -> None:
    with pytest.raises(LuaError) as caught:
        await proxy_middleware(_script({"pre": "custom_error('teapot', 418, 'text/plain')"}))(_inner(""))(_request())
    assert (str(caught.value), caught.value.status, caught.value.content_type, caught.value.custom) == (
        "teapot",
        418,
        "text/plain",
        True,
    )


# generated scripts -------------------------------------------------------------------------------------
_VALUES = [
    "r:statusCode()", "r:isComplete()", "r:headers('X-Up')", "r:headers('X-No')", "d:get('s')", "d:get('n')",
    "d:get('f')", "d:get('one')", "d:get('t')", "d:get('e')", "d:get('missing')", "d:len()", "d:keyExists('s')",
    "q:method()", "q:headers('X-In')", "q:headers('X-Num')", "'a'", "''", "'200'", "200", "200.0", "1.5", "0", "true",
    "false", "nil", "v",
]  # fmt: skip
_TABLES = ["d:get('z')", "d:get('o')", "d:get('l')"]
#: what may reach an accessor other than luaTable:set (no getter that may lift a container)
_PLAIN = [v for v in _VALUES if not v.startswith("d:get") and v != "v"]


def _expression(rng: random.Random, depth: int, tables: bool, values: list[str] | None = None) -> str:
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice((values or _VALUES) + (_TABLES if tables else []))
    shape = rng.randrange(7)
    if shape == 0:
        operand = _expression(rng, depth - 1, True)
        return "not " + (f"({operand})" if " " in operand else operand)
    if shape == 1:
        return "(" + _expression(rng, depth - 1, tables, values) + ")"
    op = ["and", "or", "==", "~=", rng.choice(["<", "<=", ">", ">="]) if rng.random() < 0.3 else "=="][shape - 2]
    if op not in ("and", "or"):  # a comparison's operands may be tables: its result is a boolean
        left, right = _expression(rng, depth - 1, True), _expression(rng, depth - 1, True)
    else:
        left, right = _expression(rng, depth - 1, tables, values), _expression(rng, depth - 1, tables, values)
    # operands in brackets (the generated tree is the parsed one), unless tables may appear anyway
    # (then, some of the time, Lua's precedence decides)
    wrap = values is not None or not tables or rng.random() < 0.7
    left, right = (f"({x})" if wrap and " " in x else x for x in (left, right))
    return f"{left} {op} {right}"


def _statements(rng: random.Random, depth: int, n: int, indent: str = "") -> list[str]:
    out: list[str] = []
    for i in range(n):
        kind = rng.randrange(6 if depth > 0 else 4)
        key = f"k{depth}{i}{rng.randrange(100)}"
        if kind == 0:
            out.append(f"{indent}d:set('{key}', {_expression(rng, 3, True)})")
        elif kind == 1:
            out.append(f"{indent}v = {_expression(rng, 2, True)}")
        elif kind == 2:
            out.append(
                f"{indent}if {_expression(rng, 3, True)} then d:set('{key}', 'yes') else d:set('{key}', 'no') end"
            )
        elif kind == 3 and rng.random() < 0.2:
            out.append(
                f"{indent}if {_expression(rng, 2, True)} then custom_error({_expression(rng, 1, True)}, 409) end"
            )
        elif kind == 3:
            value = rng.choice(_PLAIN) if rng.random() < 0.3 else f"({_expression(rng, 2, True)}) and 'yes' or 'no'"
            out.append(f"{indent}r:headers('X-{key}', {value})")
        else:
            out.append(f"{indent}if {_expression(rng, 3, True)} then")
            out += _statements(rng, depth - 1, 2, indent + "  ")
            if rng.random() < 0.5:
                out.append(f"{indent}elseif {_expression(rng, 2, True)} then")
                out += _statements(rng, depth - 1, 2, indent + "  ")
            if rng.random() < 0.5:
                out.append(f"{indent}else")
                out += _statements(rng, depth - 1, 1, indent + "  ")
            out.append(f"{indent}end")
    return out


@pytest.mark.parametrize("seed", range(200))
async def test_subset_generated_scripts_run_like_lua(seed: int) -> None:
    rng = random.Random(seed)
    post = _POST + "local v\nv = " + _expression(rng, 2, True) + "\n" + "\n".join(_statements(rng, 2, 5))
    await _both("", post, fails=("", "raise"))
