"""gin's ClientIP() with the router options: defaults trust every peer (spoofable), trusted_proxies fixes it."""

from __future__ import annotations

import pytest

from krakenpy.config.options import RouterOptions
from krakenpy.server.clientip import client_ip_resolver


def _headers(**values: str) -> object:
    table = {k.replace("_", "-").lower(): v for k, v in values.items()}
    return lambda name: table.get(name.lower())


def test_clientip_defaults_take_leftmost_forwarded_for_spoofable() -> None:
    resolve = client_ip_resolver(RouterOptions())
    assert resolve("10.0.0.1", _headers(x_forwarded_for="6.6.6.6, 10.0.0.9")) == "6.6.6.6"  # type: ignore[arg-type]


def test_clientip_defaults_fall_back_to_real_ip_then_peer() -> None:
    resolve = client_ip_resolver(RouterOptions())
    assert resolve("10.0.0.1", _headers(x_real_ip="7.7.7.7")) == "7.7.7.7"  # type: ignore[arg-type]
    assert resolve("10.0.0.1", _headers()) == "10.0.0.1"  # type: ignore[arg-type]
    # a header with a non-address item is not valid: the next header is tried
    assert resolve("10.0.0.1", _headers(x_forwarded_for="junk", x_real_ip="7.7.7.7")) == "7.7.7.7"  # type: ignore[arg-type]


def test_clientip_forwarded_by_client_ip_off_uses_peer() -> None:
    resolve = client_ip_resolver(RouterOptions(forwarded_by_client_ip=False))
    assert resolve("10.0.0.1", _headers(x_forwarded_for="6.6.6.6")) == "10.0.0.1"  # type: ignore[arg-type]


def test_clientip_spoofed_forwarded_for_with_trusted_proxies() -> None:
    resolve = client_ip_resolver(RouterOptions(trusted_proxies=("10.0.0.0/8",)))
    # the client forged "6.6.6.6"; our proxy 10.0.0.5 appended the real client 203.0.113.7
    spoofed = _headers(x_forwarded_for="6.6.6.6, 203.0.113.7")
    assert resolve("10.0.0.5", spoofed) == "203.0.113.7"  # type: ignore[arg-type]
    # straight from the internet (peer not trusted): headers are ignored
    assert resolve("198.51.100.2", spoofed) == "198.51.100.2"  # type: ignore[arg-type]
    # a chain of trusted proxies is skipped from the right
    chain = _headers(x_forwarded_for="6.6.6.6, 203.0.113.7, 10.1.1.1")
    assert resolve("10.0.0.5", chain) == "203.0.113.7"  # type: ignore[arg-type]


def test_clientip_custom_headers_and_single_address_proxy() -> None:
    resolve = client_ip_resolver(RouterOptions(remote_ip_headers=("X-Client",), trusted_proxies=("127.0.0.1",)))
    assert resolve("127.0.0.1", _headers(x_client="192.0.2.1", x_forwarded_for="6.6.6.6")) == "192.0.2.1"  # type: ignore[arg-type]


def test_clientip_unparseable_or_missing_peer_is_empty() -> None:
    assert client_ip_resolver(RouterOptions(trusted_proxies=("10.0.0.0/8",)))("not-an-ip", _headers()) == ""  # type: ignore[arg-type]
    assert client_ip_resolver(RouterOptions())("", _headers()) == ""  # type: ignore[arg-type]


def test_clientip_bad_trusted_proxy_raises() -> None:
    with pytest.raises(ValueError):
        client_ip_resolver(RouterOptions(trusted_proxies=("nope",)))


def test_clientip_ipv4_mapped_peer_and_networks_are_ipv4() -> None:
    # a "::" listener sees IPv4 peers as ::ffff:a.b.c.d; the balancer is still trusted
    resolve = client_ip_resolver(RouterOptions(trusted_proxies=("127.0.0.1",)))
    assert resolve("::ffff:127.0.0.1", _headers(x_forwarded_for="203.0.113.7")) == "203.0.113.7"  # type: ignore[arg-type]
    assert resolve("::ffff:198.51.100.2", _headers(x_forwarded_for="6.6.6.6")) == "198.51.100.2"  # type: ignore[arg-type]
    mapped = client_ip_resolver(RouterOptions(trusted_proxies=("::ffff:10.0.0.0/104",)))
    assert mapped("10.0.0.5", _headers(x_forwarded_for="203.0.113.7")) == "203.0.113.7"  # type: ignore[arg-type]
    # a trusted hop written mapped in the header is skipped too
    assert resolve("127.0.0.1", _headers(x_forwarded_for="203.0.113.7, ::ffff:127.0.0.1")) == "203.0.113.7"  # type: ignore[arg-type]


def test_clientip_telemetry_resolver_trusts_an_ipv4_mapped_proxy() -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    from krakenpy.edge import HttpRequest
    from krakenpy.telemetry.clientip import client_ip_resolver as log_ip

    headers = CIMultiDictProxy(CIMultiDict({"X-Forwarded-For": "203.0.113.7"}))
    request = HttpRequest("GET", "/", "", headers, remote="::ffff:127.0.0.1")
    assert log_ip(trusted_proxies=["127.0.0.1"])(request) == "203.0.113.7"
    assert log_ip(trusted_proxies=["::ffff:127.0.0.0/120"])(request) == "203.0.113.7"
