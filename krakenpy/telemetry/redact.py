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

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import unquote_plus, urlsplit

import orjson

from krakenpy.fingerprint import derived_key
from krakenpy.jsonforms import json_forms
from krakenpy.telemetry.jsonpath import Selector, compile_selector
from krakenpy.telemetry.pathmask import DEFAULT_PATH_PARAMS, PathMasks, path_masks
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
#: the first word of an ``Authorization`` value kept as its scheme only when it is one of these
#: (lower-case; IANA's registry plus common vendor schemes): any other first word may be the secret
#: itself (a bare token, ``key secret``), so the whole value is masked
KNOWN_SCHEMES: Final = frozenset(
    {"basic", "bearer", "digest", "negotiate", "ntlm", "kerberos", "token", "apikey", "api-key", "key",
     "aws4-hmac-sha256", "hoba", "mutual", "oauth", "scram-sha-1", "scram-sha-256", "vapid", "dpop", "gnap",
     "privatetoken", "concealed", "signature", "ssws", "sharedkey", "sharedaccesssignature", "splunk", "otp"}
)  # fmt: skip
#: a folded ``Set-Cookie`` (several cookies on one line, comma-separated): a comma followed by
#: ``name=`` (an ``Expires`` date's comma is followed by a day number and a space, not ``=``)
_COOKIE_FOLD = re.compile(r",\s*(?=[^;,=\s]+=)")
#: headers whose value is a URL (or a path): its path masked as a path without a route is, once an
#: endpoint has a sensitive path parameter (a ``Referer`` from a page ``/reset/{token}``, a redirect's
#: ``Location`` on the SERVER span's response headers)
_URL_HEADERS: Final = frozenset({"referer", "location", "content-location"})
#: distinct ``User-Agent`` values :meth:`Redactor.agent` keeps the redacted form of
_AGENTS_KEPT: Final = 1024
#: the shortest credential value masked as a literal in a request's own texts (shorter ones would mask
#: ordinary words)
MIN_SECRET: Final = 4
#: ``Bearer xyz`` / ``Basic xyz`` inside free text (error messages quoting a header)
_SCHEME_TOKEN = re.compile(
    r"(?i)(?<![\w\-])(Bearer|Basic|Digest|Token|ApiKey|AWS4-HMAC-SHA256)\s+[A-Za-z0-9\-._~+/=,:]+"
)

#: a compact JWS (three base64url segments) or JWE (five), standing alone, its first segment starting
#: ``ey`` or ``ew``: the base64url of ``{`` then ``"`` or whitespace (``eyJ``: ``{"``, ``eyAi``: ``{ "``,
#: ``ewog``: ``{\n``, as a header JSON written with spaces or indented encodes). Masked in a header value
#: an output reports whatever the header's name (``X-Forwarded-Token``, ``X-Id-Token``) once
#: :func:`_jose_header` confirms the segment; segments may be empty (an unsigned JWS, a JWE's direct key)
_JWT: Final = re.compile(
    r"(?<![A-Za-z0-9_\-.])(e[wy][A-Za-z0-9_\-]+)(?:\.[A-Za-z0-9_\-]*){2}(?:(?:\.[A-Za-z0-9_\-]*){2})?"
    r"(?![A-Za-z0-9_\-.])"
)
#: what a protected header decodes to: a JSON object's opening, optional whitespace, its first key's quote
_JOSE_HEADER: Final = re.compile(rb"\{[ \t\r\n]*\"")


def _jose_header(segment: str) -> bool:
    """Whether a token's first segment base64url-decodes to a JSON object's opening (``{``, optional
    whitespace, ``"``): an ordinary dotted value that happens to start ``ey``/``ew`` (``eyes.left.right``)
    is not one. Only its first 64 characters are decoded (up to 47 bytes of whitespace), whole groups and
    a last partial one (a segment cut at a length no encoder writes still counts, as ``eyJ…`` did)."""
    head = segment[:64]
    head = head[: len(head) - (len(head) % 4 == 1)]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return False
    return _JOSE_HEADER.match(decoded) is not None


