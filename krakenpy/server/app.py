"""The router level: every compiled endpoint under krakenpy's gin-like router, plus 404/405,
redirects and the built-in endpoints, as one :data:`~krakenpy.edge.EdgeHandler`.

The built-ins are routes like any other, registered first as in KrakenD: ``/__health`` is a static
GET route, so it wins over a catch-all endpoint such as ``GET /{resource}``, and ``/__debug/*`` and
``/__echo/*`` are catch-all routes for gin's ``Any`` methods. A request costs one dict lookup (static
paths) before the endpoint's handler runs. This module works on krakenpy's own edge types;
:mod:`krakenpy.server.adapter` puts it on aiohttp.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

from multidict import CIMultiDict

from krakenpy.config.model import EndpointConfig, ServiceConfig
from krakenpy.edge import EdgeHandler, HttpRequest, HttpResponse
from krakenpy.server import builtin
from krakenpy.server.handler import EndpointHandler
from krakenpy.server.render import go_json
from krakenpy.server.router import Router, clean_path

__all__ = ["ANY_METHODS", "build_dispatch", "go_redirect"]

_Builtin = Callable[[HttpRequest], Awaitable[HttpResponse]]
#: gin's ``Any`` (the methods of ``/__debug/*`` and ``/__echo/*``)
ANY_METHODS = ("GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE")
_UNSAFE_PREFIX = re.compile(r"[^a-zA-Z0-9/-]+")
#: an endpoint path's parameter segment (``{id}``), as the router reads it
_PARAM_SEGMENT = re.compile(r"^\{[^}]+\}$")
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})
#: what Go's ``url.URL.EscapedPath`` leaves unescaped in a path (besides letters, digits, ``-_.~``)
_PATH_SAFE = "/$&+,:;=@"


def _fixed(status: int, text: str, version: str, custom: Any) -> HttpResponse:
    headers: CIMultiDict[str] = CIMultiDict((("X-Krakend", version), ("X-Krakend-Completed", "false")))
    if custom is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
        return HttpResponse(status, headers, go_json(custom))
    headers["Content-Type"] = "text/plain"
    return HttpResponse(status, headers, text.encode())


def _hex_non_ascii(text: str) -> str:
    """Go's ``hexEscapeNonASCII``: every byte >= 0x80 as ``%XX``."""
    if text.isascii():
        return text
    return "".join(
        c if ord(c) < 0x80 else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape")) for c in text
    )


def go_redirect(method: str, path: str, query: str, code: int) -> HttpResponse:
    """Go's ``http.Redirect`` to ``path?query`` as gin's ``redirectRequest`` calls it: the path
    escaped and cleaned (trailing slash kept), ``Content-Type`` and a short HTML body for GET
    (only the header for HEAD), nothing else (no KrakenD headers: gin answers before any handler)."""
    url = clean_path(quote(path, safe=_PATH_SAFE, errors="surrogateescape"))
    if query:
        url += "?" + query
    headers: dict[str, str] = {"Location": _hex_non_ascii(url)}
    if method in ("GET", "HEAD"):
        headers["Content-Type"] = "text/html; charset=utf-8"
    body = b""
    if method == "GET":
        text = "Moved Permanently" if code == 301 else "Temporary Redirect"
        body = f'<a href="{url.translate(_HTML)}">{text}</a>.\n\n'.encode("utf-8", "surrogateescape")
    return HttpResponse(code, headers, body)


def _prefixed(path: str, prefix: str | None) -> str:
    """gin's ``redirectTrailingSlash``: the path under a cleaned ``X-Forwarded-Prefix``."""
    if not prefix:
        return path
    cleaned = posixpath.normpath(re.sub("/+", "/", prefix))  # Go's path.Clean
    if cleaned == ".":
        return path
    return re.sub("/+", "/", _UNSAFE_PREFIX.sub("", cleaned)) + "/" + path


def _slash_target(path: str) -> str:
    return path[:-1] if len(path) > 1 and path.endswith("/") else path + "/"


