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

from krakenpy.backends.proxies import from_environment, parse_proxy, proxy_url
from tests.server.wirekit import RawBackend, Start, get, raw_request, reply

ROOT = Path(__file__).resolve().parents[2]
#: a name that resolves nowhere: a 200 for it proves the call went through the proxy
FAR = "http://backend.invalid:8080"


def test_proxies_none_without_proxy_variables() -> None:
    assert from_environment({}) is None
    assert from_environment({"NO_PROXY": "x"}) is None
    # a CGI environment ignores HTTP_PROXY (a client could set it through the Proxy header)
    assert from_environment({"HTTP_PROXY": "p:1", "REQUEST_METHOD": "GET"}) is None


def test_proxies_choose_by_scheme_and_never_for_loopback() -> None:
    proxies = from_environment({"http_proxy": "proxy:3128", "HTTPS_PROXY": "https://secure:443"})
    assert proxies is not None
    assert proxies.http is not None and proxies.https is not None
    assert proxies.for_url("http://api.example.com/x") is proxies.http
    assert proxies.http.url == "http://proxy:3128"
    assert proxies.for_url("https://api.example.com/x") is proxies.https
    assert proxies.https.url == "https://secure:443"
    assert proxies.for_url("http://localhost:8080/x") is None
    assert proxies.for_url("http://127.0.0.5/x") is None
    assert proxies.for_url("http://[::1]:80/x") is None
    assert proxies.for_url("http://[::ffff:127.0.0.1]:80/x") is None  # IPv4-mapped: loopback, as in Go
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
        ("10.0.0.0/8", "http://[::ffff:10.1.2.3]/x", True),
        ("bücher.example", "http://xn--bcher-kva.example/x", True),
        ("xn--caf-dma.example", "http://café.example/x", True),
    ],
)
def test_proxies_no_proxy_forms(no_proxy: str, url: str, direct: bool) -> None:
    proxies = from_environment({"HTTP_PROXY": "proxy:1", "NO_PROXY": no_proxy})
    assert proxies is not None
    assert (proxies.for_url(url) is None) is direct


def test_proxies_url_parsing_keeps_credentials_out_of_the_url() -> None:
    assert proxy_url("proxy:3128") == "http://proxy:3128"
    assert proxy_url("https://p:1") == "https://p:1"
    assert proxy_url("socks5://p:1") == "socks5://p:1"
    proxy = parse_proxy("http://us%40er:p%3Ass@proxy:3128/")
    assert proxy.url == "http://proxy:3128" and not proxy.error
    assert proxy.authorization == "Basic dXNAZXI6cDpzcw=="  # us@er:p:ss
    assert parse_proxy("[::1]:3128").url == "http://[::1]:3128"
    # a password with an unencoded # / ? does not parse: a fixed error, never the value
    for bad in ("http://user:pa#ss@proxy:1", "http://user:p/ss@proxy:1", "http://user:p?ss@proxy:1", "http://"):
        parsed = parse_proxy(bad)
        assert parsed.error == "invalid proxy URL" and parsed.url == "" and parsed.authorization is None
    assert parse_proxy("socks5://proxy:1080").error.startswith("proxy scheme not supported")


def _doc(host: str, **client: Any) -> dict[str, Any]:
    backend: dict[str, Any] = {"host": [host], "url_pattern": "/x"}
    if client:
        backend["extra_config"] = {"backend/http/client": client}
    return {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]}


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The environment, its proxy variables cleared by tests/conftest.py's autouse fixture."""
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


