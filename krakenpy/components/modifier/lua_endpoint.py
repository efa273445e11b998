"""``modifier/lua-endpoint`` (service, endpoint): a Lua ``pre`` script with ``ctx`` at router level,
before the endpoint's input filters (endpoint layer). The engine is :mod:`krakenpy.lua`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.modifier.lua_audit import audited
from krakenpy.proxy.types import Middleware, Proxy, TargetReader
from krakenpy.resources import Resources
from krakenpy.telemetry.layers.endpoint import endpoint_failures
from krakenpy.telemetry.setup import hub_for

if TYPE_CHECKING:  # the engine (lupa) is imported by parse/build: only configs with Lua load it
    from krakenpy.lua.script import LuaOptions

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> LuaOptions:
    from krakenpy.lua.script import parse_options

    # its post is never run (a warning says so): not compiled, as KrakenD never loads it (a syntax
    # error there refused a file the warning calls accepted); its type is the schema's
    return parse_options({k: v for k, v in raw.items() if k != "post"} if isinstance(raw, dict) else raw, site.path)


async def _endpoint(options: LuaOptions, site: Site, resources: Resources) -> Middleware | None:
    from krakenpy.lua.modifier import router_middleware
    from krakenpy.lua.script import compile_script

    # KrakenD: the service-level script is a gin engine middleware and always answers 500 on errors
    middleware = router_middleware(compile_script(options, resources, site.path), service_level=site.level == "service")
    if middleware is None:
        return None
    # above the proxy layer, whose telemetry logs the other scripts' errors: logged here, once
    script = audited(middleware, "modifier/lua-endpoint", resources)
    logged = endpoint_failures(hub_for(resources).redactor, site.endpoint.endpoint if site.endpoint else None)

    def with_failures(next_proxy: Proxy) -> Proxy:
        return logged(script(next_proxy))

    return TargetReader(with_failures)  # ctx:url() reads the client's raw target: the handler keeps it


COMPONENT: Final = Component(
    namespace="modifier/lua-endpoint",
    levels=frozenset({"service", "endpoint"}),
    parse=_parse,
    summary="Lua at router level: a pre script sees ctx before the input filters",
    endpoint=_endpoint,
    ignored={"post": "as in KrakenD: a router-level script runs only its pre"},
)
