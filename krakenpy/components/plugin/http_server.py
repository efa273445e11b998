"""``plugin/http-server`` (service): KrakenD's server plugins, which wrap the whole HTTP handler (every
path, before the router). krakenpy builds in ``ip-filter``, ``url-rewrite``, ``virtualhost``,
``wildcard``, ``geoip`` and ``static-filesystem`` (:mod:`krakenpy.staticfs`, as
``server/static-filesystem``); each reads the object named after it. As lura wraps them, the first
``name`` is innermost and the last outermost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.plugin import built_in_names
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "ServerPlugins"]

NAMESPACE: Final = "plugin/http-server"

Parse = Callable[[Mapping[str, Any], Site], Any]
Build = Callable[[Any, Site, Resources], Awaitable[EdgeMiddleware | None]]


@dataclass(frozen=True, slots=True)
class ServerPlugins:
    #: (name, parsed options) in ``name`` order
    plugins: tuple[tuple[str, Any], ...] = ()


def _static_parse(raw: Mapping[str, Any], site: Site) -> Any:
    from krakenpy.components.server.static_filesystem import COMPONENT as STATIC

    # the plugin listed folders (server/static-filesystem made it opt-in): kept unless set
    return STATIC.parse({"directory_listing": True, **raw}, site)


async def _static_build(options: Any, site: Site, resources: Resources) -> EdgeMiddleware | None:
    from krakenpy.components.server.static_filesystem import COMPONENT as STATIC

    assert STATIC.edge is not None
    return await STATIC.edge(options, site, resources)


def _plugins() -> Mapping[str, tuple[Parse, Build]]:
    """name → (parse, build); the modules imported when a config names a server plugin."""
    from krakenpy.components.plugin import geoip, ip_filter, url_rewrite, virtualhost, wildcard

    def sync(make: Callable[[Any], EdgeMiddleware]) -> Build:
        async def build(options: Any, site: Site, resources: Resources) -> EdgeMiddleware:
            return make(options)

        return build

    def rewriting(make: Callable[..., EdgeMiddleware]) -> Build:
        """A plugin that changes the path before routing: told whether an endpoint has a secret in its
        path (the telemetry's texts then need the path a request is routed by; none: no cost)."""

        async def build(options: Any, site: Site, resources: Resources) -> EdgeMiddleware:
            from krakenpy.telemetry.setup import hub_for

            return make(options, note=hub_for(resources).redactor.paths is not None)

        return build

    return {
        "ip-filter": (ip_filter.parse, sync(ip_filter.ip_filter)),
        "url-rewrite": (url_rewrite.parse, rewriting(url_rewrite.url_rewrite)),
        "virtualhost": (virtualhost.parse, rewriting(virtualhost.virtualhost)),
        "wildcard": (wildcard.parse, sync(wildcard.wildcard)),
        "static-filesystem": (_static_parse, _static_build),
        "geoip": (geoip.parse, geoip.build),
    }


async def _not_found() -> HttpResponse:
    return HttpResponse(404, {"Content-Type": "text/plain"}, b"404 page not found")


def _reserved(virtual: bool, wildcard: bool) -> EdgeMiddleware | None:
    """Around the router: a ``/__virtual/`` or ``/__wildcard/`` path its plugin did not produce (the
    client's own, or url-rewrite's) is 404, so a client can neither pick another host's endpoint nor
    call a receiving endpoint directly."""
    from krakenpy.components.plugin import virtualhost as vh
    from krakenpy.components.plugin import wildcard as wc

    rules = ([("/__virtual/", vh.CONTEXT_KEY)] if virtual else []) + (
        [("/__wildcard/", wc.CONTEXT_KEY)] if wildcard else []
    )
    if not rules:
        return None
    prefixes = tuple(prefix for prefix, _ in rules)

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        def handle(request: HttpRequest) -> Awaitable[HttpResponse]:
            path = request.path
            if path.startswith(prefixes):
                for prefix, key in rules:
                    if path.startswith(prefix) and key not in request.context:
                        return _not_found()
            return next_handler(request)

        return handle

    return middleware


def _at(site: Site, name: str) -> Site:
    """The plugin object's own site (its JSON path; notes land on the namespace's site)."""
    return replace(site, path=site.at(name))


def _parse(raw: Mapping[str, Any], site: Site) -> ServerPlugins:
    names = built_in_names(raw, site, NAMESPACE)
    table = _plugins() if names else {}
    plugins: list[tuple[str, Any]] = []
    issues: list[ConfigIssue] = []
    for name in names:
        value = raw.get(name)
        if not isinstance(value, Mapping):
            # KrakenD logs the plugin's error and serves without it: refused, or a filter would vanish
            issues.append(ConfigIssue(site.at(name), f"{name!r} is in name but its object is missing"))
            continue
        try:
            plugins.append((name, table[name][0](value, _at(site, name))))
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return ServerPlugins(tuple(plugins))


async def _edge(options: ServerPlugins | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    if options is None or not options.plugins:
        return None
    table = _plugins()
    built: list[EdgeMiddleware] = []
    for name, parsed in options.plugins:
        middleware = await table[name][1](parsed, _at(site, name), resources)
        if middleware is not None:
            built.append(middleware)

    names = {name for name, _ in options.plugins}
    reserved = _reserved("virtualhost" in names, "wildcard" in names)

    def wrap_all(handler: EdgeHandler) -> EdgeHandler:
        if reserved is not None:
            handler = reserved(handler)
        for wrap in built:  # the first named wraps the router, the last everything
            handler = wrap(handler)
        return handler

    return wrap_all


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="KrakenD's server plugins, built in by name: ip-filter (403), url-rewrite, virtualhost, wildcard, "
    "geoip, static-filesystem, all before the router; other names need Go",
    edition="ce",
    edge=_edge,
    # a typo inside a built-in plugin's object (ip-filter's "alow") is an error; other plugins' objects
    # are open (the schema's additionalProperties)
    strict=True,
)
