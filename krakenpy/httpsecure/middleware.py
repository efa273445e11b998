"""The ``security/http`` edge middleware (unrolled/secure ``Process`` as krakend-httpsecure uses it).

Order per request, as unrolled/secure does it: resolve the host (``Host``, or the first non-empty
``host_proxy_headers`` header); refuse a host not allowed (500 ``Bad Host``, no security headers);
redirect a non-TLS request with 301 when ``ssl_redirect``; otherwise let the request through and put
the security headers on whatever answers it (404 and 405 included). ``GET`` of the health path is
left alone (gin registers it before the middleware).
"""

from __future__ import annotations

import base64
import secrets
from urllib.parse import quote

from multidict import CIMultiDict

from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.httpsecure.options import SecureOptions

__all__ = ["go_html_escape", "go_redirect", "secure_middleware"]

_NONCE = "$NONCE"
#: what Go's hexEscapeNonASCII leaves alone in a redirect target: every printable ASCII byte
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


def go_html_escape(text: str) -> str:
    """Go's ``html.EscapeString`` (``&#39;`` and ``&#34;`` where Python writes named entities)."""
    return (
        text.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
    )


def go_redirect(method: str, location: str, status: int = 301) -> HttpResponse:
    """Go's ``http.Redirect``: ``Location``; for GET and HEAD an HTML content type; for GET a short
    body naming the target."""
    headers: CIMultiDict[str] = CIMultiDict(Location=location)
    body = b""
    if method in ("GET", "HEAD"):
        headers["Content-Type"] = "text/html; charset=utf-8"
    if method == "GET":
        body = f'<a href="{go_html_escape(location)}">Moved Permanently</a>.\n\n'.encode()
    return HttpResponse(status, headers, body)


def _bad_host() -> HttpResponse:
    # Go's http.Error: text/plain, nosniff, the message and a newline
    headers = CIMultiDict([("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")])
    return HttpResponse(500, headers, b"Bad Host\n")


class _Secure:
    """Everything the options allow to decide once."""

    def __init__(self, options: SecureOptions) -> None:
        dev = options.is_development
        self.proxy_hosts = options.host_proxy_headers
        self.check_hosts = bool(options.allowed_hosts) and not dev
        self.hosts = frozenset(h.lower() for h in options.allowed_hosts)
        self.patterns = options.host_patterns if options.allowed_hosts_are_regex else None
        self.ssl_headers = options.ssl_proxy_headers
        self.redirect = options.ssl_redirect and not dev
        self.ssl_host = options.ssl_host
        sts = ""
        if options.sts_seconds and not dev:
            sts = f"max-age={options.sts_seconds}" + ("; includeSubDomains" if options.sts_include_subdomains else "")
        self.sts = sts
        self.force_sts = options.force_sts_header
        fixed: list[tuple[str, str]] = []
        if options.custom_frame_options_value:
            fixed.append(("X-Frame-Options", options.custom_frame_options_value))
        elif options.frame_deny:
            fixed.append(("X-Frame-Options", "DENY"))
        if options.content_type_nosniff:
            fixed.append(("X-Content-Type-Options", "nosniff"))
        if options.browser_xss_filter:
            fixed.append(("X-XSS-Protection", "1; mode=block"))
        csp = options.content_security_policy
        #: a CSP with $NONCE gets a fresh nonce per response, so it is not a fixed header
        self.csp_nonce = csp if _NONCE in csp else ""
        if csp and not self.csp_nonce:
            fixed.append(("Content-Security-Policy", csp))
        if options.referrer_policy:
            fixed.append(("Referrer-Policy", options.referrer_policy))
        self.fixed = tuple(fixed)
        self.with_sts = ((("Strict-Transport-Security", sts),) if sts else ()) + self.fixed

    def host_allowed(self, host: str) -> bool:
        if self.patterns is not None:
            return any(p.search(host) for p in self.patterns)
        return host.lower() in self.hosts

    def is_tls(self, request: HttpRequest) -> bool:
        if request.scheme.lower() == "https":
            return True
        headers = request.headers
        return any(headers.get(name, "") == value for name, value in self.ssl_headers)

    def location(self, request: HttpRequest, host: str) -> str:
        # Go rebuilds the URL from the request's: host escaped, the path as the client encoded it
        # (url.URL.EscapedPath), the raw query; then non-ASCII bytes are percent-escaped
        target = "https://" + quote(self.ssl_host or host, safe="!$&'()*+,;=:[]<>\"", errors="surrogateescape")
        raw = request.raw_path
        if raw.startswith("/"):
            target += quote(raw, safe=_PRINTABLE_ASCII, errors="surrogateescape")
        else:  # an absolute-form target: its decoded path, escaped the way Go escapes one
            target += quote(request.path, safe="$&+,/:;=@", errors="surrogateescape")
            if request.query_string:
                target += "?" + request.query_string
        return target

    def headers(self, tls: bool) -> tuple[tuple[str, str], ...]:
        """The headers for one answer: HSTS on TLS (or forced), the fixed ones, a CSP with a nonce."""
        out = self.with_sts if tls or self.force_sts else self.fixed
        if self.csp_nonce:
            nonce = base64.b64encode(secrets.token_bytes(16)).decode()
            return (*out, ("Content-Security-Policy", self.csp_nonce.replace(_NONCE, f"'nonce-{nonce}'")))
        return out


def secure_middleware(options: SecureOptions, health_path: str | None = "/__health") -> EdgeMiddleware:
    """The edge middleware for one ``security/http`` value; ``health_path`` is exempt (GET only)."""
    secure = _Secure(options)

    def middleware(next: EdgeHandler) -> EdgeHandler:
        async def handle(request: HttpRequest) -> HttpResponse:
            if request.path == health_path and request.method == "GET":
                return await next(request)
            host = request.host
            for name in secure.proxy_hosts:
                forwarded = request.headers.get(name, "")
                if forwarded:
                    host = forwarded
                    break
            if secure.check_hosts and not secure.host_allowed(host):
                return _bad_host()
            tls = secure.is_tls(request)
            if secure.redirect and not tls:
                return go_redirect(request.method, secure.location(request, host))
            response = await next(request)
            pairs = secure.headers(tls)
            if pairs:
                response.headers.extend(pairs)
            return response

        return handle

    return middleware
