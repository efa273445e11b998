"""Lua modifiers (``modifier/lua-endpoint``, ``modifier/lua-proxy``, ``modifier/lua-backend``).

The pipeline asks three factories for middlewares; each returns ``None`` when its namespace is
absent, so an endpoint without Lua pays nothing.
"""

from __future__ import annotations

from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

__all__ = [
    "lua_backend_middleware",
    "lua_endpoint_middleware",
    "lua_proxy_middleware",
    "lua_service_middleware",
]


def lua_service_middleware(resources: Resources) -> Middleware | None:
    """Service-level ``modifier/lua-endpoint`` (router level, ``pre`` only)."""
    return None


def lua_endpoint_middleware(endpoint: EndpointConfig, resources: Resources) -> Middleware | None:
    """Endpoint-level ``modifier/lua-endpoint`` (router level, before the input filters)."""
    return None


def lua_proxy_middleware(endpoint: EndpointConfig, resources: Resources) -> Middleware | None:
    """``modifier/lua-proxy``: around the merge."""
    return None


def lua_backend_middleware(backend: BackendConfig, resources: Resources) -> Middleware | None:
    """``modifier/lua-backend``: around one backend executor (HTTP or Lambda)."""
    return None
