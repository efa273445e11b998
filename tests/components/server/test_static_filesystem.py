"""``server/static-filesystem``: a folder served on a prefix before the router, through a real gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from krakenpy.components.server.static_filesystem import COMPONENT
from krakenpy.errors import ConfigError
from tests.components.helpers import json_app, site
from tests.conftest import make_config
from tests.corpus import CORPUS, needs_corpus

Gateway = Callable[..., Awaitable[TestClient[Any, Any]]]
Start = Callable[..., Awaitable[str]]


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    (root / "app").mkdir(parents=True)
    (root / "index.html").write_text("<h1>spa</h1>")
    (root / "app" / "main.js").write_text("console.log(1)")
    (root / "data.json").write_text('{"a": 1}')
    (root / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("outside")
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    return tmp_path


def _config(backend_url: str, **static: Any) -> dict[str, Any]:
    options = {"prefix": "/", "path": "www", "skip": ["/api"], **static}
    return make_config(
        [{"endpoint": "/api/users", "backend": [{"host": [backend_url], "url_pattern": "/users"}]}],
        extra_config={"server/static-filesystem": options},
    )


async def _raw(client: TestClient[Any, Any], target: str) -> tuple[int, bytes]:
    """Send ``target`` byte for byte (no client-side normalisation of ``..`` or ``%2F``)."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def test_static_filesystem_serves_a_spa_and_skips_its_api(backend: Start, gateway: Gateway, www: Path) -> None:
    client = await gateway(_config(await backend(json_app({"users": 2}))), base_dir=www)
    page = await client.get("/")
    assert page.status == 200 and await page.text() == "<h1>spa</h1>"
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    script = await client.get("/app/main.js")
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "X-Krakend" not in script.headers  # not an endpoint answer
    api = await client.get("/api/users")
    assert api.status == 200 and await api.json() == {"users": 2}


async def test_static_filesystem_prefix_is_stripped(backend: Start, gateway: Gateway, www: Path) -> None:
    doc = _config(await backend(json_app({})), prefix="/media/", skip=[])
    client = await gateway(doc, base_dir=www)
    assert await (await client.get("/media/data.json")).json() == {"a": 1}
    assert (await client.get("/data.json")).status == 404  # the router's 404: not under the prefix
    assert (await client.get("/media/missing.css")).status == 404


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/app%2f..%2f..%2fsecret.txt",
        "/app/..%5c..%5csecret.txt",
        "/data.json%00.html",
        "/.env",
        "/%2eenv",
        "/leak.txt",
    ],
)
async def test_static_filesystem_never_leaves_the_folder(
    backend: Start, gateway: Gateway, www: Path, target: str
) -> None:
    client = await gateway(_config(await backend(json_app({}))), base_dir=www)
    status, body = await _raw(client, target)
    assert status in (400, 404)
    assert b"outside" not in body and b"SECRET" not in body


async def test_static_filesystem_conditional_get(backend: Start, gateway: Gateway, www: Path) -> None:
    client = await gateway(_config(await backend(json_app({}))), base_dir=www)
    first = await client.get("/data.json")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = await client.get("/data.json", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    assert (await client.get("/data.json", headers={"If-Modified-Since": modified})).status == 304
    (www / "www" / "data.json").write_text('{"a": 22}')  # a new size: a new ETag
    changed = await client.get("/data.json", headers={"If-None-Match": etag})
    assert changed.status == 200 and await changed.json() == {"a": 22}


async def test_static_filesystem_head_range_and_methods(backend: Start, gateway: Gateway, www: Path) -> None:
    client = await gateway(_config(await backend(json_app({}))), base_dir=www)
    head = await client.head("/data.json")
    assert head.status == 200 and head.headers["Content-Length"] == "8" and await head.read() == b""
    part = await client.get("/data.json", headers={"Range": "bytes=0-3"})
    assert part.status == 206 and await part.read() == b'{"a"'
    post = await client.post("/data.json", data=b"x")
    assert post.status == 405 and post.headers["Allow"] == "GET, HEAD"


async def test_static_filesystem_folders_redirect_and_listing(backend: Start, gateway: Gateway, www: Path) -> None:
    client = await gateway(_config(await backend(json_app({})), directory_listing=True), base_dir=www)
    redirect = await client.get("/app?x=1", allow_redirects=False)
    assert redirect.status == 301 and redirect.headers["Location"] == "/app/?x=1"
    index = await client.get("/index.html", allow_redirects=False)
    assert index.status == 301 and index.headers["Location"] == "/"
    listing = await client.get("/app/")
    assert listing.status == 200 and '<a href="main.js">main.js</a>' in await listing.text()
    plain = await gateway(_config(await backend(json_app({}))), base_dir=www)
    assert (await plain.get("/app/")).status == 404  # no index.html, no listing


async def test_static_filesystem_gets_cors_and_security_headers(backend: Start, gateway: Gateway, www: Path) -> None:
    doc = _config(await backend(json_app({})))
    doc["extra_config"]["security/cors"] = {"allow_origins": ["https://a.example"]}
    doc["extra_config"]["security/http"] = {"content_type_nosniff": True, "allowed_hosts": ["good.example"]}
    client = await gateway(doc, base_dir=www)
    ok = await client.get("/data.json", headers={"Origin": "https://a.example", "Host": "good.example"})
    assert ok.status == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get("/data.json", headers={"Host": "evil.example"})).status == 500  # Bad Host


