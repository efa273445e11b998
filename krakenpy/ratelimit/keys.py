"""How a client is named for its bucket (krakend-ratelimit ``router/gin/tokenextractor.go``), plus
krakenpy's ``jwt`` strategy (KrakenD Enterprise's name): a claim of the verified token.

An empty name means "over the limit": a request without the header, parameter or claim gets 429.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from krakenpy.names import canonical_header, capitalize
from krakenpy.proxy.types import Request
from krakenpy.server.clientip import parse_ip

__all__ = ["KeyExtractor", "STRATEGIES", "key_extractor"]

#: the client's name for one request; "" when it has none
KeyExtractor: TypeAlias = Callable[[Request], str]
STRATEGIES = ("ip", "header", "param", "jwt")


def _first(request: Request, header: str) -> str:
    values = request.headers.get(header)
    return values[0] if values else ""


def _ip(request: Request) -> str:
    return request.client_ip


def _ip_from(header: str) -> KeyExtractor:
    name = canonical_header(header)

    def extract(request: Request) -> str:
        text = _first(request, name).split(",", 1)[0].strip()
        if text:
            ip = text.split(":", 1)[0]  # as KrakenD: an IPv6 value never matches and falls back
            if parse_ip(ip) is not None:
                return ip
        return request.client_ip

    return extract


def _header(header: str) -> KeyExtractor:
    name = canonical_header(header)
    return lambda request: _first(request, name)


def _param(param: str) -> KeyExtractor:
    name = capitalize(param)
    return lambda request: request.params.get(name, "")


def _claim(claim: str) -> KeyExtractor:
    def extract(request: Request) -> str:
        claims = request.claims
        if not claims:
            return ""
        value = claims.get(claim)
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return ""  # absent, or not a scalar a client could be named by

    return extract


def key_extractor(strategy: str, key: str) -> KeyExtractor | None:
    """The extractor of a (lower-cased) strategy; ``None`` for an unknown one."""
    if strategy == "ip":
        return _ip_from(key) if key else _ip
    if strategy == "header":
        return _header(key)
    if strategy == "param":
        return _param(key)
    if strategy == "jwt":
        return _claim(key)
    return None