async def test_proxies_a_proxy_refusing_connect_never_shows_its_credentials(
    proxy_env: pytest.MonkeyPatch,
    raw_backend: Any,
    serve: Start,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # an https backend: aiohttp asks the proxy to CONNECT, the proxy says 407; aiohttp's error text
    # quotes the proxy's URL, which must not hold the credentials
    proxy: RawBackend = await raw_backend(lambda seen, port: reply(407, b"", content_type=None))
    proxy_env.setenv("HTTPS_PROXY", f"http://user:s3cr3t@127.0.0.1:{proxy.port}")
    doc = _doc("https://backend.invalid")
    doc["extra_config"] = {"router": {"return_error_msg": True}}
    served = await serve(doc)
    with caplog.at_level(logging.DEBUG):
        head = await raw_request(served.port, get("/a"))
    assert proxy.seen[-1].method == "CONNECT"
    assert proxy.seen[-1].get("Proxy-Authorization") == b"Basic dXNlcjpzM2NyM3Q="
    assert head.status == 500
    assert b"proxy answered 407" in head.body
    assert b"s3cr3t" not in head.body
    assert "s3cr3t" not in caplog.text and "s3cr3t" not in capsys.readouterr().out


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "proxy_address"])
async def test_proxies_an_unparsable_proxy_fails_the_calls_without_quoting_it(
    proxy_env: pytest.MonkeyPatch,
    serve: Start,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    variable: str,
) -> None:
    value = "http://user:pa#s3cr3t@127.0.0.1:3128"
    if variable == "HTTP_PROXY":
        proxy_env.setenv("HTTP_PROXY", value)
        doc = _doc(FAR)
    else:
        doc = _doc(FAR, proxy_address=value)
    doc["extra_config"] = {"router": {"return_error_msg": True}}
    with caplog.at_level(logging.DEBUG):
        served = await serve(doc)
        head = await raw_request(served.port, get("/a"))
    assert head.status == 500 and b"invalid proxy URL" in head.body
    if variable == "HTTP_PROXY":
        assert "HTTP_PROXY: invalid proxy URL" in " ".join(served.gateway.warnings)
    assert b"s3cr3t" not in head.body
    assert "s3cr3t" not in caplog.text and "s3cr3t" not in capsys.readouterr().out


async def test_proxies_proxy_address_carries_loopback_backends_too(
    proxy_env: pytest.MonkeyPatch, raw_backend: Any, serve: Start
) -> None:
    proxy: RawBackend = await raw_backend(lambda seen, port: reply(body=b'{"via":"proxy"}'))
    backend: RawBackend = await raw_backend(lambda seen, port: reply(body=b'{"via":"direct"}'))
    served = await serve(_doc(backend.url, proxy_address=f"http://127.0.0.1:{proxy.port}"))
    head = await raw_request(served.port, get("/a"))
    assert orjson.loads(head.body) == {"via": "proxy"}
    assert backend.seen == []


async def test_proxies_backends_keep_the_fast_client_unless_a_proxy_concerns_them(
    proxy_env: pytest.MonkeyPatch, serve: Start
) -> None:
    # which client made a failed call shows in its error text: aiohttp names its own exception class
    def doc() -> dict[str, Any]:
        d = _doc(FAR)
        d["extra_config"] = {"router": {"return_error_msg": True}}
        return d

    async def failure(served: Any) -> bytes:
        head = await raw_request(served.port, get("/a"))
        assert head.status == 500
        return head.body

    assert b"ClientConnector" not in await failure(await serve(doc(), client="fast"))
    proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    proxy_env.setenv("NO_PROXY", ".invalid")
    # every host bypasses the proxy: still the fast client
    assert b"ClientConnector" not in await failure(await serve(doc(), client="fast"))
    proxy_env.delenv("NO_PROXY")
    # proxied: aiohttp's client, failing on the refused proxy
    assert b"ClientProxyConnectionError" in await failure(await serve(doc(), client="fast"))


async def test_proxies_socks_proxy_fails_the_call_with_a_reason(proxy_env: pytest.MonkeyPatch, serve: Start) -> None:
    doc = _doc(FAR, proxy_address="socks5://127.0.0.1:1080")
    doc["extra_config"] = {"router": {"return_error_msg": True}}
    served = await serve(doc)
    head = await raw_request(served.port, get("/a"))
    assert head.status == 500
    assert b"proxy scheme not supported" in head.body


def _check(path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "krakenpy", "check", "-c", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_proxies_check_accepts_proxy_address_and_flags_an_unusable_one(tmp_path: Path) -> None:
    path = tmp_path / "krakend.json"
    path.write_text(orjson.dumps(_doc(FAR, proxy_address="http://proxy:3128")).decode())
    assert "proxy_address" not in _check(path)
    path.write_text(orjson.dumps(_doc(FAR, proxy_address="socks5://proxy:1080")).decode())
    out = _check(path)
    assert "backend/http/client.proxy_address: proxy scheme not supported" in out
