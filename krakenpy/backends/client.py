"""The upstream HTTP client seam.

Backends talk to upstreams through :class:`UpstreamClient`, so the aiohttp ``ClientSession``
implementation here can be swapped for a faster one without touching the pipeline. Foreign
exceptions are mapped to :class:`~krakenpy.errors.BackendError` at exactly this boundary.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Protocol, TypeAlias
from urllib.parse import unquote_to_bytes

import aiohttp
from yarl import URL

from krakenpy.backends.conntiming import current_timing, now
from krakenpy.backends.gotext import transport_text
from krakenpy.backends.inflate import gunzip, inflate, strip_encoding
from krakenpy.backends.proxies import Proxy
from krakenpy.backends.redirects import REDIRECT_STATUSES, follow
from krakenpy.errors import BackendError, UpstreamBodyError
from krakenpy.jsonforms import json_forms

__all__ = [
    "AiohttpClient",
    "ClientMiddleware",
    "ClientOptions",
    "UpstreamCall",
    "UpstreamClient",
    "UpstreamResponse",
    "decoded",
    "invalid_header",
    "printable",
    "refusal_without",
    "refusals_without",
    "refused_header",
    "url_credentials",
    "valid_value",
    "without_literals",
]

#: largest backend body read into memory, before and after gzip decoding (a larger one is a backend error)
MAX_BODY = 64 * 1024 * 1024
#: the header block of a backend answer the fast client reads (Go's client allows 10 MiB, any count)
MAX_HEADER_BYTES = 1 << 20
#: header lines of one answer for the fast client (its byte bound is MAX_HEADER_BYTES)
MAX_HEADER_LINES = 16384
#: aiohttp's parser bounds no total: 1024 lines of at most 8 KiB each (8 MiB, within Go's budget)
AIOHTTP_HEADER_LINES = 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: what Go's client refuses in a header value (httpguts.ValidHeaderFieldValue): a control byte but HTAB, or DEL
HEADER_CONTROL: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    #: (name, value) pairs as received
    headers: tuple[tuple[str, str], ...]
    body: bytes
    content_type: str


def without_literals(response: UpstreamResponse, literals: Iterable[bytes], mask: bytes) -> UpstreamResponse:
    """``response`` with each of ``literals`` (the gateway's own credentials: an LLM vendor key, the
    OAuth2 token it obtained) masked in its body and its header values: for a refusal quoting the
    credential it got, which ``return_error_code`` would pass on to the client, and a ``no-op``
    backend with its headers (``WWW-Authenticate``, ``Location``) (the failure path only)."""
    literals = [literal for literal in literals if literal]
    body = response.body
    found = [form for literal in literals for form in _quoted_forms(literal) if form in body]
    headers = _headers_without(response.headers, literals, mask)
    if not found and headers is response.headers:
        return response
    for literal in sorted(found, key=len, reverse=True):
        body = body.replace(literal, mask)
    if found:
        headers = tuple((k, v) for k, v in headers if k.lower() != "content-length")
    return UpstreamResponse(response.status, headers, body, response.content_type)


def _headers_without(
    headers: tuple[tuple[str, str], ...], literals: list[bytes], mask: bytes
) -> tuple[tuple[str, str], ...]:
    """``headers`` with ``literals`` masked in their values (decoded as the clients decode a header
    value: UTF-8, other bytes kept as surrogate escapes); the same tuple when none holds one."""
    texts = sorted({lit.decode("utf-8", "surrogateescape") for lit in literals}, key=len, reverse=True)
    if not any(text in value for _, value in headers for text in texts):
        return headers
    shown = mask.decode()
    masked: list[tuple[str, str]] = []
    for name, value in headers:
        for text in texts:
            value = value.replace(text, shown)
        masked.append((name, value))
    return tuple(masked)


async def refusal_without(response: UpstreamResponse, literals: Iterable[bytes], mask: bytes) -> UpstreamResponse:
    """:func:`without_literals` for a refusal whose body may still be encoded (the client's
    ``Accept-Encoding`` forwarded: the gateway decodes gzip only, as Go's transport): a ``deflate``
    body is inflated first (bounded as gzip is); a body in an encoding the gateway cannot read
    (``br``, ``zstd``...) or that does not inflate is withheld (empty), since the credential may be in
    it, encoded, for the client to decode. The failure path only."""
    codings = [
        c.strip().lower()
        for k, v in response.headers
        if k.lower() == "content-encoding"
        for c in v.split(",")
        if c.strip().lower() not in ("", "identity")
    ]
    if codings:
        body = b""
        if codings == ["deflate"]:
            try:
                body = await inflate(response.body, MAX_BODY)
            except BackendError:
                body = b""
        response = UpstreamResponse(response.status, strip_encoding(response.headers), body, response.content_type)
    return without_literals(response, literals, mask)


def refusals_without(call: UpstreamCall, literals: tuple[bytes, ...], mask: bytes) -> UpstreamCall:
    """``call`` with ``literals`` (the gateway's own credentials, as a backend's ``url_pattern``
    query holds them) masked in an answer that is not 2xx (:func:`without_literals`): a refusal
    quoting the key it got, which ``return_error_code``, ``return_error_details`` or a ``no-op``
    backend hands to the client. Built only for a backend with such a key."""

    async def masked(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        response = await call(method, url, headers, body)
        if 200 <= response.status < 300:
            return response
        return await refusal_without(response, literals, mask)

    return masked


def _quoted_forms(literal: bytes) -> tuple[bytes, ...]:
    """``literal``, and as the usual JSON encoders write it inside a string when that differs
    (:func:`~krakenpy.jsonforms.json_forms`: a ``"`` or a ``\\`` escaped, ``/`` as ``\\/``, non-ASCII as
    ``\\uXXXX``...): a refusal quoting the credential in a JSON message, which a client decodes."""
    try:
        forms = json_forms(literal.decode())
    except UnicodeDecodeError:  # not UTF-8: no JSON text holds it so
        return (literal,)
    return (literal, *(form.encode() for form in sorted(forms)))


class UpstreamClient(Protocol):
    """What a backend needs from an HTTP client."""

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
        *,
        follow_redirects: bool = True,
    ) -> UpstreamResponse:
        """One backend call; ``follow_redirects=False`` answers a 3xx as it is (``no_redirect``)."""
        ...

    async def close(self) -> None: ...


#: one upstream HTTP call: ``call(method, url, headers, body)`` (``UpstreamClient.request``'s shape)
UpstreamCall: TypeAlias = Callable[[str, str, list[tuple[str, str]], bytes | None], Awaitable[UpstreamResponse]]
#: the upstream-client seam of one backend (HTTP cache, OAuth2 client credentials)
ClientMiddleware: TypeAlias = Callable[[UpstreamCall], UpstreamCall]


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Transport settings from the service config (lura ``transport/http/client``)."""

    limit_per_host: int = 250
    limit: int = 0
    keepalive_timeout: float = 90.0
    connect_timeout: float | None = None
    response_header_timeout: float | None = None
    disable_keep_alives: bool = False
    max_body: int = MAX_BODY
    #: the proxy environment variables (HTTP(S)_PROXY, NO_PROXY) apply (the Lambda client, as botocore)
    trust_env: bool = False
    #: a CA bundle file verifying https peers instead of the system's (AWS_CA_BUNDLE / ca_bundle)
    ca_bundle: str | None = None
    #: the TLS context of https calls, made once by the caller (the OTLP exporter's
    #: OTEL_EXPORTER_OTLP_*CERTIFICATE and client key): over ``ca_bundle``
    ssl_context: ssl.SSLContext | None = None
    #: the proxy of each call's URL, or None for a direct call (backends/proxies.py; aiohttp's client)
    proxy: Callable[[str], Proxy | None] | None = None


async def decoded(status: int, headers: tuple[tuple[str, str], ...], body: bytes, cap: int) -> UpstreamResponse:
    """An upstream answer as the pipeline sees it: a gzip body inflated (at most ``cap`` bytes) and
    its ``Content-Encoding``/``Content-Length`` gone, as Go's transport does; other encodings untouched."""
    content_type = ""
    gzipped = False
    for name, value in headers:
        lower = name.lower()
        if lower == "content-type":
            content_type = content_type or value
        elif lower == "content-encoding" and value.strip().lower() == "gzip":
            gzipped = True
    if gzipped:
        body = await gunzip(body, cap)
        headers = strip_encoding(headers)
    return UpstreamResponse(status=status, headers=headers, body=body, content_type=content_type)


def valid_value(value: str) -> bool:
    """Whether Go's client sends ``value`` as a header value: no control byte but HTAB, no DEL (one
    C call for the usual value; the expression only for one holding a tab or a character Python does
    not print, such as a surrogate escape or U+0085, which Go sends)."""
    return value.isprintable() or HEADER_CONTROL.search(value) is None


def refused_header(pairs: Iterable[tuple[str, str]]) -> str | None:
    """The name of the first header whose value Go's client refuses to send, or None."""
    for name, value in pairs:
        if not value.isprintable() and HEADER_CONTROL.search(value) is not None:
            return name
    return None


def url_credentials(url: str, pairs: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """What Go's ``http.Client`` sends for a URL holding credentials (``http://user:pass@host/...``): the
    URL without them, and ``Authorization: Basic`` of its user and password (percent-decoded, the bytes
    as they are) only when the request's first ``Authorization`` value is absent or empty; a header
    set (a forwarded client token) wins. ``url`` and ``pairs`` as they are when it holds none."""
    if "@" not in url:
        return url, pairs
    start = url.find("://")
    if start < 0:
        return url, pairs
    start += 3
    end = len(url)
    for ch in "/?#":
        i = url.find(ch, start, end)
        if i != -1:
            end = i
    at = url.rfind("@", start, end)  # Go's url.Parse: the last "@" of the authority
    if at < 0:
        return url, pairs
    bare = url[:start] + url[at + 1 :]
    for name, value in pairs:
        if name.lower() == "authorization":
            if value:
                return bare, pairs
            break
    user, _, password = url[start:at].partition(":")
    basic = "Basic " + base64.b64encode(unquote_to_bytes(user) + b":" + unquote_to_bytes(password)).decode()
    return bare, [*(p for p in pairs if p[0].lower() != "authorization"), ("Authorization", basic)]


def _go_quoted(text: str) -> str:
    """``text`` as Go's ``%q`` writes a printable string: in double quotes, ``"`` and ``\\`` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def invalid_header(method: str, url: str, name: str) -> BackendError:
    """The failure of a call whose header ``name`` holds a value Go's client refuses to send, in the
    text ``http.Client.Do`` returns (``Get "URL": net/http: invalid header field value for "Name"``;
    the value is not said, as Go does not say it: it may be a secret). Nothing was sent."""
    op = method[:1] + method[1:].lower()
    return BackendError(f"{op} {_go_quoted(url)}: net/http: invalid header field value for {_go_quoted(name)}")


def printable(value: str) -> str:
    """A header value a UTF-8-only writer can send: bytes that were not UTF-8 (kept as surrogate
    escapes by the server) become U+FFFD instead of being dropped silently."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@cache
def _go_request() -> type[aiohttp.ClientRequest]:
    """aiohttp's request class with Go's ``Content-Length`` rule, made on first use: a class statement
    here would run aiohttp's package ``__init__`` (its whole client) in every start, while a gateway
    on the fast client never calls this one (``krakenpy/server/deferred_tls.py``, P7)."""

    class GoRequest(aiohttp.ClientRequest):
        """``0`` on a bodiless POST/PUT/PATCH only (aiohttp also adds it to DELETE and other methods)."""

        def update_body_from_data(self, body: Any, *args: Any, **kwargs: Any) -> None:
            super().update_body_from_data(body, *args, **kwargs)
            if body is None and self.method not in _BODY_METHODS:
                self.headers.popall("Content-Length", None)

    return GoRequest


class AiohttpClient:
    """:class:`UpstreamClient` over one shared ``aiohttp.ClientSession`` (one pool per host)."""

    def __init__(self, options: ClientOptions | None = None) -> None:
        self._options = options or ClientOptions()
        self._session: aiohttp.ClientSession | None = None
        self._timed = False

    def enable_timing(self) -> None:
        """Note connection and body-read timings in the call's :func:`~krakenpy.backends.conntiming.current_timing`
        (build time, before the first call: see :mod:`krakenpy.backends.aiotiming`)."""
        self._timed = True

    def _open(self) -> aiohttp.ClientSession:
        o = self._options
        traces: list[aiohttp.TraceConfig] = []
        connector_class = aiohttp.TCPConnector
        if self._timed:
            from krakenpy.backends.aiotiming import TimedConnector, trace_config

            traces, connector_class = [trace_config()], TimedConnector
        connector = connector_class(
            limit=o.limit,
            limit_per_host=o.limit_per_host,
            keepalive_timeout=o.keepalive_timeout if not o.disable_keep_alives else None,
            force_close=o.disable_keep_alives,
            ttl_dns_cache=30,
            ssl=o.ssl_context or (ssl.create_default_context(cafile=o.ca_bundle) if o.ca_bundle else True),
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=o.connect_timeout, sock_read=o.response_header_timeout)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            # gzip is inflated by krakenpy, bounded (backends/inflate.py); Go sends no default
            # Accept or Content-Type, so neither does this client
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
            request_class=_go_request(),
            raise_for_status=False,
            max_headers=AIOHTTP_HEADER_LINES,  # aiohttp's 128 refuses answers Go's client reads
            trust_env=o.trust_env,
            trace_configs=traces or None,
        )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
        *,
        follow_redirects: bool = True,
    ) -> UpstreamResponse:
        pairs = list(headers)
        try:
            first = await self.exchange(method, url, pairs, body)
            if follow_redirects and first[0] in REDIRECT_STATUSES and first[1] is not None:
                answer = await follow(self.exchange, method, url, pairs, body, first)
            else:
                answer = first[2]
            assert isinstance(answer, UpstreamResponse)
            return answer
        except BackendError:
            raise
        except TimeoutError as exc:
            raise BackendError(f"backend timeout [{method}]: {url}") from exc
        except aiohttp.ClientHttpProxyError as exc:
            # its text quotes the proxy's URL: said without it
            raise BackendError(f"proxy answered {exc.status} [{method}]: {url}") from exc
        except aiohttp.ClientError as exc:
            raise BackendError(transport_text(method, url, exc)) from exc
        except (OSError, ValueError) as exc:
            raise BackendError(transport_text(method, url, exc)) from exc

    async def exchange(
        self, method: str, url: str, pairs: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, str | None, UpstreamResponse]:
        """One request without following redirects: (status, Location, the decoded answer)."""
        refused = refused_header(pairs)
        if refused is not None:  # aiohttp refuses CR, LF and NUL with a ValueError, sends the other controls
            raise invalid_header(method, url, refused)
        session = self._session or self._open()
        cap = self._options.max_body
        choose = self._options.proxy
        proxy = choose(url) if choose is not None else None
        proxy_url: str | None = None
        proxy_headers: dict[str, str] | None = None
        if proxy is not None:
            if proxy.error:
                raise BackendError(f"{proxy.error} [{method}]: {url}")
            proxy_url = proxy.url
            if proxy.authorization is not None:
                # aiohttp sends proxy_headers on a CONNECT only; a plain http:// call goes to the proxy
                # itself, so the header rides on the request (never inside an https tunnel)
                if url[:6].lower() == "https:":
                    proxy_headers = {"Proxy-Authorization": proxy.authorization}
                else:
                    pairs = [*pairs, ("Proxy-Authorization", proxy.authorization)]
        # credentials in the URL as Go sends them (aiohttp refused them beside an Authorization header)
        target, pairs = url_credentials(url, pairs)
        async with session.request(
            method,
            URL(target, encoded=True),
            headers=[(k, printable(v)) for k, v in pairs],
            data=bytes(body) if body else None,
            allow_redirects=False,
            proxy=proxy_url,
            proxy_headers=proxy_headers,
        ) as resp:
            timing = current_timing() if self._timed else None
            if timing is not None:  # aiohttp reports no first byte: the head is the nearest
                timing.first_byte = timing.head = now()
            length = resp.content_length
            if length is not None and length > cap:
                raise BackendError(f"backend body too large ({length} bytes) [{method}]: {url}")
            chunks: list[bytes] = []
            size = 0
            try:
                while chunk := await resp.content.readany():
                    size += len(chunk)
                    if size > cap:
                        raise BackendError(f"backend body too large [{method}]: {url}")
                    chunks.append(chunk)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # the head had arrived: see UpstreamBodyError
                if timing is not None:
                    timing.read_end, timing.read_size = now(), size
                raise UpstreamBodyError(f"{type(exc).__name__}: {exc} [{method}]: {url}") from exc
            data = b"".join(chunks)
            if timing is not None:
                timing.read_end = now()
            answer = await decoded(resp.status, tuple(resp.headers.items()), data, cap)
            return resp.status, resp.headers.get("Location"), answer

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
