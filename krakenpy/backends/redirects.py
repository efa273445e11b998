"""The one redirect policy of both upstream clients: Go's ``net/http`` client, as KrakenD uses it.

- at most 10 redirects are followed; the 11th is an error (``stopped after 10 redirects``);
- 301/302/303 turn any method but GET and HEAD into GET and drop the body (its ``Content-Length``
  with it; the other headers of the first request, ``Content-Type`` included, are copied as Go does);
- 307/308 keep the method and the body; a request whose body cannot be sent again (lura gives it a
  ``GetBody`` only with ``backend/http/client.send_body_on_redirect``) gets the 307/308 response
  itself instead;
- a 3xx without ``Location`` is the response;
- every hop carries the first request's headers, less ``Authorization``, ``Www-Authenticate``,
  ``Cookie`` and ``Cookie2`` once the chain has left the first host for one that is neither it
  nor a subdomain of it (sticky, as since Go 1.24);
- ``Referer`` is the previous URL (user info removed) unless that goes from https to http or the
  first request set its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urljoin, urlsplit

from krakenpy.errors import BackendError

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "Resendable", "RoundTrip", "follow"]

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SENSITIVE = frozenset({"authorization", "www-authenticate", "cookie", "cookie2"})
Pairs = list[tuple[str, str]]


class Resendable(bytes):
    """A request body the client may send again on a 307/308 redirect (Go's ``Request.GetBody``):
    the HTTP executor marks bodies so when ``send_body_on_redirect`` is set. A subclass of bytes, so
    client-layer middlewares hand it on unchanged."""

    __slots__ = ()


#: one exchange without redirects: (method, url, headers, body) → (status, response headers, anything)
RoundTrip = Callable[[str, str, Pairs, bytes | None], Awaitable[tuple[int, str | None, object]]]


def _hostname(netloc: str) -> str:
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else host.lower()
    return host.rpartition(":")[0].lower() if ":" in host else host.lower()


def _domain_or_subdomain(sub: str, parent: str) -> bool:
    """Go's ``isDomainOrSubdomain``: ``sub`` is ``parent`` or ends in ``.parent`` (never for IPv6)."""
    if sub == parent:
        return True
    if ":" in sub or "%" in sub:
        return False
    return sub.endswith(parent) and len(sub) > len(parent) and sub[-len(parent) - 1] == "."


def _referer(last: str, new: str) -> str:
    """Go's ``refererForURL``: the previous URL without user info; nothing from https to http."""
    if last[:8].lower() == "https://" and new[:7].lower() == "http://":
        return ""
    parts = urlsplit(last)
    if "@" in parts.netloc:
        last = last.replace(parts.netloc, parts.netloc.rpartition("@")[2], 1)
    return last.partition("#")[0]


async def follow(
    round_trip: RoundTrip,
    method: str,
    url: str,
    headers: Pairs,
    body: bytes | None,
    first: tuple[int, str | None, object],
) -> object:
    """Follow the redirects after the ``first`` answer of ``(method, url)``; returns the last answer's
    third item. ``round_trip`` answers ``(status, Location or None, response)``."""
    status, location, response = first
    initial = urlsplit(url)
    strip = False
    explicit_referer = any(k.lower() == "referer" for k, _ in headers)
    hops = 0
    while location is not None and status in REDIRECT_STATUSES:
        if status in (307, 308):
            if body and not isinstance(body, Resendable):
                return response  # Go: the body cannot be sent again, so this answer is the result
        else:
            if method != "GET" and method != "HEAD":
                method = "GET"
            body = None
        if hops >= MAX_REDIRECTS:
            raise BackendError(f"{method} {url!r}: stopped after {MAX_REDIRECTS} redirects")
        hops += 1
        try:
            new_url = urljoin(url, location.strip())
            target = urlsplit(new_url)
        except ValueError as exc:
            raise BackendError(f"failed to parse Location header {location!r}: {exc}") from None
        if target.scheme.lower() not in ("http", "https") or not target.netloc:
            raise BackendError(f"unsupported redirect location {location!r}")
        if not strip and target.netloc.lower() != initial.netloc.lower():
            strip = not _domain_or_subdomain(_hostname(target.netloc), _hostname(initial.netloc))
        absolute = "://" in location.split("?", 1)[0]
        pairs = [
            (k, v)
            for k, v in headers
            if not (strip and k.lower() in _SENSITIVE) and not (absolute and k.lower() == "host")
        ]
        if not explicit_referer:
            referer = _referer(url, new_url)
            if referer:
                pairs.append(("Referer", referer))
        url = new_url
        status, location, response = await round_trip(method, url, pairs, body)
    return response
