"""The Lua components' ``custom_error`` failures named by their namespace for the audit trail
(``policy.type`` ``modifier/lua-proxy``, ``modifier/lua-endpoint``, ``modifier/lua-backend``)."""

from __future__ import annotations

from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

__all__ = ["audited"]


def audited(middleware: Middleware, namespace: str, resources: Resources) -> Middleware:
    """``middleware`` as it is without an audit trail (decided at build: no frame added), else its
    ``custom_error`` failures tagged with ``namespace``."""
    if resources.options("", "telemetry/audit") is None:
        return middleware
    from krakenpy.lua.errors import tag_custom_errors

    return tag_custom_errors(middleware, namespace)