def _options_route(allow: str, version: str) -> Callable[[HttpRequest, tuple[str, ...]], Awaitable[HttpResponse]]:
    async def answer(request: HttpRequest, values: tuple[str, ...]) -> HttpResponse:
        return HttpResponse(200, CIMultiDict((("Allow", allow), ("X-Krakend", version))), b"")

    return answer


def _add_option_routes(router: Router, routes: Sequence[tuple[EndpointConfig, EndpointHandler]], version: str) -> None:
    """``router.auto_options``: an OPTIONS route for every endpoint path, answering 200 with no body,
    the path's methods sorted in ``Allow`` and ``X-Krakend``. Added after the endpoints, as lura does:
    they count in a 405's ``Allow`` too. Paths that differ only in their parameters' names share one
    route (the router matches them alike): its ``Allow`` lists the methods of all of them."""
    methods: dict[str, tuple[str, list[str]]] = {}
    for endpoint, _ in routes:
        # a parameter's mark no endpoint segment can be (control bytes are refused in endpoint paths):
        # ``{}`` is a literal segment, no parameter (lura's too), and has a route of its own
        shape = "/".join("\0" if _PARAM_SEGMENT.match(s) else s for s in endpoint.endpoint.split("/"))
        methods.setdefault(shape, (endpoint.endpoint, []))[1].append(endpoint.method)
    for path, names in methods.values():
        router.add(path, "OPTIONS", _options_route(", ".join(sorted(set(names))), version))


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

    def builtin_route(answer: _Builtin) -> Callable[[HttpRequest, tuple[str, ...]], Awaitable[HttpResponse]]:
        def handle(request: HttpRequest, values: tuple[str, ...]) -> Awaitable[HttpResponse]:
            return answer(request)

        return handle

    # the built-ins first, as KrakenD registers them before the endpoints
    if not options.disable_health:
        router.add(options.health_path, "GET", builtin_route(builtin.health))

    async def debug_answer(request: HttpRequest) -> HttpResponse:
        return await builtin.debug(request, debug_log)  # the assembly's redacting log, when telemetry is on

    for enabled, prefix, answer in (
        (debug or service.debug_endpoint, "/__debug", debug_answer),
        (service.echo_endpoint, "/__echo", builtin.echo),
    ):
        if enabled:
            router.add_catch_all(prefix + "/", ANY_METHODS, builtin_route(answer))
            for method in ANY_METHODS:  # without the slash too (a documented convenience)
                router.add(prefix, method, builtin_route(answer))
    for endpoint, handle in routes:
        router.add(endpoint.endpoint, endpoint.method, handle)
    version = options.version_header
    if options.auto_options:
        _add_option_routes(router, routes, version)
    body404, body405 = options.error_body_404, options.error_body_405
    redirect_slash = not options.disable_redirect_trailing_slash
    redirect_fixed = not options.disable_redirect_fixed_path
    handle_405 = not options.disable_handle_method_not_allowed
    static = router.static
    match = router.match

    def dispatch(request: HttpRequest) -> Awaitable[HttpResponse]:
        # a plain function: an endpoint's coroutine is handed on without a wrapping layer
        found = static(request.path)
        if found is not None:
            handle = found.methods.get(request.method)
            if handle is not None:
                request.route = found.template
                return handle(request, ())
        found = match(request.path, request.method)
        if found is not None:
            request.route = found.template
            return found.methods[request.method](request, found.values)
        return fallback(request)

    async def fallback(request: HttpRequest) -> HttpResponse:
        path, method = request.path, request.method
        if method != "CONNECT" and path != "/" and method in router.method_order:
            code = 301 if method == "GET" else 307
            if redirect_slash and match(_slash_target(path), method) is not None:
                prefixed = _prefixed(path, request.headers.get("X-Forwarded-Prefix"))
                return go_redirect(method, _slash_target(prefixed), request.query_string, code)
            if redirect_fixed:
                target = router.redirect_target(path, method, trailing_slash=False, fixed_path=True)
                if target is not None:
                    return go_redirect(method, target, request.query_string, code)
        if handle_405:
            allowed = router.allowed(path)
            if allowed:
                response = _fixed(405, "405 method not allowed", version, body405)
                response.headers["Allow"] = ", ".join(allowed)
                return response
        return _fixed(404, "404 page not found", version, body404)

    return dispatch
