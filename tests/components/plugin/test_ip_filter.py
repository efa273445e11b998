"""The ip-filter plugin as a ``listen_ip: "::"`` server hands it requests: IPv4-mapped peers, proxies
and CIDRs are IPv4 (as in Go), and every line of a client-address header is read."""

from __future__ import annotations

import asyncio
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.components.plugin.ip_filter import IpFilterOptions, ip_filter
from krakenpy.edge import HttpRequest, HttpResponse


def _filtered(cidr: list[str], peer: str, headers: list[tuple[str, str]], **options: Any) -> int:
    """The ip-filter middleware alone, as a ``listen_ip: "::"`` server hands it a request."""

    async def ok(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200)

    handler = ip_filter(IpFilterOptions(tuple(cidr), **options))(ok)
    request = HttpRequest("GET", "/", "", CIMultiDictProxy(CIMultiDict(headers)), remote=peer)
    return asyncio.run(handler(request)).status  # type: ignore[arg-type]


def test_ip_filter_ipv4_mapped_peer_is_a_trusted_proxy() -> None:
    trusted = {"trusted_proxies": ("127.0.0.1",), "client_ip_headers": ("X-Real-IP",)}
    # an IPv4 balancer seen through a dual-stack socket: its X-Real-IP is believed
    assert _filtered(["10.0.0.0/8"], "::ffff:127.0.0.1", [("X-Real-IP", "10.1.1.1")], **trusted) == 403
    assert _filtered(["10.0.0.0/8"], "::ffff:127.0.0.1", [("X-Real-IP", "8.8.8.8")], **trusted) == 200
    allow = {"allow": True, **trusted}
    assert _filtered(["10.0.0.0/8"], "::ffff:127.0.0.1", [("X-Real-IP", "10.1.1.1")], **allow) == 200
    # the peer itself, mapped, is checked as IPv4
    assert _filtered(["192.0.2.0/24"], "::ffff:192.0.2.7", [], client_ip_headers=()) == 403


def test_ip_filter_ipv4_mapped_cidr_matches_ipv4_clients() -> None:
    for peer in ("10.0.0.1", "::ffff:10.0.0.1"):
        assert _filtered(["::ffff:10.0.0.0/104"], peer, [], client_ip_headers=()) == 403, peer
    assert _filtered(["::ffff:10.0.0.0/104"], "11.0.0.1", [], client_ip_headers=()) == 200
    assert _filtered(["::ffff:10.0.0.1"], "10.0.0.1", [], client_ip_headers=()) == 403


def test_ip_filter_reads_every_forwarded_for_line() -> None:
    trusted = {"trusted_proxies": ("127.0.0.1",), "client_ip_headers": ("X-Forwarded-For",)}
    # the client forged the first line; the trusted proxy added the second with the real address
    lines = [("X-Forwarded-For", "8.8.8.8"), ("X-Forwarded-For", "10.1.1.1")]
    assert _filtered(["10.0.0.0/8"], "127.0.0.1", lines, **trusted) == 403
    assert _filtered(["10.0.0.0/8"], "127.0.0.1", lines, allow=True, **trusted) == 200
