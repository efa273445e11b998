"""The cache as an upstream-client middleware (krakend/httpcache ``Transport.RoundTrip``).

Only GET and HEAD without ``Range`` are looked up and stored (key: the URL for GET, ``METHOD URL``
otherwise); any other call deletes its own ``METHOD URL`` key, so a POST never invalidates the GET
entry. A stale entry is revalidated with ``If-None-Match`` / ``If-Modified-Since``; a 304 refreshes
its headers. With ``stale-if-error`` a stale entry answers when the backend fails or says 5xx.
Anything is stored unless ``no-store`` is said, whatever the status or ``private``.

A hit costs a dictionary look-up, one scan of the request headers and a time comparison: freshness
from the response side is computed once, when the response is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse
from krakenpy.errors import BackendError
from krakenpy.httpcache.control import (
    FRESH,
    STALE,
    can_stale_on_error,
    can_store,
    freshness,
    header,
    header_values,
    http_date,
    parse_cache_control,
    response_lifetime,
)
from krakenpy.httpcache.store import Entry, Store, entry_size
from krakenpy.names import canonical_header

__all__ = ["cache_middleware", "make_entry"]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


def make_entry(response: UpstreamResponse, control: dict[str, str], request_headers: list[tuple[str, str]]) -> Entry:
    """Everything a later hit needs, computed once."""
    pairs = response.headers
    date = http_date(header(pairs, "date"))
    vary = tuple(
        (name, header(request_headers, name))
        for name in (canonical_header(v) for v in header_values(pairs, "vary"))
        if name
    )
    return Entry(
        response=response,
        control=control,
        date=date,
        lifetime=response_lifetime(control, header(pairs, "expires"), date or 0.0),
        vary=vary,
        etag=header(pairs, "etag"),
        last_modified=header(pairs, "last-modified"),
        size=entry_size(response),
    )


def _vary_matches(entry: Entry, headers: list[tuple[str, str]]) -> bool:
    return all(header(headers, name) == value for name, value in entry.vary)


def _refreshed(cached: UpstreamResponse, not_modified: UpstreamResponse) -> UpstreamResponse:
    """The stored response with the 304's end-to-end headers (httpcache ``getEndToEndHeaders``)."""
    hop = set(_HOP_BY_HOP)
    hop.update(v.lower() for v in header_values(not_modified.headers, "connection"))
    fresh = [(k, v) for k, v in not_modified.headers if k.lower() not in hop]
    replaced = {k.lower() for k, _ in fresh}
    kept = [(k, v) for k, v in cached.headers if k.lower() not in replaced]
    return UpstreamResponse(
        status=cached.status, headers=tuple(kept + fresh), body=cached.body, content_type=cached.content_type
    )


def _with_validators(headers: list[tuple[str, str]], entry: Entry) -> list[tuple[str, str]]:
    extra: list[tuple[str, str]] = []
    # httpcache's own (odd) test: it looks for the validators under the response header names
    if entry.etag and not header(headers, "etag"):
        extra.append(("If-None-Match", entry.etag))
    if entry.last_modified and not header(headers, "last-modified"):
        extra.append(("If-Modified-Since", entry.last_modified))
    if not extra:
        return headers
    names = {k.lower() for k, _ in extra}
    return [(k, v) for k, v in headers if k.lower() not in names] + extra  # Header.Set replaces


def cache_middleware(store: Store, *, clock: Callable[[], float] = time.time) -> ClientMiddleware:
    """Wrap one backend's upstream call with ``store`` (private, or shared between backends)."""

    def middleware(call: UpstreamCall) -> UpstreamCall:
        async def slow(
            method: str,
            url: str,
            headers: list[tuple[str, str]],
            body: bytes | None,
            key: str,
            cache_control: str,
            entry: Entry | None,
            now: float,
        ) -> UpstreamResponse:
            request_control = parse_cache_control(cache_control)
            if entry is not None:
                send = headers
                if _vary_matches(entry, headers):
                    state = freshness(entry.control, request_control, entry.date, entry.lifetime, now)
                    if state == FRESH:
                        return entry.response
                    if state == STALE:
                        send = _with_validators(headers, entry)
                try:
                    response: UpstreamResponse | None = await call(method, url, send, body)
                    error: BackendError | None = None
                except BackendError as exc:
                    response, error = None, exc
                if response is not None and method == "GET" and response.status == 304:
                    response = _refreshed(entry.response, response)
                elif (
                    (error is not None or (response is not None and response.status >= 500))
                    and method == "GET"
                    and can_stale_on_error(entry.control, request_control, entry.date, now)
                ):
                    return entry.response
                else:
                    if response is None or response.status != 200:
                        store.delete(key)
                    if error is not None:
                        raise error
                assert response is not None
            elif "only-if-cached" in request_control:
                return UpstreamResponse(status=504, headers=(), body=b"", content_type="")
            else:
                response = await call(method, url, headers, body)
            response_control = parse_cache_control(header(response.headers, "cache-control"))
            if can_store(request_control, response_control):
                store.set(key, make_entry(response, response_control, headers))
            else:
                store.delete(key)
            return response

        async def cached(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
            if method != "GET" and method != "HEAD":
                store.delete(f"{method} {url}")
                return await call(method, url, headers, body)
            key = url if method == "GET" else f"HEAD {url}"
            cache_control = ""
            for name, value in headers:
                if name[:1] not in "rRcC":
                    continue  # not Range nor Cache-Control: no lower() needed
                lower = name.lower()
                if lower == "range":
                    if value:
                        store.delete(key)
                        return await call(method, url, headers, body)
                elif lower == "cache-control" and not cache_control:
                    cache_control = value
            entry = store.get(key)
            now = clock()
            if entry is not None and not cache_control and now < entry.fresh_until:
                if not entry.vary or _vary_matches(entry, headers):
                    return entry.response  # the hit: nothing else to decide
            return await slow(method, url, headers, body, key, cache_control, entry, now)

        return cached

    return middleware
