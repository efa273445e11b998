"""The static web server at the edge (``server/static-filesystem``): paths under a prefix are files.

Like KrakenD Enterprise, it runs before the router: a matching path (not under a ``skip`` entry) is
answered here and never reaches an endpoint. Only GET and HEAD read files; other methods get 405.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from multidict import CIMultiDict

from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.server.app import go_redirect
from krakenpy.staticfs.files import FileAnswer, not_found, serve_path
from krakenpy.staticfs.paths import Folder, safe_parts

__all__ = ["StaticSite", "static_middleware"]

#: encoded bytes that would let one segment name another folder or a hidden byte
_ENCODED_SEPARATORS = ("%2f", "%5c", "%00")


@dataclass(frozen=True, slots=True)
class StaticSite:
    """One prefix served from one folder."""

    prefix: str
    folder: Folder
    skip: tuple[str, ...] = ()
    listing: bool = False
    max_size: int = 16 * 1024 * 1024

    def claims(self, path: str) -> bool:
        """Whether ``path`` is served from the folder (under the prefix, under no skip entry)."""
        return path.startswith(self.prefix) and not any(path.startswith(s) for s in self.skip)


def _http(answer: FileAnswer) -> HttpResponse:
    return HttpResponse(answer.status, CIMultiDict(answer.headers), answer.body)


def _method_not_allowed() -> HttpResponse:
    headers = CIMultiDict((("Allow", "GET, HEAD"), ("Content-Type", "text/plain; charset=utf-8")))
    return HttpResponse(405, headers, b"405 method not allowed\n")


async def serve_static(site: StaticSite, request: HttpRequest) -> HttpResponse:
    """The answer for a request the site claims."""
    method = request.method
    if method != "GET" and method != "HEAD":
        return _method_not_allowed()
    raw = request.raw_path.partition("?")[0].lower()
    if any(encoded in raw for encoded in _ENCODED_SEPARATORS):
        return _http(not_found())  # a segment must never carry its own separator (or a NUL)
    path = request.path
    parts = safe_parts(path[len(site.prefix) :])
    if parts is None:
        return _http(not_found())
    answer = await serve_path(
        site.folder,
        parts,
        method=method,
        header=request.headers.get,
        listing=site.listing,
        max_size=site.max_size,
        trailing_slash=path.endswith("/"),
    )
    if answer.location:
        return go_redirect(method, _redirect_target(path, answer.location), request.query_string, answer.status)
    return _http(answer)


def _redirect_target(path: str, location: str) -> str:
    """Go's ``localRedirect`` targets as absolute paths: ``./`` (from ``…/index.html``) is the folder,
    ``../name`` (a file asked with a trailing slash) drops the slash, ``name/`` adds it."""
    if location == "./":
        return path.rpartition("/")[0] + "/"
    if location.startswith("../"):
        return path.rstrip("/")
    return path + "/"


def static_middleware(sites: Sequence[StaticSite]) -> EdgeMiddleware:
    """Serve the paths the sites claim (the first claiming site wins); pass the rest to the router."""
    ordered = tuple(sites)

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        async def handle(request: HttpRequest) -> HttpResponse:
            path = request.path
            for site in ordered:
                if site.claims(path):
                    return await serve_static(site, request)
            return await next_handler(request)

        return handle

    return middleware
