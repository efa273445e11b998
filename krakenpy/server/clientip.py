"""gin's ``Context.ClientIP()`` as lura configures it from the ``router`` namespace.

With KrakenD's defaults (``forwarded_by_client_ip`` on, headers ``X-Forwarded-For`` then
``X-Real-Ip``, every peer trusted) the left-most ``X-Forwarded-For`` entry wins, so any client can
choose its own address: an ``ip`` rate limit is only as strong as ``router.trusted_proxies``. With
``trusted_proxies`` set, a header is read only when the peer itself is a trusted proxy, and the
header is walked from the right, stopping at the first address that is not a trusted proxy (the
client as seen by the last proxy you trust).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TypeAlias

from krakenpy.config.options import RouterOptions

__all__ = ["ClientIpResolver", "client_ip_resolver", "ip_network", "parse_ip", "peer_address", "trusted_proxy_problem"]

IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolve(peer, header)``: the client address from the peer address and a header getter
ClientIpResolver: TypeAlias = Callable[[str, Callable[[str], str | None]], str]


def parse_ip(text: str) -> IpAddress | None:
    """Go's ``net.ParseIP``: an IPv4 or IPv6 literal (no zone, no brackets), else ``None``. An
    IPv4-mapped address (``::ffff:a.b.c.d``, an IPv4 peer of a ``::`` listener) is its IPv4 address,
    as Go's ``IPNet.Contains`` and ``IP.String`` read it."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def peer_address(host: str) -> str:
    """A socket peer's host as Go's ``RemoteAddr`` writes it: an IPv4 peer of a ``::`` listener
    (``::ffff:a.b.c.d``) is ``a.b.c.d``; computed once per connection, so ``ClientIP`` and every log
    line see the address gin would."""
    if "." in host and ":" in host:  # only a mapped (or IPv4-compatible) IPv6 text has both
        ip = parse_ip(host)
        if ip is not None:
            return str(ip)
    return host


def ip_network(entry: str) -> IpNetwork:
    """An address or CIDR as Go's ``net.ParseCIDR`` + ``Contains`` read it: a bare address is a /32
    (/128), and an IPv4-mapped network of prefix 96 or more is the IPv4 network it maps
    (``::ffff:10.0.0.0/104`` is ``10.0.0.0/8``); raises ``ValueError``."""
    net = ipaddress.ip_network(entry.strip(), strict=False)
    if net.version == 6 and net.prefixlen >= 96 and net.network_address.ipv4_mapped is not None:
        return ipaddress.IPv4Network((net.network_address.ipv4_mapped, net.prefixlen - 96))
    return net


def _networks(entries: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    """gin ``prepareTrustedCIDRs``: a bare address is a /32 (/128) network."""
    return tuple(ip_network(entry) for entry in entries)


def trusted_proxy_problem(entry: str) -> str | None:
    """Why ``entry`` is not a trusted proxy (an address or a CIDR), or ``None`` when it is."""
    try:
        ip_network(entry)
    except ValueError:
        return f"{entry!r} is not an IP address or CIDR"
    return None


def client_ip_resolver(options: RouterOptions) -> ClientIpResolver:
    """Build the resolver once; raises ``ValueError`` for a trusted proxy that is not an address or CIDR."""
    headers = options.remote_ip_headers if options.forwarded_by_client_ip else ()
    # lura calls gin's SetTrustedProxies only for a non-empty list: ``[]`` keeps gin's default, every
    # peer trusted (luraproject/lura router/gin/engine.go, ``if len(ginOptions.TrustedProxies) > 0``)
    networks = _networks(options.trusted_proxies) if options.trusted_proxies else None

    def trusted(ip: IpAddress) -> bool:
        return networks is None or any(ip in net for net in networks)

    def from_header(value: str) -> str | None:
        items = value.split(",")
        for i in range(len(items) - 1, -1, -1):
            text = items[i].strip()
            ip = parse_ip(text)
            if ip is None:
                return None
            if i == 0 or not trusted(ip):  # proxies append: the first untrusted hop is the client
                return text
        return None

    def resolve(peer: str, header: Callable[[str], str | None]) -> str:
        if networks is not None:
            remote = parse_ip(peer)
            if remote is None:
                return ""
            if not trusted(remote):
                # Go writes the parsed address: only a mapped peer's text differs (str() costs ~3 µs)
                return str(remote) if "." in peer and ":" in peer else peer
        elif not peer:
            return ""  # the server hands over a valid address or nothing: no parse needed here
        for name in headers:
            value = header(name)
            if value:
                found = from_header(value)
                if found is not None:
                    return found
        return peer

    return resolve
