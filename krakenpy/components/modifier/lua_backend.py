"""``modifier/lua-backend`` (backend): Lua ``pre``/``post`` scripts around one backend's call
(backend layer). The engine is :mod:`krakenpy.lua`."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.lua.modifier import proxy_middleware
from krakenpy.lua.script import LuaOptions, compile_script, parse_options
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> LuaOptions:
    return parse_options(raw, site.path)


async def _backend(options: LuaOptions, site: Site, resources: Resources) -> Middleware | None:
    return proxy_middleware(compile_script(options, resources, site.path))


COMPONENT: Final = Component(
    namespace="modifier/lua-backend",
    levels=frozenset({"backend"}),
    parse=_parse,
    summary="Lua pre/post scripts around one backend call (HTTP or Lambda)",
    backend=_backend,
)
