"""The ``wildcard`` plugin (KrakenD Enterprise): ``plugin/http-server`` routes every path under a
declared prefix (``/foo``, ``/foo/a/b``; never ``/foobar``) to one receiving endpoint
(``/__wildcard/foo``), and ``plugin/http-client``'s ``wildcard`` appends what followed the prefix to
that endpoint's backend path, escaped as the client sent it. The longest matching prefix wins; a
path with ``.`` or ``..`` segments (also ``..;x`` and ``\\`` separators) is never rewritten (it
could climb out of the backend's path).
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote

from krakenpy.components.base import Site
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import ConfigIssue
from krakenpy.proxy.types import Middleware, Proxy, Request, Response

__all__ = ["CONTEXT_KEY", "WildcardOptions", "append_rest", "parse", "wildcard"]

#: the request context key carrying the escaped rest of the path to the backend
CONTEXT_KEY: Final = "plugin.wildcard"
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True, slots=True)
class WildcardOptions:
    #: (prefix, receiving endpoint), longest prefix first
    routes: tuple[tuple[str, str], ...]


def parse(raw: Mapping[str, Any], site: Site) -> WildcardOptions:
    """Warns about a receiving endpoint the config does not declare (its traffic would answer 404)."""
    declared = {e.endpoint for e in site.service.endpoints}
    routes: list[tuple[str, str]] = []
    for target, prefixes in (raw.get("endpoints") or {}).items():
        if target not in declared:
            site.notes.append(
                ConfigIssue(
                    site.at("endpoints", target), f"no endpoint {target}: its wildcard paths answer 404", "warning"
                )
            )
        routes.extend((str(prefix).rstrip("/") or "/", str(target)) for prefix in prefixes)
    routes.sort(key=lambda route: len(route[0]), reverse=True)
    targets = {target for _, target in routes}
    for path in sorted(declared - targets):
        prefix = next((p for p, _ in routes if p == "/" or path == p or path.startswith(p + "/")), None)
        if prefix is not None and not path.startswith("/__"):
            site.notes.append(
                ConfigIssue(
                    site.at("endpoints"),
                    f"endpoint {path} is under the wildcard prefix {prefix}: the wildcard takes its requests "
                    "before the router (as in KrakenD), so the endpoint never runs",
                    "warning",
                )
            )
    return WildcardOptions(tuple(routes))


def _dotted(rest: str) -> bool:
    """A dot segment as some backend reads one: ``..;x`` (Tomcat's path parameters), ``\\`` as a
    separator (IIS, Windows), ``%2F`` decoded."""
    for segment in unquote(rest, errors="surrogateescape").replace("\\", "/").split("/"):
        if segment.partition(";")[0] in (".", ".."):
            return True
    return False


def _raw_rest(raw: str, prefix: str) -> str | None:
    """What follows ``prefix`` in the raw path, its escapes as the client sent them (``%2F`` stays in
    its segment, ``%3B`` stays text); ``None`` when no raw ``/`` ends the prefix (``/foo%2Fx``)."""
    if prefix == "/":
        return raw
    segments = raw.split("/")
    decoded = 0
    for i in range(1, len(segments)):
        decoded += 1 + len(unquote(segments[i], errors="surrogateescape"))
        if decoded == len(prefix):
            return "/" + "/".join(segments[i + 1 :]) if i + 1 < len(segments) else ""
        if decoded > len(prefix):
            return None
    return None


def wildcard(options: WildcardOptions) -> EdgeMiddleware:
    """The server side: rewrite the path, keep the rest for the backend."""
    routes = options.routes

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        def handle(request: HttpRequest) -> Awaitable[HttpResponse]:
            path = request.path
            for prefix, target in routes:
                if prefix == "/":
                    rest = path
                elif path == prefix or path.startswith(prefix + "/"):
                    rest = path[len(prefix) :]
                else:
                    continue
                target_raw = request.raw_path.partition("?")[0].partition("#")[0]
                if target_raw.startswith("/"):
                    raw_rest = _raw_rest(target_raw, prefix)
                    if raw_rest is None:
                        break
                    # escaped again only where the client left a character a URL cannot hold
                    escaped = quote(raw_rest, safe=_PATH_SAFE + "%", errors="surrogateescape")
                else:  # absolute-form target: the decoded path is all there is
                    escaped = quote(rest, safe=_PATH_SAFE, errors="surrogateescape")
                if _dotted(rest) or _dotted(escaped):
                    break
                request.context[CONTEXT_KEY] = escaped
                request.path = target
                query = request.query_string
                request.raw_path = quote(target, safe=_PATH_SAFE) + ("?" + query if query else "")
                break
            return next_handler(request)

        return handle

    return middleware


def append_rest() -> Middleware:
    """The client side: the backend's path and URL get the rest a wildcard route left, before the query."""

    def middleware(next_proxy: Proxy) -> Proxy:
        def proxy(request: Request) -> Coroutine[Any, Any, Response]:
            rest = request.context.get(CONTEXT_KEY)
            if rest:
                request.path += rest
                base, mark, query = request.url.partition("?")
                request.url = base + rest + mark + query
            return next_proxy(request)

        return proxy

    return middleware
