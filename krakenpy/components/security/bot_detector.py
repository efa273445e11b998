"""``security/bot-detector``: refuse bots by User-Agent with 403.

The service value runs at the edge (every route and the 404/405 answers, not ``GET`` of the health
path, which gin registers first); an endpoint value runs outermost in that endpoint's layer. Both
apply when both are set, each with its own LRU.
"""

from __future__ import annotations

from typing import Any, Final

from krakenpy.botdetect import BotOptions, Detector, bot_edge_middleware, bot_endpoint_middleware, parse_bot
from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.proxy.types import Middleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "security/bot-detector"
#: User-Agents a pattern matching everything also matches (a pattern matching "" alone may be ^$)
_PROBES: Final = ("", "Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "0")


def _parse(raw: Any, site: Site) -> BotOptions:
    return parse_bot(raw, site.path)


def _warn(options: BotOptions, site: Site, resources: Resources) -> None:
    for i, pattern in enumerate(options.patterns):
        if all(pattern.search(probe) for probe in _PROBES):
            resources.warnings.append(f"{site.at('patterns', i)}: matches every User-Agent: every request is a bot")


async def _edge(options: BotOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    if options is None:  # only endpoints declare one: the endpoint layer has them
        return None
    _warn(options, site, resources)
    router = site.service.router
    detector = Detector(options, "SERVICE")
    return bot_edge_middleware(detector, None if router.disable_health else router.health_path)


async def _endpoint(options: BotOptions, site: Site, resources: Resources) -> Middleware | None:
    if site.level != "endpoint" or site.endpoint is None:
        return None  # the service value acts at the edge, where 404 and 405 are covered too
    _warn(options, site, resources)
    return bot_endpoint_middleware(Detector(options, f"ENDPOINT: {site.endpoint.endpoint}"))


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=_parse,
    summary="403 for bots by User-Agent: exact allow/deny, Go regexps (RE2), LRU of decisions",
    edge=_edge,
    endpoint=_endpoint,
)
