"""Backend calls through an HTTP proxy: Go's ``ProxyFromEnvironment`` rules (HTTP_PROXY, HTTPS_PROXY,
NO_PROXY) and KrakenD Enterprise's ``proxy_address``, through the real gateway to a proxy on 127.0.0.1
that reads requests off its socket."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.backends.proxies import from_environment, proxy_url, redacted
from tests.conftest import refusing_port
from tests.server.wirekit import RawBackend, Start, get, raw_request, reply

ROOT = Path(__file__).resolve().parents[2]
#: a name that resolves nowhere: a 200 for it proves the call went through the proxy
FAR = "http://backend.invalid:8080"


def _env(**values: str) -> dict[str, str]:
    return dict(values)


def test_proxies_none_without_proxy_variables() -> None:
    assert from_environment({}) is None
    assert from_environment({"NO_PROXY": "x"}) is None
    # a CGI environment ignores HTTP_PROXY (a client could set it through the Proxy header)
    assert from_environment({"HTTP_PROXY": "p:1", "REQUEST_METHOD": "GET"}) is None


def test_proxies_choose_by_scheme_and_never_for_loopback() -> None:
    proxies = from_environment({"http_proxy": "proxy:3128", "HTTPS_PROXY": "https://secure:443"})
    assert proxies is not None
    assert proxies.for_url("http://api.example.com/x") == "http://proxy:3128"
    assert proxies.for_url("https://api.example.com/x") == "https://secure:443"
    assert proxies.for_url("http://localhost:8080/x") is None
    assert proxies.for_url("http://127.0.0.5/x") is None
    assert proxies.for_url("http://[::1]:80/x") is None
    only_https = from_environment({"HTTPS_PROXY": "secure:1"})
    assert only_https is not None and only_https.for_url("http://api.example.com") is None


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("*", "http://anything.example", True),
        ("example.com", "http://example.com/x", True),
        ("example.com", "http://api.example.com/x", True),
        ("example.com", "http://notexample.com/x", False),
        (".example.com", "http://example.com/x", False),
        (".example.com", "http://api.example.com/x", True),
        ("*.example.com", "http://api.example.com/x", True),
        ("example.com:8080", "http://example.com:8080/x", True),
        ("example.com:8080", "http://example.com/x", False),
        ("10.0.0.0/8", "http://10.1.2.3/x", True),
        ("10.0.0.0/8", "http://11.1.2.3/x", False),
        ("192.168.1.1", "http://192.168.1.1:9000/x", True),
        ("192.168.1.1:80", "http://192.168.1.1:9000/x", False),
        (" Example.COM , other", "http://API.example.com/x", True),
    ],
)
def test_proxies_no_proxy_forms(no_proxy: str, url: str, direct: bool) -> None:
    proxies = from_environment({"HTTP_PROXY": "proxy:1", "NO_PROXY": no_proxy})
    assert proxies is not None
    assert (proxies.for_url(url) is None) is direct


def test_proxies_url_and_redaction() -> None:
    assert proxy_url("proxy:3128") == "http://proxy:3128"
    assert proxy_url("https://p:1") == "https://p:1"
    assert proxy_url("socks5://p:1") == "socks5://p:1"
    assert redacted("http://user:secret@proxy:3128") == "http://xxxxx@proxy:3128"
    assert redacted("http://proxy:3128") == "http://proxy:3128"


def _doc(host: str, **client: Any) -> dict[str, Any]:
    backend: dict[str, Any] = {"host": [host], "url_pattern": "/x"}
    if client:
        backend["extra_config"] = {"backend/http/client": client}
    return {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]}


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("client", ["fast", "aiohttp"])
async def test_proxies_environment_proxy_carries_calls_with_its_credentials(
    proxy_env: pytest.MonkeyPatch, raw_backend: Any, serve: Start, client: str
) -> None:
    proxy: RawBackend = await raw_backend(lambda seen, port: reply(body=b'{"via":"proxy"}'))
    direct: RawBackend = await raw_backend(lambda seen, port: reply(body=b'{"via":"direct"}'))
    proxy_env.setenv("HTTP_PROXY", f"http://user:s3cr3t@127.0.0.1:{proxy.port}")
    far = await serve(_doc(FAR), client=client)
    head = await raw_request(far.port, get("/a"))
    assert head.status == 200 and orjson.loads(head.body) == {"via": "proxy"}
    seen = proxy.seen[-1]
    assert seen.target == FAR + "/x"  # absolute form: a proxy request
    assert seen.get("Proxy-Authorization") == b"Basic dXNlcjpzM2NyM3Q="
    # loopback backends are never proxied (Go's rule), even with HTTP_PROXY set
    near = await serve(_doc(direct.url), client=client)
    head = await raw_request(near.port, get("/a"))
    assert orjson.loads(head.body) == {"via": "direct"}
    assert len(proxy.seen) == 1


async def test_proxies_no_proxy_sends_the_call_directly(
    proxy_env: pytest.MonkeyPatch, raw_backend: Any, serve: Start
) -> None:
    proxy: RawBackend = await raw_backend(lambda seen, port: reply())
    proxy_env.setenv("HTTP_PROXY", f"127.0.0.1:{proxy.port}")
    proxy_env.setenv("NO_PROXY", "internal.example,.invalid")
    served = await serve(_doc(FAR))
    head = await raw_request(served.port, get("/a"))
    assert head.status == 500  # backend.invalid resolves nowhere: called directly, it fails
    assert proxy.seen == []


async def test_proxies_proxy_address_without_environment(
    proxy_env: pytest.MonkeyPatch, raw_backend: Any, serve: Start
) -> None:
    proxy: RawBackend = await raw_backend(lambda seen, port: reply(body=b'{"via":"proxy"}'))
    served = await serve(_doc(FAR, proxy_address=f"127.0.0.1:{proxy.port}"))
    head = await raw_request(served.port, get("/a"))
    assert head.status == 200 and orjson.loads(head.body) == {"via": "proxy"}
    assert proxy.seen[-1].target == FAR + "/x"


async def test_proxies_unreachable_proxy_fails_without_showing_its_credentials(
    proxy_env: pytest.MonkeyPatch, serve: Start, caplog: pytest.LogCaptureFixture
) -> None:
    with refusing_port() as port:
        proxy_env.setenv("HTTP_PROXY", f"http://user:s3cr3t@127.0.0.1:{port}")
        doc = _doc(FAR)
        doc["extra_config"] = {"router": {"return_error_msg": True}}
        served = await serve(doc)
        with caplog.at_level(logging.DEBUG):
            head = await raw_request(served.port, get("/a"))
    assert head.status == 500
    assert b"s3cr3t" not in head.body
    assert "s3cr3t" not in caplog.text


async def test_proxies_socks_proxy_fails_the_call_with_a_reason(proxy_env: pytest.MonkeyPatch, serve: Start) -> None:
    doc = _doc(FAR, proxy_address="socks5://127.0.0.1:1080")
    doc["extra_config"] = {"router": {"return_error_msg": True}}
    served = await serve(doc)
    head = await raw_request(served.port, get("/a"))
    assert head.status == 500
    assert b"proxy scheme not supported" in head.body


def test_proxies_check_accepts_proxy_address_without_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "krakend.json"
    path.write_text(orjson.dumps(_doc(FAR, proxy_address="http://proxy:3128")).decode())
    result = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert "proxy_address" not in result.stdout + result.stderr
