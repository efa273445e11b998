"""``modifier/lua-proxy`` (endpoint): Lua ``pre``/``post`` scripts around the endpoint's merge (proxy
layer). The engine is :mod:`krakenpy.lua`."""

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


async def _proxy(options: LuaOptions, site: Site, resources: Resources) -> Middleware | None:
    from krakenpy.lua.modifier import proxy_middleware
    from krakenpy.lua.script import compile_script

    middleware = proxy_middleware(compile_script(options, resources, site.path))
    return audited(middleware, "modifier/lua-proxy", resources)


COMPONENT: Final = Component(
    namespace="modifier/lua-proxy",
    levels=frozenset({"endpoint"}),
    parse=_parse,
    summary="Lua pre/post scripts around the endpoint's merge (request, response)",
    proxy=_proxy,
)