#: what ends a value in free text (a URL quoted in a message: ``[GET /x?sig=…]``) and in a raw query
#: (``;`` is part of a value, as the gateway's own query parser reads it: ``sig=a;b`` masks ``a;b``; a
#: key after ``;`` is still found, for a backend that splits there)
_TEXT_END: Final = "&\\s\"'<>#\\]"
_QUERY_END: Final = "&"


def _encoded(key: str) -> str:
    """``key`` as a pattern that also matches any of its characters percent-encoded (``%73ig``: the
    gateway decodes a query's keys, so ``%73ig=`` is the ``sig`` parameter a backend receives)."""
    out = []
    for c in key:
        codes = sorted({f"%{ord(c.lower()):02x}", f"%{ord(c.upper()):02x}"})
        out.append("(?:" + "|".join([re.escape(c), *codes]) + ")")
    return "".join(out)


def _query_pattern(keys: frozenset[str], mask: str, end: str, *, encoded: bool = False) -> re.Pattern[str] | None:
    """key=value where the key is sensitive, at a query or text boundary; the value runs to the next
    character of ``end``. A value that is the mask already is left alone: text redacted twice (a
    failure text, then its log line) stays the same. ``encoded``: keys also match percent-encoded
    (the pattern used for texts that hold a ``%``)."""
    if not keys:
        return None
    spell = _encoded if encoded else re.escape
    names = "|".join(spell(k) for k in sorted(keys, key=lambda k: (-len(k), k)))
    masked = re.escape(mask) + f"(?:[{end}]|$)"
    return re.compile(rf"(?i)(?<![A-Za-z0-9_\-])({names})=(?!{masked})([^{end}]*)")


#: the scheme words :data:`_SCHEME_TOKEN` looks for, lower-case (substring tests first: a browser's
#: ``User-Agent`` scanned by the case-insensitive pattern costs ~4 µs, the tests ~0.3)
_SCHEME_WORDS: Final = ("bearer", "basic", "digest", "token", "apikey", "aws4-hmac-sha256")


def _has_scheme(text: str) -> bool:
    low = text.lower()
    return any(word in low for word in _SCHEME_WORDS)


#: a body path that masks a field wherever it appears (``$..password``): its name
_ANYWHERE: Final = re.compile(r"^\$\.\.([A-Za-z0-9_\-]+)$")


def _json_pair_pattern(keys: Iterable[str], mask: str) -> re.Pattern[str] | None:
    """``"key": value`` of a JSON text quoted in free text (a script printing the body it got, an error
    quoting it), for the fields masked anywhere in bodies, in any case: a string (escapes followed),
    a number or a boolean; a value that is the mask already, or the body's ``hash`` mode's digest
    (``/__debug/`` bodies, redacted before their log line), is left alone."""
    names = "|".join(re.escape(k) for k in sorted(keys, key=lambda k: (-len(k), k)))
    if not names:
        return None
    value = r'"(?:[^"\\]|\\.)*"|-?\d[\d.eE+\-]*|true|false'
    done = rf'"(?:{re.escape(mask)}|sha256:[0-9a-f]{{16}})"'
    return re.compile(rf'(?i)("(?:{names})"\s*:\s*)(?!{done})(?:{value})')


def _quoted_pair_pattern(keys: Iterable[str]) -> re.Pattern[str] | None:
    """``key: value`` of a JSON text that is itself quoted inside a string, every quote escaped
    (``\\"password\\":\\"x\\"``: an API Gateway event's ``body`` echoed by a function's error, a
    backend's JSON error quoting the body it got), and of a Python dict's ``repr``
    (``'password': 'x'``: a Python function's error printing its event), for the fields masked
    anywhere in bodies. A string value runs to the same quote not escaped once more (to the next
    separator when there is none); the key's quoting is kept in the mask."""
    names = "|".join(re.escape(k) for k in sorted(keys, key=lambda k: (-len(k), k)))
    if not names:
        return None
    value = r"""(?P=q)(?:.*?(?<!\\)(?P=q)|[^\s,}\]]*)|"(?:[^"\\]|\\.)*"|-?\d[\d.eE+\-]*|true|false"""
    return re.compile(rf"""(?i)(?P<key>(?P<q>\\+"|')(?:{names})(?P=q)\s*:\s*)(?:{value})""")


