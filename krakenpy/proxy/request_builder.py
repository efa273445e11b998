"""Turn the endpoint request into one backend's request (lura ``proxy/request_builder.go`` and
``query_strings_filter.go``, ``headers_filter.go``, ``balancing.go``), compiled once per backend.

Placeholders (``{{.Id}}``) are filled from ``request.params``; an unknown key stays literal, as in
KrakenD. Unlike KrakenD's plain text replace, values are percent-encoded so that a parameter can
never add a path segment (``/``, ``.``/``..``), a query, a fragment or a CRLF to the backend URL
(documented difference). The URL is sent as built (the client must not re-normalise it).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

from krakenpy.config.model import BackendConfig
from krakenpy.names import canonical_header
from krakenpy.proxy.dynamic import HOST_VALUE, MissingRoutingInput
from krakenpy.proxy.types import CLIENT_TARGET, Headers, Middleware, Proxy, Query, Request, Response

__all__ = [
    "HostTemplate",
    "PathTemplate",
    "backend_request_builder",
    "backend_request_middleware",
    "encode_query",
    "literal_text",
    "query_changed",
]

_KEY = re.compile(r"\{\{\.([^}]+)\}\}")
_PATH_SAFE = "-._~!$&'()*+,;=:@"
_QUERY_SAFE = "-._~!$'()*,;:@/?"
_NEEDS_PATH_QUOTE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@]")
#: characters kept as written in the literal parts of a url_pattern (existing escapes stay)
_LITERAL_SAFE = "/%?#[]" + _PATH_SAFE
_DOTS = {".": "%2E", "..": "%2E%2E"}


def literal_text(text: str) -> str:
    """A literal part of a ``url_pattern`` as the request line writes it (``"`` as ``%22``)."""
    return quote(text, safe=_LITERAL_SAFE)


class PathTemplate:
    """A ``url_pattern`` split once into literal text and parameter keys."""

    def __init__(self, pattern: str, *, query: bool = False) -> None:
        parts: list[tuple[str, bool, bool]] = []  # (text or key, is_key, in_query)
        pos = 0
        in_query = query
        for match in _KEY.finditer(pattern):
            literal = quote(pattern[pos : match.start()], safe=_LITERAL_SAFE)
            if literal:
                parts.append((literal, False, in_query))
            in_query = in_query or "?" in literal
            parts.append((match.group(1), True, in_query))
            pos = match.end()
        if pos < len(pattern):
            parts.append((quote(pattern[pos:], safe=_LITERAL_SAFE), False, in_query))
        self._parts = tuple(parts)
        #: the whole result when there is no placeholder
        self.static: str | None = "".join(p[0] for p in parts) if not any(p[1] for p in parts) else None

    def render(self, params: dict[str, str]) -> str:
        if self.static is not None:
            return self.static
        out: list[str] = []
        for text, is_key, in_query in self._parts:
            if not is_key:
                out.append(text)
                continue
            value = params.get(text)
            if value is None:
                out.append("%7B%7B." + text + "%7D%7D")  # left as written, as a URL would carry it
            elif in_query:
                out.append(quote(value, safe=_QUERY_SAFE, errors="surrogateescape"))
            elif _NEEDS_PATH_QUOTE.search(value):
                out.append(quote(value, safe=_PATH_SAFE, errors="surrogateescape"))
            elif value in _DOTS:
                out.append(_DOTS[value])
            else:
                out.append(value)
        return "".join(out)


def _filter_query(query: Query, allowed: Sequence[str] | None) -> Query:
    if allowed is None or "*" in allowed:
        return query
    return {k: query[k] for k in allowed if k in query}


def _filter_headers(headers: Headers, allowed: Sequence[str] | None) -> Headers:
    if allowed is None or "*" in allowed:
        return headers
    names = [canonical_header(h) for h in allowed if h]
    return {k: headers[k] for k in names if k in headers}


def encode_query(query: Query) -> str:
    """Go's ``url.Values.Encode``: keys sorted, every value kept; bytes that were not UTF-8 in the
    client's query (surrogate escapes) are percent-encoded back to the same bytes, as Go keeps them."""
    pairs = [(k, v) for k in sorted(query) for v in query[k]]
    return urlencode(pairs, quote_via=quote_plus, safe="", errors="surrogateescape")


def query_changed(request: Request) -> None:
    """After a step changed ``request.query`` (a ``ctx:query`` setter, ``auth/api-keys`` taking its
    key out): the client's raw target kept for router Lua's ``ctx:url()`` (:data:`CLIENT_TARGET`)
    is re-encoded from it, as KrakenD's ``RawQuery = Query().Encode()``; nothing when none is kept."""
    context = request.context
    if CLIENT_TARGET in context:
        query = encode_query(request.query)
        context[CLIENT_TARGET] = "?" + query if query else ""


class HostTemplate:
    """A host with dynamic-routing keys (``http://{{.Input_headers.X-Tenant}}.example.com``), rendered
    per request; every value must be a host name (letters, digits, ``-``, dots), else 400: a client's
    value never picks a scheme, a port, credentials or a path."""

    def __init__(self, host: str) -> None:
        parts: list[tuple[str, bool]] = []
        pos = 0
        for match in _KEY.finditer(host):
            parts.append((host[pos : match.start()], False))
            parts.append((match.group(1), True))
            pos = match.end()
        parts.append((host[pos:], False))
        self._parts = tuple(p for p in parts if p[0])

    def render(self, params: dict[str, str]) -> str:
        out: list[str] = []
        for text, is_key in self._parts:
            if not is_key:
                out.append(text)
                continue
            value = params.get(text)
            if value is None or not HOST_VALUE.fullmatch(value):
                raise MissingRoutingInput(f"no host name for {{{text}}} in the backend host")
            out.append(value)
        return "".join(out)


def _host_chooser(backend: BackendConfig, pick: Callable[[], str] | None = None) -> Callable[[Request], str]:
    """The host of one call: fixed, balanced at random, rendered (dynamic routing), or ``pick``ed from
    a live list (service discovery, krakenpy.sd)."""
    if pick is not None:
        return lambda request: pick()
    hosts = backend.hosts
    if backend.host_keys:
        templates = [HostTemplate(h) for h in hosts]
        if len(templates) == 1:
            only = templates[0]
            return lambda request: only.render(request.params)
        return lambda request: random.choice(templates).render(request.params)
    if len(hosts) == 1:
        single = hosts[0]
        return lambda request: single
    if not hosts:  # an executor's backend (Lambda ...), or an HTTP one whose calls fail (gateway._no_hosts)
        return lambda request: ""
    return lambda request: random.choice(hosts)


def backend_request_builder(backend: BackendConfig, pick: Callable[[], str] | None = None) -> Callable[[Request], None]:
    """Set method, path, final URL (host chosen per call, by ``pick`` when given) and filter query and
    headers for one backend."""
    pattern = backend.url_pattern
    path_part, _, fixed_query = pattern.partition("?")
    template = PathTemplate(path_part)
    query_template = PathTemplate(fixed_query, query=True) if fixed_query else None
    method = backend.method
    hosts = backend.hosts
    single_host = hosts[0] if len(hosts) == 1 and not backend.host_keys and pick is None else None
    choose_host = _host_chooser(backend, pick)
    allowed_query = backend.input_query_strings
    allowed_headers = tuple(backend.input_headers) if backend.input_headers is not None else None

    def build(request: Request) -> None:
        request.method = method
        path = template.render(request.params)
        request.path = path
        query = _filter_query(request.query, allowed_query)
        parts = []
        if query_template is not None:
            parts.append(query_template.render(request.params))
        if query:
            parts.append(encode_query(query))
        request.raw_query = "&".join(parts)
        if allowed_headers is not None:
            request.headers = _filter_headers(request.headers, allowed_headers)
        host = single_host if single_host is not None else choose_host(request)
        url = host + path
        request.url = url + "?" + request.raw_query if request.raw_query else url

    return build


def backend_request_middleware(backend: BackendConfig, pick: Callable[[], str] | None = None) -> Middleware:
    """:func:`backend_request_builder` as a middleware (for stacks with a layer in between)."""
    build = backend_request_builder(backend, pick)

    def middleware(next_proxy: Proxy) -> Proxy:
        # a plain function handing on the next proxy's coroutine: no coroutine frame of its own
        # (~1.3 k instructions per backend call); a failing build fails the awaited call, as before
        def built(request: Request) -> Coroutine[Any, Any, Response]:
            try:
                build(request)
            except Exception as exc:
                return _raise(exc)
            return next_proxy(request)

        return built

    return middleware


async def _raise(exc: Exception) -> Response:
    raise exc
