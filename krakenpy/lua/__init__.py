"""Lua modifiers (``modifier/lua-endpoint``, ``modifier/lua-proxy``, ``modifier/lua-backend``).

The pipeline asks four factories for middlewares; each returns ``None`` when its namespace is
absent, so an endpoint without Lua pays nothing. Scripts are compiled at startup (syntax errors,
missing files and md5 mismatches are :class:`~krakenpy.errors.ConfigError` at their JSON path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.lua.modifier import proxy_middleware, router_middleware
from krakenpy.lua.script import build_script
from krakenpy.proxy.types import Middleware

if TYPE_CHECKING:
    from krakenpy.resources import Resources

__all__ = [
    "lua_backend_middleware",
    "lua_endpoint_middleware",
    "lua_proxy_middleware",
    "lua_service_middleware",
]

ENDPOINT_NS: Final = "modifier/lua-endpoint"
PROXY_NS: Final = "modifier/lua-proxy"
BACKEND_NS: Final = "modifier/lua-backend"


def _namespace(extra: Mapping[str, Any], namespace: str) -> Any:
    return extra.get(namespace) if extra else None


def lua_service_middleware(resources: Resources) -> Middleware | None:
    """Service-level ``modifier/lua-endpoint`` (router level, ``pre`` only)."""
    raw = _namespace(resources.service.extra_config, ENDPOINT_NS)
    if raw is None:
        return None
    return router_middleware(build_script(raw, resources, f"extra_config.{ENDPOINT_NS}"), service_level=True)


def lua_endpoint_middleware(endpoint: EndpointConfig, resources: Resources) -> Middleware | None:
    """Endpoint-level ``modifier/lua-endpoint`` (router level, before the input filters)."""
    raw = _namespace(endpoint.extra_config, ENDPOINT_NS)
    if raw is None:
        return None
    script = build_script(raw, resources, f"{endpoint.path}.extra_config.{ENDPOINT_NS}")
    return router_middleware(script, service_level=False)


def lua_proxy_middleware(endpoint: EndpointConfig, resources: Resources) -> Middleware | None:
    """``modifier/lua-proxy``: around the merge."""
    raw = _namespace(endpoint.extra_config, PROXY_NS)
    if raw is None:
        return None
    return proxy_middleware(build_script(raw, resources, f"{endpoint.path}.extra_config.{PROXY_NS}"))


def lua_backend_middleware(backend: BackendConfig, resources: Resources) -> Middleware | None:
    """``modifier/lua-backend``: around one backend executor (HTTP or Lambda)."""
    raw = _namespace(backend.extra_config, BACKEND_NS)
    if raw is None:
        return None
    return proxy_middleware(build_script(raw, resources, f"{backend.path}.extra_config.{BACKEND_NS}"))