#: the largest request body :meth:`Redactor.body_secrets` reads (bytes)
_BODY_SECRETS_MAX: Final = 1 << 20


def _leaves(value: Any, found: set[str]) -> None:
    """The strings and numbers in ``value`` (a decoded JSON value), as text, into ``found``."""
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found.add(orjson.dumps(value).decode())
    elif isinstance(value, dict):
        for item in value.values():
            _leaves(item, found)
    elif isinstance(value, list):
        for item in value:
            _leaves(item, found)


#: a ``hash`` mode body value (:meth:`Redactor._replace`)
_DIGEST: Final = re.compile(r"sha256:[0-9a-f]{16}")


def _header_pattern(headers: frozenset[str], mask: str) -> re.Pattern[str] | None:
    """``Name: value`` of a sensitive header quoted in free text (a malformed answer's head in a
    parser's error, a script's message): the value runs to the end of its line or quote."""
    if not headers:
        return None
    names = "|".join(re.escape(h) for h in sorted(headers, key=lambda h: (-len(h), h)))
    return re.compile(rf"(?i)(?<![A-Za-z0-9_\-])({names})([ \t]*:[ \t]*)(?!{re.escape(mask)})([^\r\n'\"\\]+)")


def _replaced(value: str) -> str | None:
    """``value`` as a text that decoded its bytes with ``"replace"`` shows it (a Lua error quoting a
    header: Lua holds the client's bytes), when it holds bytes that were no UTF-8 (surrogate escapes,
    as the server decodes them): each as U+FFFD. ``None`` when it holds none."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no decoder made: no client byte to show
        return None
    shown = raw.decode("utf-8", "replace")
    return shown if shown != value else None


def _basic_parts(token: str) -> list[str]:
    """A Basic credential's ``user:password`` and password, decoded (none when it does not decode)."""
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return []
    return [decoded, decoded.partition(":")[2]]


