"""A real browser against krakenpy: headless Chromium runs ``fetch()`` from a page on another origin.

The page (served on its own port, so its own origin) calls the gateways, then posts what it saw back
to its own server, where the test reads it. Needs Debian's ``chromium`` (``make test`` installs it):
the test fails without it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import make_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PAGE = """<!doctype html><html><body><script>
async function attempt(url, init, header) {
  try {
    const resp = await fetch(url, init);
    return {status: resp.status, body: await resp.json(), header: header ? resp.headers.get(header) : null};
  } catch (err) {
    return {error: String(err)};
  }
}
(async () => {
  const results = {
    preflighted: await attempt("GW/data", {
      method: "PUT", headers: {"X-Api-Key": "k", "Content-Type": "application/json"}, body: "{}",
    }, "X-Trace"),
    refused_origin: await attempt("OTHER/data", {}),
    credentials_star: await attempt("OTHER/open", {credentials: "include"}),
    credentials_reflected: await attempt("OTHER/reflected", {credentials: "include"}),
  };
  await fetch("/report", {method: "POST", body: JSON.stringify(results)});
})();
</script></body></html>"""


async def _page_server(backend, gateway_url: str, other_url: str) -> tuple[str, asyncio.Future[Any]]:
    reported: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def page(request: web.Request) -> web.Response:
        html = PAGE.replace("GW/", gateway_url + "/").replace("OTHER/", other_url + "/")
        return web.Response(text=html, content_type="text/html")

    async def report(request: web.Request) -> web.Response:
        if not reported.done():
            reported.set_result(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_post("/report", report)
    return await backend(app), reported


async def test_cors_browser_fetch_from_another_origin(backend, gateway) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (make test installs the Debian package)")

    async def data(request: web.Request) -> web.Response:
        return web.json_response({"method": request.method}, headers={"X-Trace": "t-1"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", data)
    upstream = await backend(app)
    noop = {"output_encoding": "no-op", "backend": [{"host": [upstream], "url_pattern": "/", "encoding": "no-op"}]}
    # gateway 1: every origin, a custom request header (so a preflight) and an exposed response header
    allowed: dict[str, Any] = {"allow_methods": ["GET", "PUT"], "allow_headers": ["X-Api-Key", "Content-Type"]}
    gw = await gateway(
        make_config(
            [{"endpoint": "/data", "method": "PUT", "input_headers": ["*"], **noop}],
            extra_config={"security/cors": {**allowed, "expose_headers": ["X-Trace"]}},
        )
    )
    # gateway 2: another origin only; every origin with credentials (KrakenD's "*"); and reflected
    other = await gateway(
        make_config(
            [
                {"endpoint": "/data", "backend": [{"host": [upstream], "url_pattern": "/"}]},
                {
                    "endpoint": "/open",
                    "backend": [{"host": [upstream], "url_pattern": "/"}],
                    "extra_config": {"security/cors": {"allow_credentials": True}},
                },
                {
                    "endpoint": "/reflected",
                    "backend": [{"host": [upstream], "url_pattern": "/"}],
                    "extra_config": {"security/cors": {"allow_credentials": True, "reflect_origin": True}},
                },
            ],
            extra_config={"security/cors": {"allow_origins": ["https://elsewhere.example"]}},
        )
    )
    gw_url = str(gw.make_url("")).rstrip("/")
    other_url = str(other.make_url("")).rstrip("/")
    page_url, reported = await _page_server(backend, gw_url, other_url)

    # Chromium's helper processes outlive the killed browser by a moment and may still write to the
    # profile: its removal must not fail the test (seen once in a clean-clone run: ENOTEMPTY)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = await asyncio.create_subprocess_exec(
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            page_url + "/",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            results = await asyncio.wait_for(reported, timeout=30)
        finally:
            proc.kill()
            await proc.wait()

    assert results["preflighted"] == {"status": 200, "body": {"method": "PUT"}, "header": "t-1"}
    assert "error" in results["refused_origin"]  # the browser refuses: no Allow-Origin for the page
    assert "error" in results["credentials_star"]  # '*' with credentials: refused by the browser
    assert results["credentials_reflected"] == {"status": 200, "body": {"method": "GET"}, "header": None}
