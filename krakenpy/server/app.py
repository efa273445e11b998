"""The router level: every compiled endpoint under krakenpy's gin-like router, plus 404/405,
redirects and the built-in endpoints, as one :data:`~krakenpy.edge.EdgeHandler`.

A request costs one dict lookup (static paths) before the endpoint's handler runs. This module works
on krakenpy's own edge types; :mod:`krakenpy.server.adapter` puts it on aiohttp.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from multidict import CIMultiDict

from krakenpy.config.model import EndpointConfig, ServiceConfig
from krakenpy.edge import EdgeHandler, HttpRequest, HttpResponse
from krakenpy.server import builtin
from krakenpy.server.handler import EndpointHandler
from krakenpy.server.render import go_json
from krakenpy.server.router import Match, Router

__all__ = ["build_dispatch"]

_Builtin = Callable[[HttpRequest], Awaitable[HttpResponse]]


def _fixed(status: int, text: str, version: str, custom: Any) -> HttpResponse:
    headers: CIMultiDict[str] = CIMultiDict((("X-Krakend", version), ("X-Krakend-Completed", "false")))
    if custom is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
        return HttpResponse(status, headers, go_json(custom))
    headers["Content-Type"] = "text/plain"
    return HttpResponse(status, headers, text.encode())


def build_dispatch(
    service: ServiceConfig,
    routes: Sequence[tuple[EndpointConfig, EndpointHandler]],
    *,
    debug: bool = False,
    debug_log: builtin.DebugLog | None = None,
) -> EdgeHandler:
    """Route every request to its endpoint handler, or answer it here (404/405, redirects, built-ins)."""
    options = service.router
    router = Router()
    for endpoint, handle in routes:
        router.add(endpoint.endpoint, endpoint.method, handle)
    version = options.version_header
    body404, body405 = options.error_body_404, options.error_body_405
    redirect_slash = not options.disable_redirect_trailing_slash
    redirect_fixed = not options.disable_redirect_fixed_path
    handle_405 = not options.disable_handle_method_not_allowed
    builtins: dict[str, _Builtin] = {}
    if not options.disable_health:
        builtins[options.health_path] = builtin.health
    debug_on = debug or service.debug_endpoint
    echo_on = service.echo_endpoint
    match = router.match

    def dispatch(request: HttpRequest) -> Awaitable[HttpResponse]:
        # a plain function: an endpoint's coroutine is handed on without a wrapping layer
        found = match(request.path)
        if found is not None:
            handle = found.methods.get(request.method)
            if handle is not None:
                request.route = found.template
                return handle(request, found.values)
        return fallback(request, found)

    async def fallback(request: HttpRequest, found: Match | None) -> HttpResponse:
        path = request.path
        special = builtins.get(path)
        if special is not None and request.method == "GET":
            request.route = path
            return await special(request)
        if debug_on and (path == "/__debug" or path.startswith("/__debug/")):
            request.route = "/__debug/"
            return await builtin.debug(request, debug_log)
        if echo_on and (path == "/__echo" or path.startswith("/__echo/")):
            request.route = "/__echo/"
            return await builtin.echo(request)
        if request.method != "CONNECT":
            target = router.redirect_target(
                path, request.method, trailing_slash=redirect_slash, fixed_path=redirect_fixed
            )
            if target is not None:
                code = 301 if request.method == "GET" else 307
                location = target + ("?" + request.query_string if request.query_string else "")
                if code == 301:  # Go's http.Redirect writes a short HTML body for GET
                    return HttpResponse(
                        code,
                        {"Location": location, "Content-Type": "text/html; charset=utf-8"},
                        f'<a href="{html.escape(location)}">Moved Permanently</a>.\n\n'.encode(),
                    )
                return HttpResponse(code, {"Location": location})
        if found is not None and handle_405:
            return _fixed(405, "405 method not allowed", version, body405)
        return _fixed(404, "404 page not found", version, body404)

    return dispatch
