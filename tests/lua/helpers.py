"""Shared pieces for the Lua tests: a loopback echo backend and config builders."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.conftest import make_config


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")},
            "body": body.decode("utf-8", "replace"),
        },
        headers={"X-Backend": "echo", "X-Multi-Res": "a"},
    )


async def _items(request: web.Request) -> web.Response:
    return web.json_response(
        {"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "to_be_removed": 1, "ok": True},
        headers={"X-Not-Needed": "x"},
    )


async def _fail(request: web.Request) -> web.Response:
    return web.json_response({"error": "nope"}, status=404)


async def _text(request: web.Request) -> web.Response:
    return web.Response(body=b"plain body", content_type="text/plain")


def echo_app() -> web.Application:
    """Routes: /echo/* (request as JSON), /items, /fail (404), /text."""
    app = web.Application()
    app.router.add_route("*", "/echo/{tail:.*}", _echo)
    app.router.add_get("/items", _items)
    app.router.add_get("/fail", _fail)
    app.router.add_get("/text", _text)
    return app


def lua_endpoint(
    host: str,
    *,
    endpoint: str = "/test",
    url: str = "/echo/x",
    backend_lua: dict[str, Any] | None = None,
    proxy_lua: dict[str, Any] | None = None,
    router_lua: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One endpoint with one backend and Lua at the requested levels."""
    backend: dict[str, Any] = {"host": [host], "url_pattern": url}
    if backend_lua is not None:
        backend["extra_config"] = {"modifier/lua-backend": backend_lua}
    endpoint_cfg: dict[str, Any] = {"endpoint": endpoint, "backend": [backend], **extra}
    extra_config: dict[str, Any] = {}
    if proxy_lua is not None:
        extra_config["modifier/lua-proxy"] = proxy_lua
    if router_lua is not None:
        extra_config["modifier/lua-endpoint"] = router_lua
    if extra_config:
        endpoint_cfg["extra_config"] = extra_config
    return endpoint_cfg


def config(*endpoints: dict[str, Any], return_error_msg: bool = False, **service: Any) -> dict[str, Any]:
    if return_error_msg:
        service.setdefault("extra_config", {})["router"] = {"return_error_msg": True}
    return make_config(list(endpoints), timeout="2s", **service)
