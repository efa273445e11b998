"""Dynamic routing (KrakenD Enterprise syntax): ``{input_headers.X}`` / ``{input_query_strings.x}`` in a
backend's url_pattern and host, through the real gateway and a backend on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from krakenpy.config import build_service
from krakenpy.errors import ConfigError, PipelineError
from krakenpy.server.response import error_response

Start = Callable[..., Awaitable[Any]]


async def _recorder(backend: Start) -> tuple[str, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append({"path": request.raw_path, "route": request.headers.get("X-Route", "")})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return await backend(app), seen


async def test_dynamic_url_pattern_from_header_and_query(backend: Start, gateway: Start) -> None:
    base, seen = await _recorder(backend)
    client = await gateway(
        {
            "version": 3,
            "endpoints": [
                {
                    "endpoint": "/h/{id}",
                    "backend": [{"host": [base], "url_pattern": "/t/{input_headers.x-route}/{id}"}],
                },
                {"endpoint": "/q", "backend": [{"host": [base], "url_pattern": "/q/{input_query_strings.route}"}]},
            ],
        }
    )
    response = await client.get("/h/7", headers={"X-Route": "hello"})
    assert response.status == 200
    # the value is used without input_headers forwarding the header
    assert seen[-1] == {"path": "/t/hello/7", "route": ""}
    response = await client.get("/h/7", headers={"X-Route": "a/../b"})
    assert response.status == 200 and seen[-1]["path"] == "/t/a%2F..%2Fb/7"  # never a new path segment
    response = await client.get("/q?route=world&route=second")
    assert response.status == 200 and seen[-1]["path"] == "/q/world"  # the first value
    count = len(seen)
    for path, headers in (("/h/7", {}), ("/q", {}), ("/q?other=1", {})):
        response = await client.get(path, headers=headers)
        assert response.status == 400, path
    assert len(seen) == count  # a request without its routing input never reaches a backend


async def test_dynamic_host_takes_host_names_only(backend: Start, gateway: Start) -> None:
    base, seen = await _recorder(backend)
    port = base.rsplit(":", 1)[1]
    client = await gateway(
        {
            "version": 3,
            "endpoints": [
                {
                    "endpoint": "/tenant",
                    "backend": [
                        {
                            "host": ["http://{input_headers.X-Tenant}:" + port],
                            "url_pattern": "/x",
                            "disable_host_sanitize": True,
                        }
                    ],
                }
            ],
        }
    )
    response = await client.get("/tenant", headers={"X-Tenant": "127.0.0.1"})
    assert response.status == 200 and seen[-1]["path"] == "/x"
    for bad in ("evil.example@127.0.0.1", "127.0.0.1:1", "127.0.0.1/x", "a..b", "-a"):
        response = await client.get("/tenant", headers={"X-Tenant": bad})
        assert response.status == 400, bad
    assert len(seen) == 1


def test_dynamic_host_needs_disable_host_sanitize() -> None:
    doc = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/t",
                "backend": [{"host": ["http://{input_headers.X-Tenant}.example.com"], "url_pattern": "/"}],
            }
        ],
    }
    with pytest.raises(ConfigError) as caught:
        build_service(doc)
    assert [(i.path, i.message) for i in caught.value.issues] == [
        ("endpoints[0].backend[0].host", "dynamic routing in host needs disable_host_sanitize: true")
    ]


async def test_dynamic_missing_input_is_a_client_error_logged_at_info(
    backend: Start, gateway: Start, caplog: pytest.LogCaptureFixture
) -> None:
    base, _ = await _recorder(backend)
    client = await gateway(
        {
            "version": 3,
            "extra_config": {"router": {"return_error_msg": True}},
            "endpoints": [{"endpoint": "/q", "backend": [{"host": [base], "url_pattern": "/{input_query_strings.r}"}]}],
        }
    )
    with caplog.at_level(logging.DEBUG, logger="krakenpy"):
        response = await client.get("/q")
        assert response.status == 400
        assert await response.text() == "missing query string 'r' for the backend URL"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # a client never raises ERROR volume


def test_dynamic_error_text_with_client_bytes_renders() -> None:
    exc = PipelineError("bad value \udcff\ud800", status=400)
    response = error_response(exc, "Version", True)
    assert response.status == 400 and response.body == b"bad value \xff" + "\ufffd".encode()
