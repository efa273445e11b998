"""The ``ip-filter`` plugin (KrakenD Enterprise, ``plugin/http-server``): every request, whatever its
path, is checked against ``CIDR`` before the router; a client outside an ``allow: true`` list, or
inside an ``allow: false`` one, gets 403 with an empty body.

The client address is gin's ``ClientIP`` (:mod:`krakenpy.server.clientip`) read from the plugin's own
``client_ip_headers`` and ``trusted_proxies``: without ``trusted_proxies`` every peer is trusted, so
a client chooses its address with ``X-Forwarded-For`` (a warning says so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from multidict import istr

from krakenpy.components.base import Site
from krakenpy.config.options import RouterOptions
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import ConfigError, ConfigIssue, Rejection
from krakenpy.server.clientip import client_ip_resolver, ip_network, parse_ip, trusted_proxy_problem
from krakenpy.telemetry.audit import EDGE_DENY

__all__ = ["DEFAULT_HEADERS", "IpFilterOptions", "ip_filter", "parse"]

#: the headers the plugin reads the client address from when ``client_ip_headers`` is not set
DEFAULT_HEADERS: Final = ("X-Forwarded-For", "X-Real-IP", "X-Appengine-Remote-Addr")
#: the most addresses whose decision is kept
_DECIDED: Final = 4096
#: the audit record's ``policy.type`` of a deny (the plugin is configured under this namespace)
_POLICY: Final = "plugin/http-server"


@dataclass(frozen=True, slots=True)
class IpFilterOptions:
    cidr: tuple[str, ...]
    allow: bool = False
    client_ip_headers: tuple[str, ...] = DEFAULT_HEADERS
    trusted_proxies: tuple[str, ...] = ()


def parse(raw: Mapping[str, Any], site: Site) -> IpFilterOptions:
    """Every ``CIDR`` and trusted proxy must be an address or a network (a bare address is a /32)."""
    issues: list[ConfigIssue] = []
    cidr = tuple(str(c) for c in raw.get("CIDR") or ())
    for i, entry in enumerate(cidr):
        try:
            ip_network(entry)
        except ValueError:
            issues.append(ConfigIssue(site.at("CIDR", i), f"{entry!r} is not an IP address or CIDR"))
    trusted = tuple(str(t) for t in raw.get("trusted_proxies") or ())
    for i, entry in enumerate(trusted):
        problem = trusted_proxy_problem(entry)
        if problem is not None:
            issues.append(ConfigIssue(site.at("trusted_proxies", i), problem))
    if issues:
        raise ConfigError(issues)
    headers = tuple(str(h) for h in raw["client_ip_headers"]) if "client_ip_headers" in raw else DEFAULT_HEADERS
    if headers and not trusted:
        site.notes.append(
            ConfigIssue(
                site.path,
                f"no trusted_proxies: every peer is trusted, so a client chooses the address checked with "
                f"{headers[0]} (as in KrakenD); list your load balancers in trusted_proxies",
                "warning",
            )
        )
    return IpFilterOptions(cidr, bool(raw.get("allow", False)), headers, trusted)


async def _forbidden() -> HttpResponse:
    return HttpResponse(403)


def ip_filter(options: IpFilterOptions) -> EdgeMiddleware:
    """The filter, its networks and client-address resolver compiled once."""
    resolve = client_ip_resolver(
        RouterOptions(
            forwarded_by_client_ip=bool(options.client_ip_headers),
            # istr names: the per-request lookups skip folding the names' case
            remote_ip_headers=tuple(istr(h) for h in options.client_ip_headers),
            trusted_proxies=options.trusted_proxies or None,
        )
    )
    # integer (network, mask) pairs: a membership test is two operations per network
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    for entry in options.cidr:
        net = ip_network(entry)  # an IPv4-mapped CIDR is IPv4, as Go reads it
        (v4 if net.version == 4 else v6).append((int(net.network_address), int(net.netmask)))
    nets4, nets6, allow = tuple(v4), tuple(v6), options.allow

    def listed(text: str) -> bool:
        ip = parse_ip(text)
        if ip is None:  # parse_ip reads ::ffff:a.b.c.d as IPv4, as Go does
            return False
        value = int(ip)
        return any(value & mask == net for net, mask in (nets4 if ip.version == 4 else nets6))

    # address → may call: parsing an address costs more than the rest of the filter, and clients come
    # back; bounded, so rotating forwarded addresses only empties it
    decided: dict[str, bool] = {}

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        def handle(request: HttpRequest) -> Awaitable[HttpResponse]:
            headers = request.headers

            def header(name: str) -> str | None:
                # every line of the header, in order: a proxy that adds its own X-Forwarded-For line
                # (HAProxy) puts the address it saw last, where a trusted_proxies walk looks for it
                lines = headers.getall(name, None)
                if not lines:
                    return None
                return lines[0] if len(lines) == 1 else ", ".join(lines)

            ip = resolve(request.remote, header)
            passes = decided.get(ip)
            if passes is None:
                if len(decided) >= _DECIDED:
                    decided.clear()
                passes = decided[ip] = listed(ip) is allow
            if passes:
                return next_handler(request)
            # the deny the audit trail records (the address the filter read may be a forwarded one)
            detail = f"client address {ip} refused by the ip-filter"
            request.context[EDGE_DENY] = Rejection(403, reason="ip_denied", policy=_POLICY, detail=detail)
            return _forbidden()

        return handle

    return middleware
