"""From the edge request to the pipeline's :class:`~krakenpy.proxy.types.Request` (lura
``router/gin/endpoint.go`` ``NewRequest``): header and query allow-lists, ``X-Forwarded-*`` and
the gateway's ``User-Agent``; the client IP is :mod:`krakenpy.server.clientip`'s."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from krakenpy.config.model import EndpointConfig
from krakenpy.names import USER_AGENT, canonical_header
from krakenpy.proxy.types import Headers, Middleware, Proxy, Request, Response

__all__ = [
    "collect_headers",
    "guard_headers",
    "guard_names",
    "input_filter_middleware",
    "param_problem",
    "user_agent",
]

#: client headers that describe this hop only; never copied to a backend even with ``"*"``
_NOT_FORWARDED = frozenset(
    {"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"}
)
_HEX = frozenset("0123456789abcdefABCDEF")


def collect_headers(raw: Mapping[str, str], allowed: tuple[str, ...] | None) -> Headers:
    """The client headers a backend may see: all of them (``allowed`` None) but this hop's (the
    hop-by-hop set and the names listed in ``Connection``), or the allow-listed canonical names."""
    headers: Headers = {}
    if allowed is None:
        skip = _NOT_FORWARDED
        connection = raw.get("Connection")
        if connection:  # RFC 9110 7.6.1: the headers it names are this hop's too
            skip = skip | {canonical_header(token.strip()) for token in connection.split(",")}
        for name, value in raw.items():
            key = canonical_header(name)
            if key not in skip:
                headers.setdefault(key, []).append(value)
        return headers
    getall = raw.getall  # type: ignore[attr-defined]
    for name in allowed:
        values = getall(name, None)
        if values:
            headers[name] = list(values)
    return headers


def guard_names(names: Iterable[str]) -> tuple[str, ...]:
    """The headers endpoint guards may read, deduplicated; this hop's are never part of the request."""
    return tuple(name for name in dict.fromkeys(names) if name not in _NOT_FORWARDED)


def guard_headers(raw: Mapping[str, str], names: tuple[str, ...]) -> Headers:
    """The client headers ``names`` (from :func:`guard_names`) as the unfiltered request would hold
    them: without those the ``Connection`` header lists."""
    getall = raw.getall  # type: ignore[attr-defined]
    headers: Headers = {}
    for name in names:
        values = getall(name, None)
        if values:  # a fresh list already: guards only read it
            headers[name] = values
    connection = raw.get("Connection")
    if connection and headers:
        for token in connection.split(","):
            headers.pop(canonical_header(token.strip()), None)
    return headers


def user_agent(headers: Headers) -> None:
    """KrakenD's rule: the gateway's User-Agent, or ``X-Forwarded-Via`` when the client's is forwarded."""
    if "User-Agent" in headers:
        headers["X-Forwarded-Via"] = [USER_AGENT]
    else:
        headers["User-Agent"] = [USER_AGENT]


def input_filter_middleware(endpoint: EndpointConfig) -> Middleware:
    """Apply the endpoint ``input_headers`` / ``input_query_strings`` to a request that was built
    unfiltered (because an endpoint-layer component had to see everything first)."""
    all_headers = "*" in endpoint.input_headers
    header_names = tuple(canonical_header(h) for h in endpoint.input_headers)
    all_query = "*" in endpoint.input_query_strings
    query_names = endpoint.input_query_strings

    def middleware(next_proxy: Proxy) -> Proxy:
        async def filtered(request: Request) -> Response:
            forwarded: Headers = {
                k: request.headers[k] for k in ("X-Forwarded-For", "X-Forwarded-Host") if k in request.headers
            }
            if not all_headers:
                request.headers = {k: request.headers[k] for k in header_names if k in request.headers}
            request.headers.update(forwarded)
            user_agent(request.headers)
            if not all_query:
                request.query = {k: request.query[k] for k in query_names if k in request.query}
            return await next_proxy(request)

        return filtered

    return middleware


def param_problem(value: str) -> str | None:
    """gin/lura's URL-param check: the 400 text for a param that is still encoded, else ``None``."""
    i = value.find("%")
    while i != -1:
        pair = value[i + 1 : i + 3]
        if len(pair) != 2 or not (pair[0] in _HEX and pair[1] in _HEX):
            return f'error: invalid URL escape "{value[i : i + 3]}"'
        i = value.find("%", i + 3)
    if "%" in value or "?" in value or "#" in value:
        return "error: encoded url params"
    return None
