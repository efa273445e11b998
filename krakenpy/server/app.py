"""Build the HTTP server for a :class:`ServiceConfig`: compile every endpoint once, then dispatch.

The server is aiohttp's low-level ``web.Server`` with krakenpy's own gin-like router, so a request
costs one dict lookup (static paths) before the endpoint's pipeline runs.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from krakenpy.backends import build_backend
from krakenpy.backends.client import AiohttpClient, ClientOptions, UpstreamClient
from krakenpy.backends.fastclient import FastClient
from krakenpy.config.model import ServiceConfig
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.lua import lua_endpoint_middleware, lua_service_middleware
from krakenpy.proxy.factory import build_endpoint_proxy
from krakenpy.resources import Resources
from krakenpy.server import builtin
from krakenpy.server.handler import RouterOptions, make_handler
from krakenpy.server.render import go_json
from krakenpy.server.router import Match, Router

__all__ = ["Gateway", "build_gateway"]

log = logging.getLogger("krakenpy.server")


@dataclass
class Gateway:
    """The compiled gateway: call :attr:`handler` per request; :meth:`close` releases resources."""

    handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    resources: Resources
    endpoints: int

    async def close(self) -> None:
        await self.resources.stack.aclose()


def _router_options(service: ServiceConfig) -> dict[str, Any]:
    value = service.extra_config.get("router") or {}
    return dict(value) if isinstance(value, dict) else {}


def _fixed(status: int, text: str, version: str, custom: Any) -> web.Response:
    headers = {"X-Krakend": version, "X-Krakend-Completed": "false"}
    if custom is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
        return web.Response(status=status, body=go_json(custom), headers=headers)
    headers["Content-Type"] = "text/plain"
    return web.Response(status=status, body=text.encode(), headers=headers)


async def build_gateway(
    service: ServiceConfig,
    *,
    debug: bool = False,
    client: UpstreamClient | None = None,
    base_dir: Path | None = None,
) -> Gateway:
    """Compile ``service`` into a request handler. Component errors raise :class:`ConfigError`."""
    stack = AsyncExitStack()
    # upstream client: "fast" (default) or "aiohttp" (ClientSession for every call)
    fast = os.environ.get("KRAKENPY_HTTP_CLIENT", "fast") != "aiohttp"
    http = client or (FastClient if fast else AiohttpClient)(
        ClientOptions(
            limit_per_host=service.max_idle_connections_per_host,
            limit=service.max_idle_connections,
            keepalive_timeout=service.idle_connection_timeout or 90.0,
            connect_timeout=service.dialer_timeout or None,
            response_header_timeout=service.response_header_timeout or None,
            disable_keep_alives=service.disable_keep_alives,
        )
    )
    stack.push_async_callback(http.close)
    resources = Resources(service=service, http=http, stack=stack, base_dir=base_dir or Path.cwd())
    try:
        return await _compile(service, resources, debug)
    except BaseException:
        await stack.aclose()
        raise


async def _compile(service: ServiceConfig, resources: Resources, debug: bool) -> Gateway:
    ropts = _router_options(service)
    options = RouterOptions(
        return_error_msg=bool(ropts.get("return_error_msg", False)),
        hide_version_header=bool(ropts.get("hide_version_header", False)),
        disable_path_decoding=bool(ropts.get("disable_path_decoding", False)),
    )
    router = Router()
    issues: list[ConfigIssue] = []
    service_mw = lua_service_middleware(resources)
    for endpoint in service.endpoints:
        try:
            proxy = await build_endpoint_proxy(endpoint, resources, build_backend)
            endpoint_mw = lua_endpoint_middleware(endpoint, resources)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        handle = make_handler(endpoint, proxy, options, router_middlewares=(service_mw, endpoint_mw))
        router.add(endpoint.endpoint, endpoint.method, handle)
    if issues:
        raise ConfigError(issues, service.source)

    version = options.version_header
    error_body = ropts.get("error_body") or {}
    body404 = error_body.get("404") if isinstance(error_body, dict) else None
    body405 = error_body.get("405") if isinstance(error_body, dict) else None
    redirect_slash = not ropts.get("disable_redirect_trailing_slash", False)
    redirect_fixed = not ropts.get("disable_redirect_fixed_path", False)
    handle_405 = not ropts.get("disable_handle_method_not_allowed", False)
    health_path = str(ropts.get("health_path") or "/__health")
    builtins: dict[str, Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]] = {}
    if not ropts.get("disable_health", False):
        builtins[health_path] = builtin.health
    debug_on = debug or service.debug_endpoint
    echo_on = service.echo_endpoint
    match = router.match

    def dispatch(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        # a plain function: an endpoint's coroutine is handed to aiohttp without a wrapping layer
        found = match(request.path)
        if found is not None:
            handle = found.methods.get(request.method)
            if handle is not None:
                return handle(request, found.values)
        return fallback(request, found)

    async def fallback(request: web.BaseRequest, found: Match | None) -> web.StreamResponse:
        path = request.path
        special = builtins.get(path)
        if special is not None and request.method == "GET":
            return await special(request)
        if debug_on and (path == "/__debug" or path.startswith("/__debug/")):
            return await builtin.debug(request)
        if echo_on and (path == "/__echo" or path.startswith("/__echo/")):
            return await builtin.echo(request)
        if request.method != "CONNECT":
            target = router.redirect_target(
                path, request.method, trailing_slash=redirect_slash, fixed_path=redirect_fixed
            )
            if target is not None:
                code = 301 if request.method == "GET" else 307
                location = target + ("?" + request.query_string if request.query_string else "")
                if code == 301:  # Go's http.Redirect writes a short HTML body for GET
                    return web.Response(
                        status=code,
                        body=f'<a href="{html.escape(location)}">Moved Permanently</a>.\n\n'.encode(),
                        headers={"Location": location, "Content-Type": "text/html; charset=utf-8"},
                    )
                return web.Response(status=code, headers={"Location": location})
        if found is not None and handle_405:
            resp = _fixed(405, "405 method not allowed", version, body405)
            return resp
        return _fixed(404, "404 page not found", version, body404)

    return Gateway(handler=dispatch, resources=resources, endpoints=len(service.endpoints))
