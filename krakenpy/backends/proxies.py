"""Which backend calls go through an HTTP proxy: Go's ``http.ProxyFromEnvironment``, which KrakenD's
backend transport uses, and KrakenD Enterprise's per-backend ``proxy_address``.

The environment is read once per gateway: ``HTTP_PROXY`` for ``http://`` URLs, ``HTTPS_PROXY`` for
``https://`` ones (upper case first, then lower case), ``NO_PROXY`` (``*``, IPs, CIDRs, domains that
also match their subdomains, ``.domain`` for subdomains only, each with an optional port). As in Go,
``localhost`` and loopback addresses are never proxied, a proxy without a scheme is ``http://``, and
``HTTP_PROXY`` is ignored when ``REQUEST_METHOD`` is set (a CGI environment; Go refuses those calls,
krakenpy calls directly). Without any proxy variable nothing here runs: every call keeps the fast
client.

A proxy URL is parsed once: its credentials become the ``Proxy-Authorization`` header krakenpy writes
itself (on the request to an ``http://`` backend, on the CONNECT of an ``https://`` one, never inside
the tunnel), so the URL aiohttp holds (and may quote in an error) never carries them; a URL that does not
parse fails the calls with a fixed text that never repeats it.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

from krakenpy.hostport import split_host_port

__all__ = ["Proxies", "Proxy", "from_environment", "parse_proxy", "proxy_url"]

_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
#: proxy schemes the upstream client speaks (aiohttp: HTTP proxies, plain or over TLS)
SUPPORTED: Final = frozenset({"http", "https"})


def proxy_url(value: str) -> str:
    """A proxy setting as Go reads it: without a known scheme it is ``http://`` + the value."""
    scheme, sep, _ = value.partition("://")
    if not sep or scheme.lower() not in {"http", "https", "socks5", "socks5h"}:
        return "http://" + value
    return value


@dataclass(frozen=True, slots=True)
class Proxy:
    """A proxy as the client uses it: its URL without credentials, the ``Proxy-Authorization`` value
    they make, or why it cannot be used (``error``: the calls fail with it)."""

    url: str
    authorization: str | None = None
    error: str = ""


def parse_proxy(value: str) -> Proxy:
    """A proxy setting (``HTTP_PROXY``, ``proxy_address``) parsed once; errors never quote it."""
    full = proxy_url(value.strip())
    try:
        parts = urlsplit(full)
        host, port = parts.hostname, parts.port
    except ValueError:
        return Proxy("", error="invalid proxy URL")
    if not host or parts.path not in ("", "/") or parts.query or parts.fragment:
        return Proxy("", error="invalid proxy URL")
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED:
        return Proxy("", error="proxy scheme not supported (only http and https proxies)")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    netloc = f"[{host}]" if ":" in host else host
    return Proxy(f"{scheme}://{netloc}" + (f":{port}" if port else ""), authorization)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` is, if any; an IPv4-mapped IPv6 address is its IPv4 one (as Go's ``net.IP``)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _ascii(host: str) -> str:
    """A host name in its ASCII (IDNA) form, as Go compares them."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


@dataclass(frozen=True)
class _NoProxy:
    everything: bool
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    ips: tuple[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str], ...]
    #: (".domain", port, whether "domain" itself matches too)
    domains: tuple[tuple[str, str, bool], ...]

    @classmethod
    def parse(cls, value: str) -> _NoProxy:
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        ips: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str]] = []
        domains: list[tuple[str, str, bool]] = []
        for raw in value.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return cls(True, (), (), ())
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    pass
                continue
            host, port = split_host_port(entry)
            if not host:
                continue
            ip = _ip(host)
            if ip is not None:
                ips.append((ip, port))
                continue
            if host.startswith("*."):
                host = host[1:]
            whole = not host.startswith(".")
            domains.append(("." + _ascii(host.lstrip(".")), port, whole))
        return cls(False, tuple(networks), tuple(ips), tuple(domains))

    def bypass(self, host: str, port: str) -> bool:
        if self.everything:
            return True
        ip = _ip(host)
        if ip is not None:
            if any(ip in network for network in self.networks):
                return True
            if any(ip == other and (not p or p == port) for other, p in self.ips):
                return True
        for suffix, p, whole in self.domains:
            if (host.endswith(suffix) or (whole and host == suffix[1:])) and (not p or p == port):
                return True
        return False


@dataclass(frozen=True)
class Proxies:
    """The proxy settings of the environment; :meth:`for_url` is Go's per-request decision."""

    http: Proxy | None
    https: Proxy | None
    no_proxy: _NoProxy

    def for_url(self, url: str) -> Proxy | None:
        """The proxy a call to ``url`` goes through, or None (direct)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None:
            return None
        host = _ascii((parts.hostname or "").lower())
        try:
            port = str(parts.port or _DEFAULT_PORTS.get(scheme, ""))
        except ValueError:
            return None  # not a usable URL: the call fails on its own
        if host == "localhost":
            return None
        ip = _ip(host)
        if ip is not None and ip.is_loopback:
            return None
        return None if self.no_proxy.bypass(host, port) else proxy


def _first(env: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return ""


def from_environment(env: Mapping[str, str] | None = None) -> Proxies | None:
    """The proxy settings of ``env`` (the process environment), or None when no proxy is set."""
    env = os.environ if env is None else env
    cgi = bool(env.get("REQUEST_METHOD"))
    http = "" if cgi else _first(env, "HTTP_PROXY", "http_proxy")
    https = _first(env, "HTTPS_PROXY", "https_proxy")
    if not http and not https:
        return None
    no_proxy = _NoProxy.parse(_first(env, "NO_PROXY", "no_proxy"))
    return Proxies(parse_proxy(http) if http else None, parse_proxy(https) if https else None, no_proxy)
