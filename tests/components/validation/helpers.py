"""A loopback backend that records what reached it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

HITS = web.AppKey("hits", list)

SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 2}, "age": {"type": "integer", "minimum": 0}},
}


def schema_config(
    host: str, extra: dict[str, Any] | None = None, *, msg: bool = True, **service: Any
) -> dict[str, Any]:
    """A POST /users endpoint validated by SCHEMA (plus ``extra`` namespaces) in front of ``host``."""
    ep = {
        "endpoint": "/users",
        "method": "POST",
        "backend": [{"url_pattern": "/create", "method": "POST"}],
        "extra_config": {"validation/json-schema": SCHEMA, **(extra or {})},
    }
    router = {"router": {"return_error_msg": True}} if msg else {}
    return {"version": 3, "host": [host], "endpoints": [ep], "extra_config": {**router, **service}}


async def echo(request: web.Request) -> web.Response:
    """Answers what it received (and records the path in ``app[HITS]``)."""
    request.app[HITS].append(request.path)
    body = await request.read()
    return web.json_response(
        {
            "path": request.path,
            "method": request.method,
            "body": body.decode("utf-8", "replace"),
            "tenant": request.headers.get("X-Tenant", ""),
            "n": 7,
        }
    )


def backend_app() -> web.Application:
    app = web.Application()
    app[HITS] = []
    app.router.add_route("*", "/{tail:.*}", echo)
    return app
