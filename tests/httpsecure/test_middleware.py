"""``security/http`` through its edge middleware: host checks, HTTPS redirect, HSTS, headers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from krakenpy.edge import HttpRequest
from krakenpy.httpsecure import go_html_escape, parse_secure, secure_middleware
from tests.cors.helpers import Recorder

SECURITY = (
    "Strict-Transport-Security",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
    "Referrer-Policy",
)


def req(
    method: str = "GET",
    path: str = "/foo",
    *,
    host: str = "api.example.com",
    scheme: str = "http",
    query: str = "",
    raw_path: str = "",
    headers: list[tuple[str, str]] | None = None,
) -> HttpRequest:
    return HttpRequest(
        method, path, query, CIMultiDictProxy(CIMultiDict(headers or [])), host=host, scheme=scheme, raw_path=raw_path
    )


def secure(cfg: dict[str, Any], health: str | None = "/__health", status: int = 200):
    nxt = Recorder(status, [("Content-Type", "application/json")])
    return secure_middleware(parse_secure(cfg, "extra_config.security/http"), health)(nxt), nxt


def security_headers(response) -> dict[str, str]:
    return {name: response.headers[name] for name in SECURITY if name in response.headers}


async def test_secure_empty_config_adds_nothing() -> None:
    handle, nxt = secure({})
    response = await handle(req())
    assert (response.status, security_headers(response), len(nxt.calls)) == (200, {}, 1)


async def test_secure_headers_on_every_answer() -> None:
    cfg = {
        "frame_deny": True,
        "content_type_nosniff": True,
        "browser_xss_filter": True,
        "content_security_policy": "default-src 'self';",
        "referrer_policy": "same-origin",
    }
    handle, _ = secure(cfg, status=404)
    response = await handle(req(path="/unknown"))
    assert response.status == 404
    assert security_headers(response) == {
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "X-XSS-Protection": "1; mode=block",
        "Content-Security-Policy": "default-src 'self';",
        "Referrer-Policy": "same-origin",
    }
    assert response.headers["Content-Type"] == "application/json"


async def test_secure_custom_frame_options_wins_over_frame_deny() -> None:
    handle, _ = secure({"frame_deny": True, "custom_frame_options_value": "SAMEORIGIN"})
    assert (await handle(req())).headers.getall("X-Frame-Options") == ["SAMEORIGIN"]


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("api.example.com", True), ("API.Example.COM", True), ("api.example.com:8080", False), ("evil.com", False)],
)
async def test_secure_allowed_hosts(host: str, allowed: bool) -> None:
    handle, nxt = secure({"allowed_hosts": ["api.example.com"], "frame_deny": True})
    response = await handle(req(host=host))
    if allowed:
        assert (response.status, len(nxt.calls)) == (200, 1)
    else:
        assert (response.status, response.body, len(nxt.calls)) == (500, b"Bad Host\n", 0)
        assert dict(response.headers) == {
            "Content-Type": "text/plain; charset=utf-8",
            "X-Content-Type-Options": "nosniff",
        }


async def test_secure_host_proxy_headers_first_non_empty_wins() -> None:
    handle, _ = secure({"allowed_hosts": ["public.example"], "host_proxy_headers": ["X-Forwarded-Host", "X-Host"]})
    empty_first = [("X-Forwarded-Host", ""), ("X-Host", "public.example")]
    assert (await handle(req(host="10.0.0.1:8080", headers=empty_first))).status == 200
    assert (await handle(req(host="public.example", headers=[("X-Forwarded-Host", "evil")]))).status == 500


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.example.com", True),
        ("eu.api.example.com", True),
        ("api.example.com.evil", False),
        ("xapi.example.com", False),
        # KrakenD wraps each pattern as ^…$ without a group, so an alternation anchors one side each
        ("admin.internalanything", True),
        ("anything.internal", True),
    ],
)
async def test_secure_allowed_hosts_regex(host: str, allowed: bool) -> None:
    cfg = {
        "allowed_hosts": [r"([a-z]+\.)?api\.example\.com", r"admin\.internal|\.internal"],
        "allowed_hosts_are_regex": True,
    }
    handle, _ = secure(cfg)
    assert ((await handle(req(host=host))).status == 200) is allowed


async def test_secure_ssl_redirect_get() -> None:
    handle, nxt = secure({"ssl_redirect": True, "sts_seconds": 300, "frame_deny": True})
    # the target as the client encoded it (%2F stays %2F), not re-encoded from the decoded path
    response = await handle(req(path="/a b/x/y", query="q=1&r=%20", raw_path="/a%20b/x%2Fy?q=1&r=%20"))
    location = "https://api.example.com/a%20b/x%2Fy?q=1&r=%20"
    assert (response.status, response.headers["Location"], nxt.calls) == (301, location, [])
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.body == f'<a href="{go_html_escape(location)}">Moved Permanently</a>.\n\n'.encode()
    assert security_headers(response) == {}


@pytest.mark.parametrize(
    ("raw_path", "host", "location"),
    [
        ("/caf\u00e9?q=\u00fc", "api.example.com", "https://api.example.com/caf%C3%A9?q=%C3%BC"),
        ("/x\udcff", "api.example.com", "https://api.example.com/x%FF"),
        ("/x", "evil host", "https://evil%20host/x"),
        ("/x?", "api.example.com", "https://api.example.com/x?"),
    ],
)
async def test_secure_ssl_redirect_target_escaping(raw_path: str, host: str, location: str) -> None:
    handle, _ = secure({"ssl_redirect": True})
    response = await handle(req("GET", "/x", host=host, raw_path=raw_path))
    assert response.headers["Location"] == location


@pytest.mark.parametrize(("method", "content_type"), [("POST", None), ("HEAD", "text/html; charset=utf-8")])
async def test_secure_ssl_redirect_other_methods_have_no_body(method: str, content_type: str | None) -> None:
    handle, _ = secure({"ssl_redirect": True, "ssl_host": "secure.example.com"})
    response = await handle(req(method, "/orders"))
    assert (response.status, response.headers["Location"], response.body) == (
        301,
        "https://secure.example.com/orders",
        b"",
    )
    assert response.headers.get("Content-Type") == content_type


@pytest.mark.parametrize(
    ("scheme", "headers", "tls"),
    [
        ("https", [], True),
        ("http", [("X-Forwarded-Proto", "https")], True),
        ("http", [("X-Forwarded-Proto", "HTTPS")], False),  # the value must match exactly
        ("http", [], False),
    ],
)
async def test_secure_tls_detection_for_redirect_and_hsts(scheme: str, headers, tls: bool) -> None:
    cfg = {"ssl_redirect": True, "ssl_proxy_headers": {"X-Forwarded-Proto": "https"}, "sts_seconds": 300}
    handle, _ = secure(cfg)
    response = await handle(req(scheme=scheme, headers=headers))
    if tls:
        assert (response.status, response.headers["Strict-Transport-Security"]) == (200, "max-age=300")
    else:
        assert response.status == 301


async def test_secure_hsts_only_on_tls_unless_forced() -> None:
    cfg = {"sts_seconds": 31536000, "sts_include_subdomains": True}
    handle, _ = secure(cfg)
    assert "Strict-Transport-Security" not in (await handle(req())).headers
    on_tls = await handle(req(scheme="https"))
    assert on_tls.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    forced, _ = secure({**cfg, "force_sts_header": True})
    assert "Strict-Transport-Security" in (await forced(req())).headers


async def test_secure_is_development_turns_off_hosts_redirect_and_hsts() -> None:
    cfg = {
        "is_development": True,
        "allowed_hosts": ["prod.example"],
        "ssl_redirect": True,
        "sts_seconds": 300,
        "force_sts_header": True,
        "content_type_nosniff": True,
    }
    handle, _ = secure(cfg)
    response = await handle(req(host="localhost:8080"))
    assert (response.status, security_headers(response)) == (200, {"X-Content-Type-Options": "nosniff"})


async def test_secure_csp_nonce_changes_per_response() -> None:
    handle, _ = secure({"content_security_policy": "script-src $NONCE 'self'"})
    first = (await handle(req())).headers["Content-Security-Policy"]
    second = (await handle(req())).headers["Content-Security-Policy"]
    pattern = r"script-src 'nonce-[A-Za-z0-9+/]{22}==' 'self'"
    assert re.fullmatch(pattern, first) and re.fullmatch(pattern, second) and first != second


async def test_secure_health_route_exempt_for_get_only() -> None:
    handle, nxt = secure({"allowed_hosts": ["only.example"], "frame_deny": True})
    health = await handle(req("GET", "/__health", host="10.1.2.3:8080"))
    assert (health.status, security_headers(health)) == (200, {})
    assert (await handle(req("POST", "/__health", host="10.1.2.3"))).status == 500
    custom, _ = secure({"allowed_hosts": ["only.example"]}, health="/status")
    assert (await custom(req("GET", "/__health", host="x"))).status == 500
    assert (await custom(req("GET", "/status", host="x"))).status == 200
    disabled, _ = secure({"allowed_hosts": ["only.example"]}, health=None)
    assert (await disabled(req("GET", "/__health", host="x"))).status == 500


def test_go_html_escape_uses_numeric_quotes() -> None:
    assert go_html_escape("<a href=\"x\">'&'</a>") == "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
