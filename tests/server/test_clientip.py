"""gin's ClientIP() with the router options: defaults trust every peer (spoofable), trusted_proxies fixes it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from krakenpy.config.options import RouterOptions
from krakenpy.server.clientip import client_ip_resolver, peer_address
from tests.cli_gateway import gateway_process
from tests.conftest import free_port


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
    assert log_ip(RouterOptions(trusted_proxies=("127.0.0.1",)))(request) == "203.0.113.7"
    assert log_ip(RouterOptions(trusted_proxies=("::ffff:127.0.0.0/120",)))(request) == "203.0.113.7"


def test_clientip_empty_lists_keep_gins_defaults_as_lura() -> None:
    # lura calls SetTrustedProxies / sets RemoteIPHeaders only for non-empty lists (router/gin/engine.go)
    from krakenpy.config.options import parse_router

    options = parse_router({"trusted_proxies": [], "remote_ip_headers": []}, "router")
    assert options.trusted_proxies is None and options.remote_ip_headers == ("X-Forwarded-For", "X-Real-Ip")
    assert client_ip_resolver(options)("203.0.113.9", _headers(x_forwarded_for="1.2.3.4")) == "1.2.3.4"  # type: ignore[arg-type]
    assert (
        client_ip_resolver(RouterOptions(trusted_proxies=()))("203.0.113.9", _headers(x_real_ip="1.2.3.4")) == "1.2.3.4"
    )  # type: ignore[arg-type]


def test_clientip_peer_address_is_gos_remote_addr() -> None:
    assert peer_address("::ffff:203.0.113.9") == "203.0.113.9" and peer_address("203.0.113.9") == "203.0.113.9"
    assert peer_address("::1") == "::1" and peer_address("2001:db8::1") == "2001:db8::1" and peer_address("") == ""
    assert peer_address("::1.2.3.4") == "::102:304"  # Go writes an IPv4-compatible address in hex too


_PEERS = ("203.0.113.9", "10.0.0.5", "127.0.0.1", "::1", "2001:db8::7", "fd00::5", "")
_HEADER_VALUES = (None, "", "1.2.3.4", "1.2.3.4, 10.0.0.7", "6.6.6.6, 203.0.113.7, 10.1.1.1", "1.2.3.4, bogus",
                  "bogus", " 2001:db8::9 ", "::ffff:10.0.0.8", "10.0.0.1,10.0.0.2", "1.2.3.4,,5.6.7.8")  # fmt: skip
_OPTIONS = (
    RouterOptions(),
    RouterOptions(trusted_proxies=()),
    RouterOptions(trusted_proxies=("10.0.0.0/8",)),
    RouterOptions(trusted_proxies=("10.0.0.0/8", "::1", "fd00::/8")),
    RouterOptions(trusted_proxies=("::ffff:10.0.0.0/104",)),
    RouterOptions(forwarded_by_client_ip=False),
    RouterOptions(remote_ip_headers=("X-Client",), trusted_proxies=("127.0.0.1",)),
    RouterOptions(remote_ip_headers=("X-Real-Ip", "X-Forwarded-For")),
)


def test_clientip_telemetry_agrees_with_the_server_resolver() -> None:
    # one gin ClientIP: the access log's (its shortcut for KrakenD's defaults included) must give the
    # answer of rate limits, the ip filter and X-Forwarded-For to backends for every peer, header and option
    import itertools

    from multidict import CIMultiDict, CIMultiDictProxy

    from krakenpy.edge import HttpRequest
    from krakenpy.telemetry.clientip import client_ip_resolver as log_ip

    names = ("X-Forwarded-For", "X-Real-Ip", "X-Client")
    checked = 0
    for options in _OPTIONS:
        server, log = client_ip_resolver(options), log_ip(options)
        for peer, values in itertools.product(_PEERS, itertools.product(_HEADER_VALUES[:6], repeat=2)):
            for pair in ((names[0], names[1]), (names[2], names[0])):
                sent = CIMultiDict((n, v) for n, v in zip(pair, values, strict=True) if v is not None)
                request = HttpRequest("GET", "/", "", CIMultiDictProxy(sent), remote=peer)
                want = server(peer, sent.get)
                assert log(request) == want, (options, peer, sent)
                checked += 1
        for peer, value in itertools.product(_PEERS, _HEADER_VALUES):
            sent = CIMultiDict({"X-Forwarded-For": value} if value is not None else {})
            request = HttpRequest("GET", "/", "", CIMultiDictProxy(sent), remote=peer)
            assert log(request) == server(peer, sent.get), (options, peer, sent)
    assert checked > 1000


@pytest.mark.parametrize("router", [{}, {"trusted_proxies": ["10.0.0.0/8"]}])
def test_clientip_dual_stack_listener_logs_an_ipv4_peer_as_gin(tmp_path: Path, router: dict[str, object]) -> None:
    # listen_ip "::": an IPv4 client arrives as ::ffff:127.0.0.1; Go's RemoteAddr (and gin's line) says 127.0.0.1
    port = free_port()
    log = tmp_path / "access.log"
    doc = {
        "version": 3, "port": port, "listen_ip": "::", "echo_endpoint": True,
        "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:8000"], "url_pattern": "/"}]}],
        "extra_config": {"router": router,
                         "telemetry/access_log": {"stdout": False, "file": str(log)}},
    }  # fmt: skip
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    with gateway_process(tmp_path / "krakend.json", port=port):
        spoofed = {"X-Forwarded-For": "6.6.6.6"} if router else {}  # an untrusted peer's header is not read
        request = urllib.request.Request(f"http://127.0.0.1:{port}/__echo/x", headers=spoofed)
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
    lines = [line for line in log.read_text().splitlines() if "/__echo/x" in line]
    assert len(lines) == 1 and lines[0].split("|")[3].strip() == "127.0.0.1", lines
