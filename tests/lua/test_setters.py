"""Setter scripts run without Lua (krakenpy/lua/setters.py): the plan accepts only literal-argument
setter calls, and a planned script does what the same script does in Lua: the same writes, the same
errors (message, line, status), the same post-on-failure outcomes. A budget below MIN_BUDGET keeps a
script in Lua (counted), which is what the comparisons run against."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.config.build import build_service
from krakenpy.errors import BackendError, PipelineError
from krakenpy.lua.modifier import proxy_middleware, router_middleware
from krakenpy.lua.script import Script, build_script
from krakenpy.lua.setters import CLASS_OF, DATA, IDS, REQUEST, RESPONSE, plan
from krakenpy.proxy.types import Request, Response
from krakenpy.resources import Resources
from tests.conftest import make_config

_RESOURCES: list[Resources] = []
#: the budget that keeps a script in Lua (below MIN_BUDGET: counted by the hook)
_IN_LUA = 999_999


def _resources() -> Resources:
    if not _RESOURCES:
        service = build_service(make_config([{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:18080"]}]}]))
        http = AiohttpClient(ClientOptions())
        _RESOURCES.append(Resources(service=service, http=http, stack=AsyncExitStack(), base_dir=Path.cwd()))
    return _RESOURCES[0]


def _script(raw: dict[str, Any]) -> Script:
    return build_script(raw, _resources(), "test")


def _accessors() -> Any:
    return _script({"pre": "local x = 1"}).runtime.bindings.accessors


def _plan(code: str, phase: str) -> Any:
    runtime = _script({"pre": "local x = 1"}).runtime
    return plan(
        code.encode(),
        f"{phase}-script",
        phase,
        runtime.bindings.accessors,
        runtime.global_names,
        runtime.objects.objects,
    )


def _request() -> Request:
    headers = {"X-In": ["a"], "Accept": ["*/*"]}
    return Request(method="GET", path="/x", params={"Id": "1"}, headers=headers, query={"q": ["1"]}, url="/x")


P3_PRE = "local r = request.load(); r:headers('X-Bench', 'lua')"
P3_POST = "local r = response.load(); r:data():set('lua', true)"


@pytest.mark.parametrize(
    ("code", "phase", "steps"),
    [
        (P3_PRE, "pre", [(REQUEST, b"headers", (2, b"X-Bench", b"lua"))]),
        # luaTable:set's literal key is decoded once, at start-up (the accessor takes a str key as it is)
        (P3_POST, "post", [(DATA, b"set", (2, "lua", True))]),
        ("request.load():headers('X-A', \"b\")", "pre", [(REQUEST, b"headers", (2, b"X-A", b"b"))]),
        ("local r = request.load() r:path('/y')  -- a comment\n", "pre", [(REQUEST, b"path", (1, b"/y"))]),
        ("request.load()", "pre", []),
        ("local r = request.load()\n\n;;r:method('POST')", "pre", [(REQUEST, b"method", (1, b"POST"))]),
        (
            "local d = response.load():data(); d:set('n', -5); d:del('x'); d:set('z', nil)",
            "post",
            [(DATA, b"set", (2, "n", -5)), (DATA, b"del", (1, b"x")), (DATA, b"set", (2, "z", None))],
        ),
        (
            "local r = response.load()\nlocal q = request.load()\nr:isComplete(false)\nq:params('Id', 7)",
            "post",
            [(RESPONSE, b"isComplete", (1, False)), (REQUEST, b"params", (2, b"Id", 7))],
        ),
    ],
)
def test_setters_plan_accepts_literal_setter_calls(code: str, phase: str, steps: list[Any]) -> None:
    planned = _plan(code, phase)
    assert planned is not None
    accessors = _accessors()
    expected = [(slot, accessors[CLASS_OF[slot]][method], args) for slot, method, args in steps]
    assert [step[:3] for step in planned.steps] == expected
    assert planned.slots == {slot for slot, _, _ in steps}


@pytest.mark.parametrize(
    ("code", "phase"),
    [
        ("local r = response.load(); r:data():set('a', 1)", "pre"),  # response is nil in pre
        ("local r = request.load(); r:headers('X-In')", "pre"),  # a getter
        ("local r = request.load(); r:headers('X-A', 'a\\nb')", "pre"),  # an escape
        ("local r = request.load(); r:headers('X-A', [[b]])", "pre"),
        ("--[[ c ]] request.load():headers('X-A', 'b')", "pre"),
        ("local r = request.load(); r:headers(\n'X-A', 'b')", "pre"),  # a statement over two lines
        ("local request = request.load(); request:headers('X-A', 'b')", "pre"),
        ("local x = 1", "pre"),
        ("local _ENV = request.load(); request.load():path('/y')", "pre"),  # the globals' table
        ("local x = request.load():path('/y')", "pre"),  # a setter's result used
        ("request.load():headers('X-A', 'b'):x()", "pre"),
        ("request.load():headers('X-A', 'b') 'x'", "pre"),
        ("request.load():headers('X-A', 'b')('x')", "pre"),
        ("response.load():data():set('a', 1.5)", "post"),
        ("response.load():data():set('a', 0x10)", "post"),
        ("response.load():data():set('a', 1e3)", "post"),
        ("response.load():data():set('a', 1234567890123456789)", "post"),
        ("response.load():data():set('a', - 1)", "post"),
        ("request.load():data()", "post"),
        ("response.load():data():data()", "post"),
        ("local r = request.load(); if r then r:path('/y') end", "pre"),
        ("return request.load():path('/y')", "pre"),
        ("(request.load()):path('/y')", "pre"),
        ("x:headers('X-A', 'b')", "pre"),
        ("request:load():path('/y')", "pre"),
        ("request.load(1):path('/y')", "pre"),
        ("request.load():path(request)", "pre"),
        ("request.load():path('/y', '/z')", "pre"),  # a setter's count only
        ("request.load().path('/y')", "pre"),
        ("#!/bin/lua\nrequest.load():path('/y')", "pre"),
        ("request.load():path('/y')\r\nrequest.load():path('/z')", "pre"),
        ("local a, b = request.load(), 1", "pre"),
        ("request.load():headers('X-A', 'b' .. 'c')", "pre"),
        ("request.load():path('/' .. 'y' .. string.rep('z', 10))", "pre"),
        ("response.load():error()", "post"),
        ("request.load():path('/y')" + "\n" * 4100, "pre"),  # too long to plan
    ],
)
def test_setters_plan_refuses_anything_else(code: str, phase: str) -> None:
    planned = _plan(code, phase)
    assert planned is None or (planned.chunk is not None and not planned.steps)  # no steps (the subset's, if any)


@pytest.mark.parametrize(
    ("code", "phase", "planned"),
    [
        (
            "local c = ctx.load(); c:headers('X-A', 'b'); c:host('h'); c:query('q', nil); c:params('id', 7)",
            "router",
            True,
        ),
        ("ctx.load():url('/y?a=1')", "router", True),
        ("ctx.load():path('/y')", "router", False),  # no such method on ctx
        ("request.load():path('/y')", "router", False),  # request is nil at the router level
        ("ctx.load():headers('X-A', 'b')", "pre", False),
        ("ctx.load():headers('X-A', 'b')", "post", False),
    ],
)
def test_setters_plan_ctx_at_the_router_level_only(code: str, phase: str, planned: bool) -> None:
    assert (_plan(code, phase) is not None) == planned


def test_setters_script_is_planned_only_when_its_limits_cannot_stop_it() -> None:
    assert _script({"pre": P3_PRE, "post": P3_POST}).setters is not None
    assert _script({"pre": P3_PRE, "post": P3_POST, "max_instructions": _IN_LUA}).setters is None
    assert _script({"pre": P3_PRE, "timeout": "1s"}).setters is None
    assert _script({"pre": P3_PRE, "allow_open_libs": True}).setters is None
    assert _script({"pre": P3_PRE, "post": "local x = 1 + 1"}).setters is None  # both phases or neither
    assert _script({"post": P3_POST}).setters is not None


def _inner(fail: str) -> Any:
    async def inner(request: Request) -> Response:
        if fail == "raise":
            raise BackendError("backend down", status=502, backend_status=503)
        response = Response(data={"a": 1, "x": 2}, headers={"X-Up": ["u"]}, status=200)
        if fail == "partial":
            response.errors = (BackendError("one failed", status=500),)
        return response

    return inner


async def _outcome(raw: dict[str, Any], fail: str) -> Any:
    request = _request()
    middleware = proxy_middleware(_script(raw))
    seen: Any
    try:
        response = await middleware(_inner(fail))(request)
        seen = (
            response.data,
            response.status,
            response.override_status,
            response.headers,
            response.override_headers,
            response.is_complete,
            response.body,
        )
    except PipelineError as exc:
        seen = (type(exc).__name__, str(exc), exc.status)
    return seen, (
        request.method,
        request.path,
        request.url,
        request.query,
        request.params,
        request.headers,
        request.body,
    )


_SAME = [
    (P3_PRE, P3_POST),
    (
        "local r = request.load(); r:method('POST'); r:path('/y'); r:url('http://h/y'); r:query('a=1&b=2')\n"
        "r:params('Id', '7'); r:params(5, 6); r:body('hello'); r:headers('X-A', 'b'); r:headers('X-In', nil)\n"
        "r:headers('X-N', 42)",
        "",
    ),
    ("request.load():method('bad method')", ""),
    ("local r = request.load()\n\nr:path('/a\x01b')", ""),
    ("request.load():headers('Bad Name', 'x')", ""),
    ("request.load():headers('X-A', 'a\x7fb')", ""),
    ("request.load():headers('X-B', true)", ""),
    ("request.load():path(false)", ""),
    ("request.load():params(nil, 'x')", ""),
    ("request.load():query(1)", ""),
    (
        "",
        "local resp = response.load(); resp:statusCode(201); resp:headers('X-R', 'r'); resp:isComplete(false)\n"
        "local d = resp:data(); d:set('k', 'v'); d:set('n', -3); d:set('z', nil); d:del('a'); d:set(7, 'seven')\n"
        "resp:body('raw'); request.load():headers('X-Late', 'l')",
    ),
    ("", "response.load():statusCode(5)"),
    ("", "response.load():statusCode('201')"),
    ("", "response.load():isComplete('x')"),
    ("", "response.load():isComplete(true)"),
    ("", "local d = response.load():data()\nd:set(true, 1)"),
    ("", "response.load():data():del(true)"),
    ("", "response.load():headers('X-R', 'a\x0bb')"),
    ("request.load():headers('X-A', 'b')", "local r = response.load()\nr:data():set('lua', true)\nr:statusCode(1000)"),
    # literal keys decoded once at start-up (UTF-8, an empty key, a number's text as set's key)
    ("", "local d = response.load():data(); d:set('clé', 'é'); d:set('', 1); d:set(1.5, 2); d:set('a', nil)"),
    # post uses only the data: the request and the response are not put in place for it
    ("request.load():headers('X-A', 'b')", "response.load():data():set('x', 'post')"),
]


@pytest.mark.parametrize("fail", ["", "raise", "partial"])
@pytest.mark.parametrize(("pre", "post"), _SAME)
async def test_setters_run_like_lua(pre: str, post: str, fail: str) -> None:
    raw = {key: code for key, code in (("pre", pre), ("post", post)) if code}
    assert _script(raw).setters is not None  # the comparison is between the two paths
    planned = await _outcome(raw, fail)
    in_lua = await _outcome({**raw, "max_instructions": _IN_LUA}, fail)
    assert planned == in_lua


@pytest.mark.parametrize("fail", ["", "raise"])
async def test_setters_skip_next_builds_the_response_like_lua(fail: str) -> None:
    raw: dict[str, Any] = {"pre": P3_PRE, "post": P3_POST, "skip_next": True}
    assert _script(raw).setters is not None
    assert await _outcome(raw, fail) == await _outcome({**raw, "max_instructions": _IN_LUA}, fail)
    seen, _ = await _outcome(raw, fail)
    assert seen[0] == {"lua": True}


def test_setters_reserved_ids_hash_apart() -> None:
    # CPython hashes -1 as -2: with both reserved, every lookup of the second collided in the object
    # table (~2 k machine instructions for one statusCode() read, compiled); positive ids are Lua's own
    ids = set(IDS.values())
    assert all(i < 0 for i in ids)
    assert len({hash(i) for i in ids}) == len(ids)


async def test_setters_release_their_objects() -> None:
    # the post uses the request, the response and its data: all three reserved ids are put in place
    post = "response.load():statusCode(201); request.load():path('/y'); response.load():data():set('lua', true)"
    script = _script({"pre": P3_PRE, "post": post})
    objects = script.runtime.objects.objects
    before = {k: v for k, v in objects.items() if v is not None}
    proxy = proxy_middleware(script)(_inner(""))
    for _ in range(3):
        await proxy(_request())
    with pytest.raises(PipelineError):
        await proxy_middleware(_script({"pre": "request.load():method('a b')", "post": P3_POST}))(_inner(""))(
            _request()
        )
    # the runs' objects took the reserved ids and were dropped after each run
    assert {k: v for k, v in objects.items() if v is not None} == before
    assert {k for k in objects if k < 0} == set(IDS.values())


async def _router_outcome(raw: dict[str, Any], service_level: bool) -> Any:
    request = _request()
    middleware = router_middleware(_script(raw), service_level=service_level)
    assert middleware is not None
    seen: Any
    try:
        seen = (await middleware(_inner(""))(request)).data
    except PipelineError as exc:
        seen = (type(exc).__name__, str(exc), exc.status)
    sent = (request.method, request.path, request.query, request.params, request.headers, request.host, request.body)
    return seen, sent, request.context.get("raw_params")


@pytest.mark.parametrize("service_level", [False, True])
@pytest.mark.parametrize(
    "pre",
    [
        "local c = ctx.load(); c:headers('X-A', 'b'); c:host('h'); c:query('q', 'v'); c:query('z', nil)\n"
        "c:params('id', 7); c:method('PUT'); c:body('b'); c:url('/y?a=1&a=2')",
        "ctx.load():method('bad method')",  # a client value: 400 at both levels
        "local c = ctx.load()\n\nc:host('a b')",
        "ctx.load():headers('X-B', true)",  # a script fault: 500 at the service level
        "ctx.load():url(5)",
    ],
)
async def test_setters_router_runs_like_lua(pre: str, service_level: bool) -> None:
    script = _script({"pre": pre})
    assert script.router_setters is not None and script.router_setters.steps
    planned = await _router_outcome({"pre": pre}, service_level)
    assert planned == await _router_outcome({"pre": pre, "max_instructions": _IN_LUA}, service_level)
