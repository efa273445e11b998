"""``plugin/http-server`` (service): KrakenD's server plugins, which wrap the whole HTTP handler (every
path, before the router). krakenpy builds in ``ip-filter`` and ``url-rewrite``; each reads the object
named after it. As lura wraps them, the first ``name`` is innermost and the last outermost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.components.plugin import built_in_names
from krakenpy.edge import EdgeHandler, EdgeMiddleware
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "ServerPlugins"]

NAMESPACE: Final = "plugin/http-server"


@dataclass(frozen=True, slots=True)
class ServerPlugins:
    #: (name, parsed options) in ``name`` order
    plugins: tuple[tuple[str, Any], ...] = ()


def _parsers() -> Mapping[str, Callable[[Mapping[str, Any], Site, str], Any]]:
    from krakenpy.components.plugin import ip_filter, url_rewrite

    return {"ip-filter": ip_filter.parse, "url-rewrite": url_rewrite.parse}


def _parse(raw: Mapping[str, Any], site: Site) -> ServerPlugins:
    names = built_in_names(raw, site, NAMESPACE)
    parsers = _parsers()
    plugins: list[tuple[str, Any]] = []
    issues: list[ConfigIssue] = []
    for name in names:
        value = raw.get(name)
        if not isinstance(value, Mapping):
            # KrakenD logs the plugin's error and serves without it: refused, or a filter would vanish
            issues.append(ConfigIssue(site.at(name), f"{name!r} is in name but its object is missing"))
            continue
        try:
            plugins.append((name, parsers[name](value, site, site.at(name))))
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return ServerPlugins(tuple(plugins))


async def _edge(options: ServerPlugins | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    from krakenpy.components.plugin.ip_filter import ip_filter
    from krakenpy.components.plugin.url_rewrite import url_rewrite

    if options is None or not options.plugins:
        return None
    built = [ip_filter(opts) if name == "ip-filter" else url_rewrite(opts) for name, opts in options.plugins]

    def middleware(handler: EdgeHandler) -> EdgeHandler:
        for wrap in built:  # the first named wraps the router, the last everything
            handler = wrap(handler)
        return handler

    return middleware


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="KrakenD's server plugins, built in by name: ip-filter (403 outside/inside CIDR), url-rewrite "
    "(literal and regexp paths before the router); other names need Go",
    edition="ce",
    edge=_edge,
    strict=False,
)