async def test_static_filesystem_missing_folder_warns_and_answers_404(
    backend: Start, gateway: Gateway, tmp_path: Path
) -> None:
    client = await gateway(_config(await backend(json_app({}))), base_dir=tmp_path)
    assert (await client.get("/index.html")).status == 404
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("late")
    assert await (await client.get("/")).text() == "late"


async def test_static_filesystem_build_warnings(www: Path) -> None:
    from contextlib import AsyncExitStack

    from krakenpy.resources import Resources

    doc = {
        "version": 3,
        "endpoints": [
            {"endpoint": "/media/{id}", "backend": [{"host": ["http://h"], "url_pattern": "/"}]},
            {"endpoint": "/api/a", "backend": [{"host": ["http://h"], "url_pattern": "/"}]},
        ],
    }
    where = site("server/static-filesystem", "service", doc)
    options = COMPONENT.parse({"prefix": "/", "path": "nowhere", "skip": ["/api"]}, where)
    async with AsyncExitStack() as stack:
        resources = Resources(service=where.service, http=None, stack=stack, base_dir=www)  # type: ignore[arg-type]
        assert COMPONENT.edge is not None
        assert await COMPONENT.edge(options, where, resources) is not None
    assert any("does not exist" in w for w in resources.warnings)
    shadowed = next(w for w in resources.warnings if "never reached" in w)
    assert "2 endpoint(s)" in shadowed and "GET /media/{id}" in shadowed and "GET /__health (health)" in shadowed


def test_static_filesystem_parse_refuses_unclean_prefix() -> None:
    where = site("server/static-filesystem", "service")
    with pytest.raises(ConfigError, match="clean URL path"):
        COMPONENT.parse({"prefix": "/a/../b/", "path": "x"}, where)
    options = COMPONENT.parse({"prefix": "/a/", "path": "x", "skip": ["/a/b"]}, where)
    assert options.skip == ("/a/b",) and options.max_file_size == 16 * 1024 * 1024


async def test_static_filesystem_a_file_instead_of_a_folder_is_a_config_error(www: Path) -> None:
    from contextlib import AsyncExitStack

    from krakenpy.resources import Resources

    where = site("server/static-filesystem", "service")
    options = COMPONENT.parse({"prefix": "/", "path": "www/data.json"}, where)
    async with AsyncExitStack() as stack:
        resources = Resources(service=where.service, http=None, stack=stack, base_dir=www)  # type: ignore[arg-type]
        assert COMPONENT.edge is not None
        with pytest.raises(ConfigError, match="not a folder"):
            await COMPONENT.edge(options, where, resources)


@needs_corpus
def test_static_filesystem_corpus_005_runs_with_its_files(tmp_path: Path) -> None:
    """KrakenD's encodings example, on the real CLI: its backends are the gateway's own static files."""
    import json
    import signal
    import subprocess
    import sys
    import urllib.request

    from tests.cli_gateway import wait_http
    from tests.conftest import free_port

    port = free_port()
    doc = json.loads((CORPUS / "005-krakend-examples-encodings.json").read_text())
    doc["port"], doc["host"] = port, [f"http://127.0.0.1:{port}"]
    doc["endpoints"][1]["backend"][0]["host"] = [f"http://127.0.0.1:{port}"]
    (tmp_path / "krakend.json").write_text(json.dumps(doc))
    data = tmp_path / "data"
    data.mkdir()
    (data / "response.json").write_text('{"kind": "json"}')
    (data / "response.xml").write_text("<root><kind>xml</kind></root>")
    (data / "response.txt").write_text("plain text")
    (data / "response.rss").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>feed</title>'
        "<item><title>one</title></item></channel></rss>"
    )
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", "krakend.json", "-w", "1"],
        cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/encodings.json", timeout=5) as resp:
            merged = json.loads(resp.read())
            assert resp.headers["X-Krakend-Completed"] == "true"
        assert merged["json"] == {"kind": "json"}
        assert merged["xml"] == {"root": {"kind": "xml"}}
        assert merged["string"] == {"content": "plain text"}
        assert "feed" in json.dumps(merged["rss"])  # the rss decoder's shape is not this test's subject
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/encodings.xml", timeout=5) as resp:
            assert resp.headers["Content-Type"] == "application/xml"
            assert b"<kind>json</kind>" in resp.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/media/response.txt", timeout=5) as resp:
            assert resp.read() == b"plain text"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


async def test_static_filesystem_file_with_trailing_slash_redirects(
    backend: Start, gateway: Gateway, www: Path
) -> None:
    client = await gateway(_config(await backend(json_app({}))), base_dir=www)
    answer = await client.get("/data.json/", allow_redirects=False)
    assert answer.status == 301 and answer.headers["Location"] == "/data.json"
