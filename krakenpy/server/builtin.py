"""Built-in endpoints: ``/__health``, ``/__debug/*`` and ``/__echo/*`` (lura ``router/gin/debug.go``, echo, health)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from krakenpy.server.render import JSON_CT, go_json

__all__ = ["debug", "echo", "health"]

log = logging.getLogger("krakenpy.debug")


async def health(request: web.BaseRequest) -> web.Response:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")
    return web.Response(body=go_json({"agents": {}, "now": now, "status": "ok"}), headers={"Content-Type": JSON_CT})


async def debug(request: web.BaseRequest) -> web.Response:
    body = await request.read() if request.body_exists else b""
    log.debug(
        "method=%s url=%s query=%s headers=%s body=%r",
        request.method,
        request.rel_url,
        dict(request.query),
        dict(request.headers),
        body[:4096],
    )
    return web.Response(body=b'{"message":"pong"}', headers={"Content-Type": JSON_CT})


async def echo(request: web.BaseRequest) -> web.Response:
    body = await request.read() if request.body_exists else b""
    url = request.rel_url
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name, []).append(value)
    query: dict[str, list[str]] = {}
    for name, value in request.query.items():
        query.setdefault(name, []).append(value)
    data = {
        "req_uri": str(url),
        "req_uri_details": {
            "user": "",
            "host": request.host,
            "path": request.path,
            "query": request.query_string,
            "fragment": "",
        },
        "req_method": request.method,
        "req_querystring": query,
        "req_body": body.decode("utf-8", "replace"),
        "req_headers": headers,
    }
    return web.Response(body=go_json(data), headers={"Content-Type": JSON_CT})
