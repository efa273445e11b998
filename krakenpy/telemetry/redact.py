"""One redactor, compiled once from the config, for everything krakenpy writes: access and
application logs, audit records, span attributes, ``/__debug/`` output and error texts.

- Headers (case-insensitive deny-list): the value is masked but keeps its triage value:
  ``Bearer [REDACTED]`` (the scheme stays), cookie names stay, ``Set-Cookie`` attributes stay.
- Query values by key (case-insensitive), wherever ``key=value`` appears in a text, and URL
  user-info (``user:pass@`` → ``REDACTED:REDACTED@``, up to the last ``@`` of the line whatever the
  password holds: :mod:`krakenpy.userinfo`). Texts are scanned first and rewritten only
  on a hit, so the common case costs one regex search.
- JSON bodies by JSONPath-lite selectors (:mod:`krakenpy.telemetry.jsonpath`): mask, hash or drop;
  bodies that are not JSON, or larger than the cap, are never written, only their size.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from krakenpy.telemetry.jsonpath import Selector, compile_selector
from krakenpy.userinfo import mask_userinfo

__all__ = [
    "DEFAULT_BODY_PATHS",
    "DEFAULT_HEADERS",
    "DEFAULT_QUERY_KEYS",
    "MASK",
    "RedactionOptions",
    "Redactor",
]

MASK: Final = "[REDACTED]"
#: headers whose values are secrets (lower-case)
DEFAULT_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-amz-security-token",
        "x-csrf-token",
        "x-auth-token",
        "x-amz-client-context",
    }
)
#: query keys whose values are secrets: OTel semconv ``url.query`` defaults plus common token names
DEFAULT_QUERY_KEYS: Final = (
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "code",
    "password",
    "secret",
    "client_secret",
)
#: JSON body fields masked wherever they appear
DEFAULT_BODY_PATHS: Final = (
    "$..password",
    "$..passwd",
    "$..secret",
    "$..client_secret",
    "$..token",
    "$..access_token",
    "$..refresh_token",
    "$..id_token",
    "$..api_key",
    "$..apikey",
    "$..authorization",
)
_AUTH_SCHEMES: Final = frozenset({"authorization", "proxy-authorization"})
#: ``Bearer xyz`` / ``Basic xyz`` inside free text (error messages quoting a header)
_SCHEME_TOKEN = re.compile(r"(?i)\b(Bearer|Basic|Digest|Token|ApiKey|AWS4-HMAC-SHA256)\s+[A-Za-z0-9\-._~+/=,:]+")


#: what ends a value in free text (a URL quoted in a message: ``[GET /x?sig=…]``) and in a raw query
_TEXT_END: Final = "&;\\s\"'<>#\\]"
_QUERY_END: Final = "&;"


def _query_pattern(keys: frozenset[str], mask: str, end: str) -> re.Pattern[str] | None:
    """key=value where the key is sensitive, at a query or text boundary; the value runs to the next
    character of ``end``. A value that is the mask already is left alone: text redacted twice (a
    failure text, then its log line) stays the same."""
    if not keys:
        return None
    names = "|".join(re.escape(k) for k in sorted(keys, key=lambda k: (-len(k), k)))
    masked = re.escape(mask) + f"(?:[{end}]|$)"
    return re.compile(rf"(?i)(?<![A-Za-z0-9_\-])({names})=(?!{masked})([^{end}]*)")


@dataclass(frozen=True, slots=True)
class RedactionOptions:
    """What to mask; every list extends krakenpy's defaults unless ``replace_defaults``."""

    headers: tuple[str, ...] = ()
    query_keys: tuple[str, ...] = ()
    body_paths: tuple[str, ...] = ()
    body_mode: Literal["mask", "hash", "drop"] = "mask"
    #: largest body (bytes) ever written, after redaction; larger ones are summarised
    body_limit: int = 8192
    #: HMAC key for ``hash`` mode (a per-process random key when empty)
    hash_key: bytes = b""
    replace_defaults: bool = False
    #: headers kept verbatim in allow-list mode (audit): everything else is dropped
    allow_headers: tuple[str, ...] | None = None
    mask: str = MASK