@dataclass(frozen=True, slots=True)
class RedactionOptions:
    """What to mask; every list extends krakenpy's defaults unless ``replace_defaults``."""

    headers: tuple[str, ...] = ()
    query_keys: tuple[str, ...] = ()
    body_paths: tuple[str, ...] = ()
    #: endpoint path parameters (``{token}``) whose values are masked wherever the path is written
    path_params: tuple[str, ...] = ()
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
        "_literals",
        "_body_literals",
        "_mask",
        "_query",
        "_raw_query",
        "_query_pct",
        "_raw_query_pct",
        "_query_keys",
        "_header_text",
        "_json_keys",
        "_json_text",
        "_json_quoted",
        "_path_params",
        "_path_endings",
        "agents",
        "paths",
        "pattern_keys",
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
        # the fields masked wherever they appear (``$..password``) are masked in free text too
        keys = sorted({m.group(1).lower() for p in paths if (m := _ANYWHERE.match(p)) is not None})
        self._json_keys: tuple[str, ...] = tuple(keys)
        self._json_text = _json_pair_pattern(keys, self._mask)
        self._json_quoted = _quoted_pair_pattern(keys)
        self._body_mode = o.body_mode
        self._body_limit = o.body_limit
        # without a configured key, one the workers of a run share (drawn before they fork) and a hot
        # reload keeps: equal values hash alike within the instance, as the redaction promises
        self._hash_key = o.hash_key or derived_key(b"body hash")
        #: credentials the configuration holds (an LLM vendor's key, an OAuth2 client secret), masked as
        #: literals in every text and body written (:meth:`learn`, start-up only)
        self._literals: tuple[str, ...] = ()
        #: the same as a JSON text writes them (a ``"`` or ``\\`` escaped), for :meth:`body`'s text
        self._body_literals: tuple[str, ...] = ()
        self._allow = frozenset(h.lower() for h in o.allow_headers) if o.allow_headers is not None else None
        #: ``User-Agent`` → its redacted form (:meth:`agent`'s cache; the traced edge reads it natively
        #: and calls :meth:`agent` on a miss, so the bound lives here alone)
        self.agents: dict[str, str] = {}
        self._path_params = frozenset(p.lower() for p in o.path_params)
        self._path_endings = () if o.replace_defaults else DEFAULT_PATH_PARAMS
        #: the endpoints' sensitive path segments (:meth:`learn_routes`); ``None`` when no endpoint
        #: template has a sensitive parameter
        self.paths: PathMasks | None = None
        #: a backend ``url_pattern`` → the secrets its query holds under a masked key, as
        #: :func:`krakenpy.telemetry.setup.pattern_secrets` found them for these query keys (emptied when
        #: :meth:`learn` adds one): the redactor's own literals and the backend's refusals share one answer
        self.pattern_keys: dict[str, tuple[str, ...]] = {}

    @property
    def mask(self) -> str:
        """What a masked value is written as (``[REDACTED]`` unless ``redact.mask`` says otherwise)."""
        return self._mask

    def learn_routes(self, templates: Iterable[str]) -> None:
        """The endpoint templates (``/reset/{token}``) whose sensitive parameters every output masks
        (start-up only)."""
        self.paths = path_masks(templates, self._path_params, self._path_endings, self._mask, MIN_SECRET)

    def _compile(self) -> None:
        self._query = _query_pattern(self._query_keys, self._mask, _TEXT_END)
        self._raw_query = _query_pattern(self._query_keys, self._mask, _QUERY_END)
        self._query_pct = _query_pattern(self._query_keys, self._mask, _TEXT_END, encoded=True)
        self._raw_query_pct = _query_pattern(self._query_keys, self._mask, _QUERY_END, encoded=True)
        self._header_text = _header_pattern(self._headers, self._mask)

    def learn(
        self, *, query_keys: Iterable[str] = (), headers: Iterable[str] = (), secrets: Iterable[str] = ()
    ) -> None:
        """Mask these too, whatever ``replace_defaults`` says: the credentials a component reads from
        clients (the ``auth/api-keys`` identifier, a JWT header), and ``secrets``, credential values
        the configuration holds (masked as literals wherever they appear; :data:`MIN_SECRET`
        characters or more). Start-up only: recompiles."""
        known = set(self._literals) | {v for v in secrets if len(v) >= MIN_SECRET}
        # the longest first: a secret holding another is masked whole
        self._literals = tuple(sorted(known, key=lambda v: (-len(v), v)))
        # a secret holding a quote, a backslash, a slash or a non-ASCII character reads escaped in a
        # JSON text, as the usual encoders write it (the escaped forms first: longer, and holding the
        # plain one's pieces)
        escaped = {form for v in known for form in json_forms(v)}
        self._body_literals = tuple(sorted(known | escaped, key=lambda v: (-len(v), v)))
        keys = self._query_keys | {k for k in query_keys if k}
        if keys != self._query_keys:
            self._query_keys = keys
            self._compile()
            self.pattern_keys.clear()  # a value under the new key is one more secret
        headers_now = self._headers | {h.lower() for h in headers if h}
        if headers_now != self._headers:
            self._headers = headers_now
            self._header_text = _header_pattern(headers_now, self._mask)

    # headers ---------------------------------------------------------------------------------
    def is_sensitive_header(self, name: str) -> bool:
        return name.lower() in self._headers

    def is_sensitive_query_key(self, name: str) -> bool:
        """Whether a query key's values are masked (any case, as in texts)."""
        lname = name.lower()
        return any(lname == key.lower() for key in self._query_keys)

    def header(self, name: str, value: str) -> str:
        """The loggable form of one header value."""
        lname = name.lower()
        if lname not in self._headers:
            return value
        mask = self._mask
        if lname in _AUTH_SCHEMES:
            scheme, sep, _ = value.strip().partition(" ")
            return f"{scheme} {mask}" if sep and scheme.lower() in KNOWN_SCHEMES else mask
        if lname == "cookie":
            return "; ".join(
                f"{part.partition('=')[0].strip()}={mask}" if "=" in part else mask
                for part in value.split(";")
                if part.strip()
            )
        if lname == "set-cookie":
            return ", ".join(self._set_cookie(one) for one in _COOKIE_FOLD.split(value))
        return mask

    def _set_cookie(self, value: str) -> str:
        first, sep, attributes = value.partition(";")
        name_part = first.partition("=")[0].strip()
        return f"{name_part}={self._mask}" + (sep + attributes if sep else "")

    def agent(self, value: str) -> str:
        """A ``User-Agent`` on a span (per sampled request), as :meth:`text` masks it, worked out once
        per distinct value (clients repeat theirs; the scan of a browser's costs ~0.5-4 µs)."""
        agents = self.agents
        shown = agents.get(value)
        if shown is None:
            shown = self.text(value)
            if len(agents) >= _AGENTS_KEPT:
                agents.clear()
            agents[value] = shown
        return shown

    def header_text(self, name: str, value: str, secrets: tuple[str, ...] = ()) -> str:
        """The loggable form of any header value: a sensitive one as :meth:`header` gives it, any
        other as free text (a ``Referer`` holding ``?code=…``, a ``User-Agent`` quoting a token);
        ``secrets``: the request's own credentials (:meth:`request_secrets`), masked as literals."""
        lname = name.lower()
        if lname in self._headers:
            return self.header(name, value)
        if lname in _URL_HEADERS and self.paths is not None:
            return self.jwts(self.referer(value, secrets))
        return self.jwts(self.text(value, secrets))

    def jwts(self, value: str) -> str:
        """A header value an output reports, a compact JWS or JWE in it masked (:data:`_JWT`): a token
        in a header no list names (``X-Forwarded-Token: eyJ…``, ``eyAi…``). Only where headers are reported."""
        if "ey" not in value and "ew" not in value:
            return value
        mask = self._mask
        return _JWT.sub(lambda m: mask if _jose_header(m.group(1)) else m.group(0), value)

    def referer(self, value: str, secrets: tuple[str, ...] = ()) -> str:
        """A ``Referer`` (or another URL header: ``Location``) as logged: :meth:`text`, and, once an
        endpoint has a sensitive path parameter, the URL's path masked by its shape as a path without
        a route is (a browser on a page ``/reset/{token}`` names it in the form it posts and in every
        request the page makes)."""
        paths = self.paths
        if paths is not None and value:
            try:
                parts = urlsplit(value)
            except ValueError:  # not a URL (a bracket in its host): a text
                return self.text(value, secrets)
            path = parts.path
            head = f"{parts.scheme}://{parts.netloc}" if parts.scheme or parts.netloc else ""
            if path and value.startswith(head + path):
                masked = paths.mask(None, path, path)
                if masked != path:
                    value = head + masked + value[len(head) + len(path) :]
        return self.text(value, secrets)

    def headers(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Header pairs with secrets masked (and, in allow-list mode, unlisted headers dropped)."""
        allow = self._allow
        out: list[tuple[str, str]] = []
        for name, value in pairs:
            if allow is not None and name.lower() not in allow:
                continue
            out.append((name, self.jwts(self.header(name, value))))
        return out

    def header_map(self, headers: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
        """A ``{name: [values]}`` map with secrets masked."""
        allow = self._allow
        return {
            name: [self.jwts(self.header(name, v)) for v in values]
            for name, values in headers.items()
            if allow is None or name.lower() in allow
        }

    # query strings, URLs, free text ------------------------------------------------------------
    def query(self, raw: str) -> str:
        """A raw query (``a=1&sig=x``) with sensitive values masked: ``a=1&sig=[REDACTED]`` (a value
        runs to the next ``&`` or ``;``, whatever it holds)."""
        # every match holds "key=": without "=" the case-insensitive scan (~20k instructions on a URL) is
        # skipped; a key may be percent-encoded only where a "%" is
        if not raw or "=" not in raw:
            return raw
        pattern = self._raw_query_pct if "%" in raw else self._raw_query
        if pattern is None or pattern.search(raw) is None:
            return raw
        return pattern.sub(self._sub, raw)

    def _sub(self, match: re.Match[str]) -> str:
        return f"{match.group(1)}={self._mask}"

    def text(self, text: str, secrets: tuple[str, ...] = ()) -> str:
        """Free text (an error message, a URL): query secrets, URL user-info, auth tokens and quoted
        sensitive headers masked; and ``secrets`` (the credentials of the request being served:
        :func:`request_secrets`) wherever they appear, whatever surrounds them (a script's
        ``error('bad key ' .. key)``)."""
        if not text:
            return text
        for secret in self._literals:
            if secret in text:
                text = text.replace(secret, self._mask)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, self._mask)
        if "@" in text and "://" in text:  # first: a password holding "?sig=" is not cut at its "@" below
            text = mask_userinfo(text)
        if "=" in text:
            pattern = self._query_pct if "%" in text else self._query
            if pattern is not None and pattern.search(text) is not None:
                text = pattern.sub(self._sub, text)
        header = self._header_text  # before the schemes: ``X-Auth-Token: x`` is a header, not a scheme
        if header is not None and ":" in text and self._names_in(text) and header.search(text) is not None:
            text = header.sub(self._header_sub, text)
        if " " in text and _has_scheme(text) and _SCHEME_TOKEN.search(text) is not None:
            text = _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)} {self._mask}", text)
        json_text = self._json_text
        if json_text is not None and '"' in text and self._json_key_in(text) and json_text.search(text) is not None:
            text = json_text.sub(self._json_sub, text)
        quoted = self._json_quoted
        if (
            quoted is not None
            and ("\\" in text or "'" in text)
            and self._json_key_in(text)
            and quoted.search(text) is not None
        ):
            text = quoted.sub(self._quoted_sub, text)
        return text

    def _quoted_sub(self, match: re.Match[str]) -> str:
        """A quoted pair's value masked; one masked already is kept (``'Authorization': 'Bearer
        [REDACTED]'``, a header map redacted before it was printed, keeps its scheme; a ``hash``
        mode digest stays)."""
        key, whole = match.group("key"), match.group(0)
        value = whole[len(key) :]
        if self._mask in value or _DIGEST.fullmatch(value.strip("\\\"'")) is not None:
            return whole
        quote = match.group("q")
        return f"{key}{quote}{self._mask}{quote}"

    def _json_key_in(self, text: str) -> bool:
        low = text.lower()
        return any(key in low for key in self._json_keys)

    def _json_sub(self, match: re.Match[str]) -> str:
        return f'{match.group(1)}"{self._mask}"'

    def _names_in(self, text: str) -> bool:
        """Whether a sensitive header's name is in ``text`` (substring tests: ~10x cheaper than the
        case-insensitive pattern's scan of a text without one, e.g. every URL)."""
        low = text.lower()
        return any(name in low for name in self._headers)

    def _header_sub(self, match: re.Match[str]) -> str:
        """A quoted sensitive header, its value masked (an auth value keeps its known scheme, as
        :meth:`header` writes it)."""
        name, colon, value = match.groups()
        scheme, sep, _ = value.strip().partition(" ")
        if name.lower() in _AUTH_SCHEMES and sep and scheme.lower() in KNOWN_SCHEMES:
            return f"{name}{colon}{scheme} {self._mask}"
        return f"{name}{colon}{self._mask}"

    def request_secrets(
        self, headers: Iterable[tuple[str, str]], query: str, path: str = "", routed: str = "", body: bytes = b""
    ) -> tuple[str, ...]:
        """The credential values one request carries (its sensitive headers' values, without an auth
        scheme; a Basic password decoded; its sensitive query keys' values, raw and decoded; its
        sensitive path parameters' values, decoded and encoded: :meth:`PathMasks.values`, in the
        client's ``path`` and in the ``routed`` one an edge plugin rewrote it to), longest
        first, each at least :data:`MIN_SECRET` characters, and the values of its JSON ``body``'s
        masked fields (:meth:`body_secrets`, once a failure handed the body over): what :meth:`text`
        masks as literals in the texts written about that request. Built on a failure or a log line,
        never per request."""
        found: set[str] = set()
        sensitive = self._headers
        for name, value in headers:
            lname = name.lower()
            if lname not in sensitive or not value:
                continue
            if lname in _AUTH_SCHEMES:
                scheme, sep, rest = value.strip().partition(" ")
                if sep and scheme.lower() in KNOWN_SCHEMES:
                    found.add(rest.strip())
                    if scheme.lower() == "basic":
                        found.update(_basic_parts(rest.strip()))
                else:
                    found.update(value.split())
                found.add(value.strip())
            elif lname == "cookie":
                for part in value.split(";"):
                    found.add(part.partition("=")[2].strip())
            else:
                found.add(value.strip())
        if query and "=" in query:
            keys = {k.lower() for k in self._query_keys}
            for pair in query.split("&"):
                key, eq, raw = pair.partition("=")
                if eq and unquote_plus(key).lower() in keys:
                    found.add(raw)
                    found.add(unquote_plus(raw))
        paths = self.paths
        if paths is not None:
            for one in (path, routed):
                if one:
                    found.update(paths.values(one))
        if body:
            found.update(self.body_secrets(body))
        found.update([shown for s in found if not s.isascii() and (shown := _replaced(s)) is not None])
        return tuple(sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True))

    def shown_secrets(self, shown: Iterable[Any]) -> tuple[str, ...]:
        """The values of the fields the body paths select in answers a Lua script could print (a
        decoded response's data, a ``no-op`` response's body as :meth:`body_secrets` reads it), each
        at least :data:`MIN_SECRET` characters. Print path only."""
        found: set[str] = set()

        def collect(value: Any) -> Any:
            _leaves(value, found)
            return value

        for value in shown:
            if isinstance(value, bytes):
                found.update(self.body_secrets(value))
            elif isinstance(value, dict | list) and value:
                for selector in self._body:
                    selector.apply(value, collect)
        return tuple(s for s in found if len(s) >= MIN_SECRET)

    def pattern_secrets(self, url_pattern: str) -> tuple[str, ...]:
        """The values a backend's ``url_pattern`` holds in its query under a key this redactor masks
        (``/x?api_key=…``: the gateway's own upstream key), as written and decoded, each at least
        :data:`MIN_SECRET` characters; a value built from the request (``{{.Key}}``, also as the
        request line writes it, ``%7B%7B.Key%7D%7D``) is none. Start-up only: registered as literals
        (:meth:`learn`) and masked in the backend's refusals."""
        query = url_pattern.partition("?")[2]
        if not query:
            return ()
        return tuple(s for s in self.request_secrets((), query) if "{{" not in unquote_plus(s))

    def body_secrets(self, body: bytes) -> tuple[str, ...]:
        """The values of the fields the body paths select in a JSON request ``body`` (strings and
        numbers, those of a selected object or list too), or of the sensitive query keys in a form
        body (``user=ada&password=…``), each at least :data:`MIN_SECRET` characters: what
        :meth:`text` masks as literals in the texts about that request (a script's
        ``error('weak password ' .. body.password)``). Failure path only: the body is parsed here."""
        if not body or len(body) > _BODY_SECRETS_MAX:
            return ()
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            text = body.decode("utf-8", "replace")
            return self.request_secrets((), text) if "=" in text and "{" not in text[:1] else ()
        found: set[str] = set()

        def collect(value: Any) -> Any:
            _leaves(value, found)
            return value

        for selector in self._body:
            selector.apply(doc, collect)
        return tuple(s for s in found if len(s) >= MIN_SECRET)

    url = text

    def target(self, path: str, query: str) -> str:
        """``path?query`` as logged, the query's secrets masked (the path's are the route's:
        :meth:`route_target`)."""
        return f"{path}?{self.query(query)}" if query else path

    def route_path(self, route: str | None, routed: str, path: str) -> str:
        """``path`` as logged for a request whose matched route is ``route``: its sensitive path
        parameters masked (:meth:`PathMasks.mask`; ``routed``: the path the route matched)."""
        paths = self.paths
        return path if paths is None else paths.mask(route, routed, path)

    def route_target(self, route: str | None, routed: str, path: str, query: str) -> str:
        """:meth:`target` of a request whose matched route is ``route``: :meth:`route_path`'s path."""
        path = self.route_path(route, routed, path)
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
        for secret in self._body_literals:
            if secret in text:
                text = text.replace(secret, self._mask)
        return text
