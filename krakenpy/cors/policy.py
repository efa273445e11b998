"""One CORS policy, precomputed: rs/cors v1.11.1 semantics (what KrakenD CE 2.13 links).

Everything that depends on the options alone (origin sets, the sorted header set, the ``Vary`` and
``Access-Control-Max-Age`` values) is computed once in :class:`CorsPolicy`; per request
:meth:`~CorsPolicy.preflight` and :meth:`~CorsPolicy.actual` return the response headers to add,
as ``(name, value)`` pairs, in the order rs/cors sets them.

rs/cors rules kept on purpose:

- a preflight is ``OPTIONS`` with a non-empty ``Access-Control-Request-Method`` (no Origin needed);
- ``Vary`` is always added, even when the answer carries nothing else;
- methods compare case-sensitively, ``OPTIONS`` is always allowed;
- requested headers follow the Fetch standard literally: lower-case, sorted, unique, at most one
  byte of optional whitespace around each name, at most 16 empty elements;
- every origin allowed and credentials on still answers ``*`` (browsers refuse it; see
  ``reflect_origin``);
- a refused CORS request is never refused by CORS itself: it just gets no ``Access-Control-*``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, TypeAlias

from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.cors.options import CorsOptions

__all__ = ["CorsPolicy", "HeaderPairs", "accepts_header_list", "canonical_header"]

log = logging.getLogger("krakenpy.cors")

HeaderPairs: TypeAlias = list[tuple[str, str]]
RequestHeaders: TypeAlias = CIMultiDictProxy[str] | CIMultiDict[str]

#: optional whitespace bytes tolerated around each requested header name
MAX_OWS: Final = 1
#: empty list elements tolerated in Access-Control-Request-Headers (RFC 9110 §5.6.1.2)
MAX_EMPTY: Final = 16
_ACRM: Final = "Access-Control-Request-Method"
_ACRH: Final = "Access-Control-Request-Headers"
_ACRPN: Final = "Access-Control-Request-Private-Network"


def canonical_header(name: str) -> str:
    """Go's ``http.CanonicalHeaderKey``: ``content-length`` → ``Content-Length``; names with a space
    or another byte outside the token set are returned unchanged."""
    if not name or any(not _token_byte(c) for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _token_byte(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~")


def _trim_ows(name: str) -> str | None:
    """rs/cors ``TrimOWS``: at most ``MAX_OWS`` spaces or tabs per side, else ``None``. Like rs/cors,
    an element made only of whitespace may be one byte longer (it checks the budget before each byte)."""
    stripped = name.strip(" \t")
    if not stripped:
        return "" if len(name) <= MAX_OWS + 1 else None
    if len(name) - len(name.lstrip(" \t")) > MAX_OWS or len(name) - len(name.rstrip(" \t")) > MAX_OWS:
        return None
    return stripped


def accepts_header_list(positions: dict[str, int], max_len: int, values: Sequence[str]) -> bool:
    """rs/cors ``SortedSet.Accepts``: every name of ``values`` is in ``positions`` (name → rank in
    sorted order) and the names come sorted, unique and lower-case; ``max_len`` is the longest name.

    At most ``max_len`` + 3 characters are scanned per name, so a huge header costs little.
    """
    window = MAX_OWS + max_len + MAX_OWS + 1
    last = -1
    empty = 0
    for value in values:
        rest = value
        while True:
            comma = rest.find(",", 0, window)
            if comma < 0:
                name, rest, more = rest, "", False
            else:
                name, rest, more = rest[:comma], rest[comma + 1 :], True
            trimmed = _trim_ows(name) if name and (name[0] in " \t" or name[-1] in " \t") else name
            if trimmed is None:
                return False
            if not trimmed:
                empty += 1
                if empty > MAX_EMPTY:
                    return False
            else:
                rank = positions.get(trimmed)
                if rank is None or rank <= last:
                    return False
                last = rank
            if not more:
                break
    return True


class CorsPolicy:
    """A ``security/cors`` value compiled for per-request use."""

    __slots__ = (
        "_actual_tail",
        "_credentials",
        "_debug",
        "_exact",
        "_expose",
        "_header_len",
        "_header_rank",
        "_headers_all",
        "_max_age",
        "_methods",
        "_origins_all",
        "_private_network",
        "_reflect",
        "_vary_preflight",
        "_wildcards",
        "options",
        "passthrough",
        "status",
    )

    def __init__(self, options: CorsOptions) -> None:
        self.options = options
        self.passthrough = options.options_passthrough
        self.status = options.options_success_status
        origins = [o.lower() for o in options.allow_origins]
        self._origins_all = "*" in origins
        exact: set[str] = set()
        wildcards: list[tuple[str, str]] = []
        for origin in origins:
            star = origin.find("*")
            if star < 0:
                exact.add(origin)
            else:  # only the first * is a wildcard (rs/cors); a second one is literal
                wildcards.append((origin[:star], origin[star + 1 :]))
        self._exact = frozenset(exact)
        self._wildcards = tuple(wildcards)
        self._methods = frozenset(options.allow_methods)
        self._headers_all = "*" in options.allow_headers
        names = sorted({h.lower() for h in options.allow_headers})
        self._header_rank = {name: rank for rank, name in enumerate(names)}
        self._header_len = max((len(n) for n in names), default=0)
        expose = ", ".join(canonical_header(h) for h in options.expose_headers)
        self._expose = expose or None
        self._credentials = options.allow_credentials
        self._private_network = options.allow_private_network
        self._reflect = options.reflect_origin
        vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        self._vary_preflight = vary + (", Access-Control-Request-Private-Network" if self._private_network else "")
        age = options.max_age
        self._max_age = str(age) if age > 0 else ("0" if age < 0 else None)
        self._debug = options.debug
        tail: HeaderPairs = []
        if self._expose is not None:
            tail.append(("Access-Control-Expose-Headers", self._expose))
        if self._credentials:
            tail.append(("Access-Control-Allow-Credentials", "true"))
        #: what follows Access-Control-Allow-Origin on an allowed actual request
        self._actual_tail = tuple(tail)

    @property
    def credentials_with_any_origin(self) -> bool:
        """True when browsers will refuse the answers (``*`` together with credentials)."""
        return self._origins_all and self._credentials and not self._reflect

    def origin_allowed(self, origin: str) -> bool:
        """rs/cors ``isOriginAllowed``: case-insensitive exact or single-wildcard match."""
        if self._origins_all:
            return True
        origin = origin.lower()
        if origin in self._exact:
            return True
        if not self._wildcards:
            return False
        size = len(origin)
        return any(
            size >= len(pre) + len(suf) and origin.startswith(pre) and origin.endswith(suf)
            for pre, suf in self._wildcards
        )

    def method_allowed(self, method: str) -> bool:
        """Case-sensitive; ``OPTIONS`` is always allowed."""
        return method == "OPTIONS" or method in self._methods

    def preflight(self, headers: RequestHeaders) -> HeaderPairs:
        """The headers of the answer to a preflight (``OPTIONS`` with a non-empty ACRM)."""
        out: HeaderPairs = [("Vary", self._vary_preflight)]
        origin = headers.get("Origin", "")
        if not origin:
            self._log("  Preflight aborted: empty origin")
            return out
        if not self.origin_allowed(origin):
            self._log("  Preflight aborted: origin %r not allowed", origin)
            return out
        method = headers.get(_ACRM, "")
        if not self.method_allowed(method):
            self._log("  Preflight aborted: method %r not allowed", method)
            return out
        requested = headers.getall(_ACRH, ())
        if requested and not self._headers_all:
            if not accepts_header_list(self._header_rank, self._header_len, requested):
                self._log("  Preflight aborted: headers %r not allowed", requested)
                return out
        self._allow_origin(headers, origin, out)
        out.extend(("Access-Control-Allow-Methods", m) for m in headers.getall(_ACRM))
        if requested and requested[0]:
            out.extend(("Access-Control-Allow-Headers", h) for h in requested)
        if self._credentials:
            out.append(("Access-Control-Allow-Credentials", "true"))
        if self._private_network and headers.get(_ACRPN) == "true":
            out.append(("Access-Control-Allow-Private-Network", "true"))
        if self._max_age is not None:
            out.append(("Access-Control-Max-Age", self._max_age))
        self._log("  Preflight response headers: %r", out)
        return out

    def actual(self, method: str, headers: RequestHeaders) -> HeaderPairs:
        """The headers added to the answer of any other request (``Vary: Origin`` at least)."""
        out: HeaderPairs = [("Vary", "Origin")]
        origin = headers.get("Origin", "")
        if not origin:
            if self._debug:
                self._log("  Actual request no headers added: missing origin")
            return out
        if not self.origin_allowed(origin):
            if self._debug:
                self._log("  Actual request no headers added: origin %r not allowed", origin)
            return out
        if not (method in self._methods or method == "OPTIONS"):
            if self._debug:
                self._log("  Actual request no headers added: method %r not allowed", method)
            return out
        self._allow_origin(headers, origin, out)
        out.extend(self._actual_tail)
        if self._debug:
            self._log("  Actual response added headers: %r", out)
        return out

    def _allow_origin(self, headers: RequestHeaders, origin: str, out: HeaderPairs) -> None:
        if self._origins_all and not self._reflect:
            out.append(("Access-Control-Allow-Origin", "*"))
            return
        origins = headers.getall("Origin")
        if len(origins) == 1:
            out.append(("Access-Control-Allow-Origin", origin))
        else:  # rs/cors echoes every Origin value the request carried
            out.extend(("Access-Control-Allow-Origin", o) for o in origins)

    def _log(self, message: str, *args: object) -> None:
        if self._debug:
            log.debug("[CORS]" + message, *args)
