"""Built-in endpoints: ``/__health``, ``/__debug/*`` and ``/__echo/*`` (lura ``router/gin/debug.go``, echo, health)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeAlias

from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.server.render import JSON_CT, go_json

__all__ = ["DebugLog", "debug", "echo", "health"]

log = logging.getLogger("krakenpy.debug")

#: the most of a body the debug endpoint reads (and logs)
_DEBUG_BODY = 1 << 20


async def health(request: HttpRequest) -> HttpResponse:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")
    return HttpResponse(200, {"Content-Type": JSON_CT}, go_json({"agents": {}, "now": now, "status": "ok"}))


async def _body(request: HttpRequest) -> bytes:
    if not request.has_body:
        return b""
    return await request.body(_DEBUG_BODY) or b""


#: ``describe(request, body)``: what the debug endpoint logs (the assembly passes a redacting one)
DebugLog: TypeAlias = Callable[[HttpRequest, bytes], None]


def _plain_debug_log(request: HttpRequest, body: bytes) -> None:
    # without a redactor, values are never written: names and sizes only
    log.debug(
        "method=%s path=%s headers=%s body=%d bytes", request.method, request.path, sorted(request.headers), len(body)
    )


async def debug(request: HttpRequest, describe: DebugLog | None = None) -> HttpResponse:
    body = await _body(request)
    (describe or _plain_debug_log)(request, body)
    return HttpResponse(200, {"Content-Type": JSON_CT}, b'{"message":"pong"}')


async def echo(request: HttpRequest) -> HttpResponse:
    body = await _body(request)
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name, []).append(value)
    query: dict[str, list[str]] = {}
    for name, value in request.query.items():
        query.setdefault(name, []).append(value)
    data = {
        "req_uri": request.raw_path,
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
    return HttpResponse(200, {"Content-Type": JSON_CT}, go_json(data))
