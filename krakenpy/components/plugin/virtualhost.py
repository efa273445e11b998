"""The ``virtualhost`` plugin (KrakenD Enterprise, ``plugin/http-server``): a request whose ``Host``
header is one of ``hosts`` (exactly, port included when the client sends one) is routed as
``/__virtual/{host}{path}``, so the same path can be a different endpoint per host. Other hosts are
routed unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.components.base import Site
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import ConfigIssue
from krakenpy.telemetry.exchange import note_routed

__all__ = ["CONTEXT_KEY", "VirtualHostOptions", "parse", "virtualhost"]

#: the request context key marking a path this plugin rewrote (other ``/__virtual/`` paths are 404)
CONTEXT_KEY: Final = "plugin.virtualhost"


@dataclass(frozen=True, slots=True)
class VirtualHostOptions:
    hosts: frozenset[str]


def parse(raw: Mapping[str, Any], site: Site) -> VirtualHostOptions:
    """Warns about a host no endpoint serves (every request to it would answer 404)."""
    hosts = frozenset(str(h) for h in raw.get("hosts") or ())
    paths = [e.endpoint for e in site.service.endpoints]
    for host in sorted(hosts):
        prefix = f"/__virtual/{host}/"
        if not any(p.startswith(prefix) for p in paths):
            site.notes.append(
                ConfigIssue(
                    site.at("hosts"),
                    f"no endpoint starts with {prefix}: every request to {host} answers 404",
                    "warning",
                )
            )
    return VirtualHostOptions(hosts)


def virtualhost(options: VirtualHostOptions, *, note: bool = False) -> EdgeMiddleware:
    """The rewrite; a request to another host costs one set lookup. ``note``: an endpoint has a secret
    in its path: the path a request is routed by is kept for the telemetry's texts
    (:func:`~krakenpy.telemetry.exchange.note_routed`)."""
    hosts = options.hosts

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        def handle(request: HttpRequest) -> Awaitable[HttpResponse]:
            host = request.host
            if host in hosts:
                request.context[CONTEXT_KEY] = host
                request.path = f"/__virtual/{host}{request.path}"
                raw = request.raw_path
                request.raw_path = f"/__virtual/{host}{raw}" if raw.startswith("/") else raw
            return next_handler(request)

        def noted(request: HttpRequest) -> Awaitable[HttpResponse]:
            if request.host in hosts:
                note_routed(request.context, f"/__virtual/{request.host}{request.path}")
            return handle(request)

        return noted if note else handle

    return middleware
