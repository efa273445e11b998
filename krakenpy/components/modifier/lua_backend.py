"""``modifier/lua-backend`` (backend): Lua ``pre``/``post`` scripts around one backend's call
(backend layer). The engine is :mod:`krakenpy.lua`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.modifier.lua_audit import audited
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

if TYPE_CHECKING:  # the engine (lupa) is imported by parse/build: only configs with Lua load it
    from krakenpy.lua.script import LuaOptions

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> LuaOptions:
    from krakenpy.lua.script import parse_options

    return parse_options(raw, site.path)


async def _backend(options: LuaOptions, site: Site, resources: Resources) -> Middleware | None:
    from krakenpy.lua.modifier import proxy_middleware
    from krakenpy.lua.script import compile_script

    middleware = proxy_middleware(compile_script(options, resources, site.path))
    return audited(middleware, "modifier/lua-backend", resources)


COMPONENT: Final = Component(
    namespace="modifier/lua-backend",
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="Lua pre/post scripts around one backend call (HTTP or Lambda)",
    backend=_backend,
)
