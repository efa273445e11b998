"""krakenpy's edge on aiohttp's low-level server: the one place (with the runner) that knows aiohttp's
request and response types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from krakenpy.edge import EdgeHandler, HttpRequest

__all__ = ["AiohttpHandler", "aiohttp_handler", "edge_request"]

AiohttpHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def edge_request(request: web.BaseRequest) -> HttpRequest:
    """aiohttp's request as krakenpy's :class:`~krakenpy.edge.HttpRequest`."""
    raw_path = request.raw_path
    return HttpRequest(
        request.method,
        request.path,
        raw_path.partition("?")[2],
        request.headers,
        remote=request.remote or "",
        host=request.host,
        scheme=request.scheme,
        has_body=request.body_exists,
        content_length=request.content_length,
        read=request.content.read,
        raw_path=raw_path,
    )


def aiohttp_handler(edge: EdgeHandler) -> AiohttpHandler:
    """Serve ``edge`` with aiohttp: convert the request, await the edge, write its response."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        response = await edge(edge_request(request))
        return web.Response(status=response.status, body=response.body, headers=response.headers)

    return handle
