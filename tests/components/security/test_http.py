"""``security/http`` through the gateway: host checks, HTTPS redirect, HSTS and headers on every
answer but ``GET /__health``."""

from __future__ import annotations

import pytest

from krakenpy.components.security.http import COMPONENT
from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import ignored_fields
from krakenpy.httpsecure import SecureOptions
from tests.components.helpers import json_app, site
from tests.conftest import make_config

HEADERS = {
    "frame_deny": True,
    "content_type_nosniff": True,
    "browser_xss_filter": True,
    "referrer_policy": "no-referrer",
}


def test_http_parse_at_json_path() -> None:
    assert COMPONENT.parse({}, site("security/http", "service")) == SecureOptions()
    with pytest.raises(ConfigError) as caught:
        COMPONENT.parse({"allowed_hosts": ["(x"], "allowed_hosts_are_regex": True}, site("security/http", "service"))
    assert [i.path for i in caught.value.issues] == ["extra_config.security/http.allowed_hosts[0]"]


def test_http_component_is_service_level_edge() -> None:
    assert COMPONENT.levels == {"service"} and COMPONENT.layers == ("edge",)


def _doc(host: str, secure: dict, **service) -> dict:
    return make_config(
        [{"endpoint": "/a", "backend": [{"host": [host], "url_pattern": "/"}]}],
        extra_config={"security/http": secure, **service},
    )


async def test_http_gateway_headers_on_200_404_405(backend, gateway) -> None:
    client = await gateway(_doc(await backend(json_app({"a": 1})), HEADERS))
    for method, path, status in (("GET", "/a", 200), ("GET", "/nope", 404), ("POST", "/a", 405)):
        resp = await client.request(method, path)
        assert resp.status == status
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-XSS-Protection"] == "1; mode=block"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    health = await client.get("/__health")
    assert health.status == 200 and "X-Frame-Options" not in health.headers


async def test_http_gateway_bad_host(backend, gateway) -> None:
    client = await gateway(_doc(await backend(json_app({"a": 1})), {"allowed_hosts": ["api.example.com"], **HEADERS}))
    bad = await client.get("/a")  # Host: 127.0.0.1:port
    assert (bad.status, await bad.read()) == (500, b"Bad Host\n")
    assert bad.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "X-Frame-Options" not in bad.headers and "X-Krakend" not in bad.headers
    good = await client.get("/a", headers={"Host": "API.example.com"})
    assert good.status == 200
    assert (await client.get("/__health")).status == 200  # gin registers it before the middleware


async def test_http_gateway_custom_health_path_is_the_exempt_one(backend, gateway) -> None:
    doc = _doc(await backend(json_app({})), {"allowed_hosts": ["x"]}, router={"health_path": "/ping"})
    client = await gateway(doc)
    assert (await client.get("/ping")).status == 200
    assert (await client.get("/__health")).status == 500


async def test_http_gateway_ssl_redirect_and_proxy_headers(backend, gateway) -> None:
    cfg = {
        "ssl_redirect": True,
        "ssl_proxy_headers": {"X-Forwarded-Proto": "https"},
        "host_proxy_headers": ["X-Forwarded-Host"],
        "sts_seconds": 300,
        "sts_include_subdomains": True,
    }
    client = await gateway(_doc(await backend(json_app({"a": 1})), cfg))
    redirect = await client.get("/a%2Fb?x=1", headers={"X-Forwarded-Host": "api.example.com"}, allow_redirects=False)
    assert redirect.status == 301
    assert redirect.headers["Location"] == "https://api.example.com/a%2Fb?x=1"
    assert redirect.headers["Content-Type"] == "text/html; charset=utf-8"
    assert await redirect.text() == '<a href="https://api.example.com/a%2Fb?x=1">Moved Permanently</a>.\n\n'
    tls = await client.get("/a", headers={"X-Forwarded-Proto": "https"})
    assert (tls.status, tls.headers["Strict-Transport-Security"]) == (200, "max-age=300; includeSubDomains")


def test_http_warns_about_hpkp() -> None:
    """Accepted and not sent, as in KrakenD: a load warning (check, check --skip-components, run)."""
    doc = _doc("http://127.0.0.1:8000", {"hpkp_public_key": "pin-sha256=x"})
    assert [str(w) for w in ignored_fields(build_service(doc))] == [
        "extra_config.security/http.hpkp_public_key: accepted; no effect, as in KrakenD (browsers dropped HTTP "
        "Public Key Pinning and KrakenD sends no such header)"
    ]


async def test_http_gateway_covers_router_redirects(backend, gateway) -> None:
    # gin redirects /a/ → /a before its middlewares run; krakenpy's edge wraps the redirect too
    client = await gateway(_doc(await backend(json_app({})), {"allowed_hosts": ["api.example.com"], **HEADERS}))
    refused = await client.get("/a/", allow_redirects=False)
    assert refused.status == 500
    redirect = await client.get("/a/", headers={"Host": "api.example.com"}, allow_redirects=False)
    assert (redirect.status, redirect.headers["Location"], redirect.headers["X-Frame-Options"]) == (301, "/a", "DENY")
