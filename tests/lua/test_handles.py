"""Lua holds ids, not Python objects: a finished request leaves nothing registered, and an object a
script stashed past its request (open libs only) fails cleanly."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest

from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.config.build import build_service
from krakenpy.errors import PipelineError
from krakenpy.lua.modifier import proxy_middleware, router_middleware
from krakenpy.lua.script import build_script
from krakenpy.proxy.types import Request, Response
from krakenpy.resources import Resources
from tests.conftest import make_config

POST = """
local r = response.load()
local d = r:data()
d:set("keys", d:keys())
d:set("fresh", luaTable.new())
r:headers("X-Post", request.load():headers("X-Pre"))
"""


def _resources() -> Resources:
    service = build_service(make_config([{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:18080"]}]}]))
    return Resources(service=service, http=AiohttpClient(ClientOptions()), stack=AsyncExitStack())


def _live(objects: dict[int, Any]) -> dict[int, Any]:
    """The registered objects (a script run without Lua leaves its reserved negative ids empty)."""
    return {k: v for k, v in objects.items() if v is not None}


def _request() -> Request:
    return Request(method="GET", path="/x", params={"Id": "1"}, headers={"X-In": ["a"]}, query={})


async def _inner(request: Request) -> Response:
    return Response(data={"a": 1, "nested": {"b": [1, 2]}})


async def _failing(request: Request) -> Response:
    raise PipelineError("backend down")


def _proxy(raw: dict[str, Any], inner: Any = _inner) -> tuple[Any, Any]:
    script = build_script(raw, _resources(), "test")
    return proxy_middleware(script)(inner), script.runtime


async def test_pre_and_post_leave_no_objects_registered() -> None:
    pre = "local r = request.load(); r:headers('X-Pre', 'yes'); local p = r:params(); local h = r:headers()"
    proxy, runtime = _proxy({"pre": pre, "post": POST})
    for _ in range(3):
        response = await proxy(_request())
        assert response.data["keys"] == ["a", "nested"]
        assert response.data["fresh"] == {}
        assert response.headers["X-Post"] == ["yes"]
    assert _live(runtime.objects.objects) == {}


@pytest.mark.parametrize(
    "raw",
    [
        {"pre": "error('boom')", "post": POST},
        {"pre": "local x = 1", "post": "error('boom')"},
        {"pre": "custom_error('no', 418)"},
        {"post": "exit(201, {ok = true})"},
    ],
)
async def test_failed_runs_leave_no_objects_registered(raw: dict[str, Any]) -> None:
    proxy, runtime = _proxy(raw)
    with pytest.raises(PipelineError):
        await proxy(_request())
    assert _live(runtime.objects.objects) == {}


async def test_failed_next_layer_leaves_no_objects_registered() -> None:
    proxy, runtime = _proxy({"post": "response.load():data():set('seen', response.load():error())"}, _failing)
    with pytest.raises(PipelineError):
        await proxy(_request())
    assert _live(runtime.objects.objects) == {}


async def _crashing(request: Request) -> Response:
    raise RuntimeError("not a pipeline error: post does not run")


@pytest.mark.parametrize("inner", [_inner, _failing, _crashing])
async def test_pre_record_kept_for_post_is_dropped_whatever_the_outcome(inner: Any) -> None:
    proxy, runtime = _proxy({"pre": "request.load():headers('X-Pre', 'yes')", "post": "local x = 1"}, inner)
    for _ in range(3):
        try:
            await proxy(_request())
        except (PipelineError, RuntimeError):
            pass
    assert runtime.kept() == 0
    assert _live(runtime.objects.objects) == {}


async def test_router_leaves_no_objects_registered() -> None:
    script = build_script({"pre": "local c = ctx.load(); c:headers('X-R', c:params('id'))"}, _resources(), "test")
    middleware = router_middleware(script, service_level=False)
    assert middleware is not None
    response = await middleware(_inner)(_request())
    assert response.data["a"] == 1
    assert _live(script.runtime.objects.objects) == {}


async def test_object_stashed_past_its_request_fails_cleanly() -> None:
    pre = """
local stash = package.loaded
if stash.old then
  local ok, err = pcall(function() return stash.old:method() end)
  request.load():headers("X-Stale", tostring(ok) .. " " .. tostring(err))
end
stash.old = request.load()
"""
    proxy, _ = _proxy({"pre": pre, "allow_open_libs": True}, _echo_headers)
    await proxy(_request())
    response = await proxy(_request())
    assert "request that has finished" in response.data["X-Stale"][0]
    assert response.data["X-Stale"][0].startswith("false ")


async def _echo_headers(request: Request) -> Response:
    return Response(data=dict(request.headers))
