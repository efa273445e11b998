"""Straight-line scripts run without the count hook (krakenpy/lua/scan.py): the scan accepts only code
that cannot loop, and whatever can still loop (a function defined by pre, by a source, a budget too
small to skip counting) stays counted."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.config.build import build_service
from krakenpy.errors import PipelineError
from krakenpy.lua.errors import LuaError
from krakenpy.lua.modifier import proxy_middleware
from krakenpy.lua.runtime import DEFAULT_MAX_MEMORY, Runtime
from krakenpy.lua.scan import MAX_SOURCE, straight_line
from krakenpy.lua.script import build_script
from krakenpy.proxy.types import Request, Response
from krakenpy.resources import Resources
from tests.conftest import make_config

_GLOBALS = Runtime(None, open_libs=False, max_memory=DEFAULT_MAX_MEMORY).global_names  # type: ignore[arg-type]


def _resources(base_dir: Path | None = None) -> Resources:
    service = build_service(make_config([{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:18080"]}]}]))
    http = AiohttpClient(ClientOptions())
    return Resources(service=service, http=http, stack=AsyncExitStack(), base_dir=base_dir or Path.cwd())


async def _inner(request: Request) -> Response:
    return Response(data={"a": 1}, headers={})


def _proxy(raw: dict[str, Any], resources: Resources | None = None) -> Any:
    return proxy_middleware(build_script(raw, resources or _resources(), "test"))(_inner)


def _request() -> Request:
    return Request(method="GET", path="/x", params={}, headers={"X-In": ["a"]}, query={})


@pytest.mark.parametrize(
    "code",
    [
        "local r = request.load(); r:headers('X-Bench', 'lua')",
        "local r = response.load(); r:data():set('lua', true)",
        "local r = request.load()\nif r:headers('X-In') == 'a' then r:headers('X-Out', 'b') else r:path('/y') end",
        "local a, b = 1, 2 -- a comment: for while function\nreturn a + b",
        "local d = response.load():data(); d:set('n', tonumber('5') + 1e3 + 0x10); d:set('s', 'x\\'y')",
        "local x = x",  # the right-hand x is the global x: nil, or set by straight-line code
        "local e = json.encode(response.load():data()); custom_error(e, 418)",
    ],
)
def test_scan_accepts_straight_line_code(code: str) -> None:
    assert straight_line(code, _GLOBALS)


@pytest.mark.parametrize(
    "code",
    [
        "for i = 1, 10 do end",
        "while true do end",
        "repeat until false",
        "::top:: goto top",
        "local f = function() end",
        "local function f() end",
        "string.find('a', 'a')",  # the Lua matcher is counted by the hook
        "local s = ('a'):rep(10)",  # a method not in the API
        "local s = string",
        "local string = 1",  # a local named like a global: its other uses would not be the global
        "local pcall = 1",
        "x = 1",  # a name that is neither the API's nor a local
        "pcall(request.load)",
        "setmetatable({}, {})",
        "local t = {f = 1}",
        "--[[ long comment ]] local x",
        "local s = [[long string]]",
        "local x <const> = 1",
        "#!/usr/bin/lua\nlocal x",
        "local x = 'a'" + " " * MAX_SOURCE,
        "local x = 1 @",
        "local s = ('')['rep']('a', 10)",  # a string's methods by a computed key
        "local k = 'find'; local f = ('')[k]",
        "local r = request.load(); local h = r:headers()['x']",
    ],
)
def test_scan_refuses_what_may_loop_or_is_unknown(code: str) -> None:
    assert not straight_line(code, _GLOBALS)


def test_scan_globals_include_the_sandbox_and_api() -> None:
    assert {"string", "pcall", "setmetatable", "_G", "request", "json", "http_response"} <= _GLOBALS


@pytest.mark.timeout(15)
async def test_scan_post_after_a_looping_pre_function_stays_counted() -> None:
    # pre (hooked: it defines a function) replaces tostring in the env post shares; post alone
    # looks straight-line, so it is scanned together with pre
    pre = "function tostring() while true do end end"
    proxy = _proxy({"pre": pre, "post": "tostring(1)", "max_instructions": 1_000_000})
    with pytest.raises(LuaError, match=r"instruction budget \(pre-script:L1\)"):  # the loop's line
        await proxy(_request())


@pytest.mark.timeout(15)
async def test_scan_source_functions_stay_counted(tmp_path: Path) -> None:
    (tmp_path / "lib.lua").write_text("function tostring() while true do end end\n")
    raw = {"sources": ["lib.lua"], "pre": "tostring(1)", "max_instructions": 1_000_000}
    with pytest.raises(LuaError, match="instruction budget"):
        await _proxy(raw, _resources(tmp_path))(_request())


async def test_scan_small_budget_is_counted_exactly() -> None:
    code = "local r = request.load()\n" + "r:headers('X-A', 'b')\n" * 50
    with pytest.raises(LuaError, match="instruction budget"):
        await _proxy({"pre": code, "max_instructions": 100})(_request())
    request = _request()
    await _proxy({"pre": code})(request)
    assert request.headers["X-A"] == ["b"]


@pytest.mark.timeout(15)
async def test_scan_hookless_and_counted_runs_share_a_runtime() -> None:
    resources = _resources()
    # tostring keeps them Lua runs (setters alone would run without Lua: krakenpy/lua/setters.py)
    raw = {"pre": "request.load():headers('X-S', tostring('s'))", "post": "response.load():data():set('s', 1)"}
    straight = _proxy(raw, resources)
    looping = _proxy({"pre": "while true do end", "max_instructions": 1_000_000}, resources)
    for _ in range(3):  # the pools of workers with and without the hook stay apart
        response = await straight(_request())
        assert response.data == {"a": 1, "s": 1}
        with pytest.raises(LuaError, match="instruction budget"):
            await looping(_request())


async def test_scan_hookless_errors_keep_their_line() -> None:
    with pytest.raises(LuaError, match=r"boom \(pre-script:L2\)"):
        await _proxy({"pre": "local r = request.load()\nerror('boom')"})(_request())
    with pytest.raises(LuaError, match=r"pre-script:L3"):
        await _proxy({"pre": "local r = request.load()\n\nr:headers('X-A', 'a\\nb')"})(_request())


@pytest.mark.parametrize(
    "code",
    [
        "local r = request.load()\nerror('boom')",
        "local r = request.load()\nerror('boom', 2)",
        "local r = request.load()\nerror({})",
        "local r = request.load()\nerror()",
        "local r = request.load()\ncustom_error('no', 418)",
        "local r = request.load()\n\nr:headers('X-A', 'a\\nb')",
        "local r = request.load()\nr:headers(r)",
        "local r = request.load()\nlocal x = r.nothing.deeper",
        "local r = request.load()\nr:headers('X-A', 'a')\nexit(201, 'done')",
    ],
)
async def test_scan_direct_and_counted_runs_fail_alike(code: str) -> None:
    # a budget below MIN_BUDGET runs the same code on a hooked worker coroutine
    outcomes = []
    for budget in (10_000_000, 999_999):
        request = _request()
        with pytest.raises(PipelineError) as caught:
            await _proxy({"pre": code, "max_instructions": budget})(request)
        outcomes.append((type(caught.value), str(caught.value), caught.value.status, request.headers))
    assert outcomes[0] == outcomes[1]
