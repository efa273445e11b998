"""The lean edge layer's client address in its gin tuple: with the usual resolver (every peer trusted,
two headers: :class:`~krakenpy.telemetry.clientip.DirectIp`) the layer makes the resolver's "neither
header" answer inline; every other request, and every other resolver, goes through the resolver: the
address logged is the resolver's in every case."""

from __future__ import annotations

import contextvars
import io
from typing import Any

import pytest
from multidict import CIMultiDict

from krakenpy.config.options import RouterOptions
from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.server import clientip as server_clientip
from krakenpy.telemetry.clientip import DirectIp, client_ip_resolver
from krakenpy.telemetry.layers.edge_lean import EdgeParts, LeanEdge
from krakenpy.telemetry.writer import LineWriter

ROUTERS = [
    RouterOptions(),  # DirectIp
    RouterOptions(remote_ip_headers=("X-Client", "X-Other")),  # DirectIp, other names
    RouterOptions(trusted_proxies=("10.0.0.0/8",)),  # not direct
    RouterOptions(forwarded_by_client_ip=False),  # not direct
]
HEADERS: list[list[tuple[str, str]]] = [
    [],
    [("X-Forwarded-For", "203.0.113.7, 10.0.0.2")],
    [("X-Real-Ip", "198.51.100.4")],
    [("X-Client", "192.0.2.1")],
    [("X-Other", "192.0.2.2"), ("X-Forwarded-For", "192.0.2.3")],
    # empty values, several values of one header, spaces, other cases, what is no address
    [("X-Forwarded-For", "")],
    [("X-Forwarded-For", ""), ("X-Real-Ip", "")],
    [("X-Forwarded-For", ""), ("X-Real-Ip", "198.51.100.4")],
    [("x-forwarded-for", " 203.0.113.7 ,10.0.0.2 ")],
    [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-For", "198.51.100.9")],
    [("X-Forwarded-For", "not-an-ip"), ("X-REAL-IP", " 198.51.100.4 ")],
    [("X-Forwarded-For", " "), ("X-Other", "")],
    [("X-Forwarded-For", "203.0.113.7,,10.0.0.2")],
]


async def _unused(request: HttpRequest) -> HttpResponse:
    raise AssertionError


def test_the_usual_resolver_is_a_direct_one() -> None:
    assert isinstance(client_ip_resolver(RouterOptions()), DirectIp)
    assert not isinstance(client_ip_resolver(RouterOptions(trusted_proxies=("10.0.0.0/8",))), DirectIp)


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("headers", HEADERS)
@pytest.mark.parametrize("peer", ["10.0.0.9", "127.0.0.1"])
def test_the_logged_address_is_the_resolvers(router: RouterOptions, headers: list[tuple[str, str]], peer: str) -> None:
    resolve = client_ip_resolver(router)
    seen: list[Any] = []

    def render(entries: Any) -> bytes:
        seen.extend(entries)
        return b""

    writer = LineWriter(stream=io.StringIO())
    parts = EdgeParts(None, False, False, render, writer, frozenset(), str, resolve, str)
    edge = LeanEdge(parts, _unused)
    request = HttpRequest("GET", "/p", headers=CIMultiDict(headers), remote=peer)

    def served() -> None:  # the server's own call leaves ``CURRENT`` set: in a context of its own
        visit = edge.visit(request)
        edge.leave(visit, request, HttpResponse(200, CIMultiDict()), True)

    contextvars.copy_context().run(served)
    writer.flush()
    assert [entry[3] for entry in seen] == [resolve(request)]
    # the server's general resolver (rate limits, the ip filter, X-Forwarded-For to backends) agrees
    assert resolve(request) == server_clientip.client_ip_resolver(router)(peer, request.headers.get)