class Redactor:
    """Applies one :class:`RedactionOptions`; cheap when there is nothing to mask."""

    __slots__ = (
        "_allow",
        "_body",
        "_body_limit",
        "_body_mode",
        "_hash_key",
        "_headers",
        "_mask",
        "_query",
        "_raw_query",
        "_query_keys",
    )

    def __init__(self, options: RedactionOptions | None = None) -> None:
        o = options or RedactionOptions()
        headers = set() if o.replace_defaults else set(DEFAULT_HEADERS)
        headers.update(h.lower() for h in o.headers)
        self._headers: frozenset[str] = frozenset(headers)
        self._query_keys = frozenset(list(o.query_keys) + ([] if o.replace_defaults else list(DEFAULT_QUERY_KEYS)))
        self._mask = o.mask
        self._compile()
        paths = list(o.body_paths) + ([] if o.replace_defaults else list(DEFAULT_BODY_PATHS))
        self._body: tuple[Selector, ...] = tuple(compile_selector(p) for p in paths)
        self._body_mode = o.body_mode
        self._body_limit = o.body_limit
        self._hash_key = o.hash_key or os.urandom(32)
        self._allow = frozenset(h.lower() for h in o.allow_headers) if o.allow_headers is not None else None

    def _compile(self) -> None:
        self._query = _query_pattern(self._query_keys, self._mask, _TEXT_END)
        self._raw_query = _query_pattern(self._query_keys, self._mask, _QUERY_END)

    def learn(self, *, query_keys: Iterable[str] = (), headers: Iterable[str] = ()) -> None:
        """Mask these too, whatever ``replace_defaults`` says: the credentials a component reads from
        clients (the ``auth/api-keys`` identifier, a JWT header). Start-up only: recompiles."""
        keys = self._query_keys | {k for k in query_keys if k}
        if keys != self._query_keys:
            self._query_keys = keys
            self._compile()
        self._headers = self._headers | {h.lower() for h in headers if h}

    # headers ---------------------------------------------------------------------------------
    def is_sensitive_header(self, name: str) -> bool:
        return name.lower() in self._headers

    def header(self, name: str, value: str) -> str:
        """The loggable form of one header value."""
        lname = name.lower()
        if lname not in self._headers:
            return value
        mask = self._mask
        if lname in _AUTH_SCHEMES:
            scheme, sep, _ = value.strip().partition(" ")
            return f"{scheme} {mask}" if sep and scheme else mask
        if lname == "cookie":
            return "; ".join(
                f"{part.partition('=')[0].strip()}={mask}" if "=" in part else mask
                for part in value.split(";")
                if part.strip()
            )
        if lname == "set-cookie":
            first, sep, attributes = value.partition(";")
            name_part = first.partition("=")[0].strip()
            return f"{name_part}={mask}" + (sep + attributes if sep else "")
        return mask

    def headers(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Header pairs with secrets masked (and, in allow-list mode, unlisted headers dropped)."""
        allow = self._allow
        out: list[tuple[str, str]] = []
        for name, value in pairs:
            if allow is not None and name.lower() not in allow:
                continue
            out.append((name, self.header(name, value)))
        return out

    def header_map(self, headers: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
        """A ``{name: [values]}`` map with secrets masked."""
        allow = self._allow
        return {
            name: [self.header(name, v) for v in values]
            for name, values in headers.items()
            if allow is None or name.lower() in allow
        }

    # query strings, URLs, free text ------------------------------------------------------------
    def query(self, raw: str) -> str:
        """A raw query (``a=1&sig=x``) with sensitive values masked: ``a=1&sig=[REDACTED]`` (a value
        runs to the next ``&`` or ``;``, whatever it holds)."""
        pattern = self._raw_query
        # every match holds "key=": without "=" the case-insensitive scan (~20k instructions on a URL) is skipped
        if not raw or pattern is None or "=" not in raw or pattern.search(raw) is None:
            return raw
        return pattern.sub(self._sub, raw)

    def _sub(self, match: re.Match[str]) -> str:
        return f"{match.group(1)}={self._mask}"

    def text(self, text: str) -> str:
        """Free text (an error message, a URL): query secrets, URL user-info and auth tokens masked."""
        if not text:
            return text
        if "@" in text and "://" in text:  # first: a password holding "?sig=" is not cut at its "@" below
            text = mask_userinfo(text)
        pattern = self._query
        if pattern is not None and "=" in text and pattern.search(text) is not None:
            text = pattern.sub(self._sub, text)
        if " " in text and _SCHEME_TOKEN.search(text) is not None:
            text = _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)} {self._mask}", text)
        return text

    url = text

    def target(self, path: str, query: str) -> str:
        """``path?query`` as logged; only the query can carry masked values."""
        return f"{path}?{self.query(query)}" if query else path

    # JSON bodies -------------------------------------------------------------------------------
    def json_value(self, value: Any) -> Any:
        """A decoded JSON value with the selected fields masked, hashed or dropped (a copy)."""
        if not self._body:
            return value
        copy = orjson.loads(orjson.dumps(value))
        for selector in self._body:
            selector.apply(copy, self._replace)
        return copy

    def _replace(self, value: Any) -> Any:
        mode = self._body_mode
        if mode == "drop":
            return Selector.DROP
        if mode == "hash":
            digest = hmac.new(self._hash_key, orjson.dumps(value), hashlib.sha256).hexdigest()
            return f"sha256:{digest[:16]}"
        return self._mask

    def body(self, body: bytes, content_type: str = "") -> str:
        """A request or response body as it may be logged: redacted JSON within the size cap, or a
        size summary (never a non-JSON body)."""
        if not body:
            return ""
        if content_type and "json" not in content_type.lower():
            return f"[{len(body)} bytes, {content_type.split(';')[0]}]"
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return f"[{len(body)} bytes, not JSON]"
        text = orjson.dumps(self.json_value(value)).decode()
        if len(text) > self._body_limit:
            return f"[{len(body)} bytes, JSON over the {self._body_limit}-byte log limit]"
        return text
