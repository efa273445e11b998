"""A loopback backend that records what reached it, and a stand-in for ``auth/validator``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiohttp import web

from krakenpy.components import registry
from krakenpy.components.base import Component, Site
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources

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


def _claims_from_header(raw: Any, site: Site) -> Any:
    return raw


async def _build_stub(options: Any, site: Site, resources: Resources) -> Middleware:
    def middleware(next_proxy: Proxy) -> Proxy:
        async def stub(request: Request) -> Response:
            # what auth/validator leaves behind: the verified claims (here: taken from a test header)
            roles = request.headers.get("X-Test-Roles")
            request.claims = None if roles is None else {"sub": "u1", "roles": roles[0].split(","), "exp": 4102444800}
            return await next_proxy(request)

        return stub

    return middleware


STUB_VALIDATOR = Component(
    namespace="auth/validator",
    levels=frozenset({"endpoint"}),
    parse=_claims_from_header,
    summary="test stand-in: claims from X-Test-Roles",
    endpoint=_build_stub,
)


@contextmanager
def stub_validator(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register the stand-in ``auth/validator`` first in the endpoint layer, as the real one will be."""
    others = tuple(c for c in registry.ALL if c.namespace != STUB_VALIDATOR.namespace)
    monkeypatch.setattr(registry, "ALL", (*others, STUB_VALIDATOR))
    layers = dict(registry.LAYER_ORDER)
    layers["endpoint"] = (STUB_VALIDATOR, *(c for c in registry.ENDPOINT if c.namespace != STUB_VALIDATOR.namespace))
    monkeypatch.setattr(registry, "LAYER_ORDER", layers)
    yield
