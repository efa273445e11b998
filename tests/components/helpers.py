"""Small helpers for component tests: a site for ``parse``, a JSON echo backend."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from krakenpy.components.base import Level, Site
from krakenpy.config.build import build_service


def site(namespace: str, level: Level = "endpoint", doc: dict[str, Any] | None = None) -> Site:
    """A :class:`Site` for ``namespace`` in a one-endpoint, one-backend service."""
    service = build_service(
        doc
        or {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://h"], "url_pattern": "/"}]}]}
    )
    endpoint = service.endpoints[0]
    backend = endpoint.backends[0]
    if level == "service":
        return Site(level, f"extra_config.{namespace}", service)
    if level == "endpoint":
        return Site(level, f"{endpoint.path}.extra_config.{namespace}", service, endpoint)
    return Site(level, f"{backend.path}.extra_config.{namespace}", service, endpoint, backend)


def json_app(data: dict[str, Any], status: int = 200, seen: list[web.Request] | None = None) -> web.Application:
    """A backend answering ``data`` on every path; records the requests it got in ``seen``."""

    async def handle(request: web.Request) -> web.Response:
        if seen is not None:
            seen.append(request)
        return web.json_response(data, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
