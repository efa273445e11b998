"""gin's ``ClientIP`` for the access log, spans and audit records, compiled from the ``router``
options: forwarded headers are read right to left and only through trusted proxies."""

from __future__ import annotations

import ipaddress
import weakref
from collections.abc import Callable, Sequence

from multidict import istr

from krakenpy.edge import HttpRequest
from krakenpy.server.clientip import ip_network, parse_ip

__all__ = ["client_ip_resolver", "direct_headers"]

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
#: the resolvers of KrakenD's defaults and their two header names (see :func:`direct_headers`)
_DIRECT: weakref.WeakKeyDictionary[Callable[[HttpRequest], str], tuple[istr, istr]] = weakref.WeakKeyDictionary()


def direct_headers(resolve: Callable[[HttpRequest], str]) -> tuple[istr, istr] | None:
    """The two header names of a resolver whose answer is the peer's address when the request
    carries neither (KrakenD's defaults), for a caller that checks them inline; else None."""
    return _DIRECT.get(resolve)


def client_ip_resolver(
    *,
    forwarded_by_client_ip: bool = True,
    remote_ip_headers: Sequence[str] = ("X-Forwarded-For", "X-Real-Ip"),
    trusted_proxies: Sequence[str] | None = None,
) -> Callable[[HttpRequest], str]:
    """``resolve(request) -> ip``; ``trusted_proxies=None`` trusts every peer (gin's default)."""
    nets: tuple[_Net, ...] | None = None
    if trusted_proxies is not None:
        parsed: list[_Net] = []
        for entry in trusted_proxies:
            try:
                parsed.append(ip_network(entry))
            except ValueError:
                continue
        nets = tuple(parsed)
    # istr names: the per-request lookups skip folding the names' case
    headers = tuple(istr(h) for h in remote_ip_headers) if forwarded_by_client_ip else ()

    def trusted(ip: str) -> bool:
        if nets is None:
            return True
        addr = parse_ip(ip)  # ::ffff:a.b.c.d (a "::" listener's IPv4 peer) is IPv4
        return addr is not None and any(addr in net for net in nets)

    def resolve(request: HttpRequest) -> str:
        remote = request.remote
        if not headers or (nets is not None and not trusted(remote)):
            return remote
        get = request.headers.get
        for name in headers:
            value = get(name)
            if not value:
                continue
            items = value.split(",")
            for i in range(len(items) - 1, -1, -1):
                ip = items[i].strip()
                try:
                    ipaddress.ip_address(ip)
                except ValueError:
                    break  # an invalid entry: this header cannot be trusted
                if i == 0 or not trusted(ip):
                    return ip
        return remote

    if nets is None and len(headers) == 2:  # KrakenD's defaults: most requests carry neither header
        first, second = headers

        def resolve_direct(request: HttpRequest) -> str:
            found = request.headers
            if first not in found and second not in found:
                return request.remote
            return resolve(request)

        _DIRECT[resolve_direct] = (first, second)
        return resolve_direct
    return resolve
