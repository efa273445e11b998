"""The generated document served at a path (``serve_at``, a krakenpy extension): bytes made once."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from multidict import CIMultiDict

from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse

__all__ = ["document_middleware"]


def document_middleware(path: str, document: dict[str, Any]) -> EdgeMiddleware:
    """Answer GET and HEAD of ``path`` with ``document`` as JSON (``ETag``, 304 on ``If-None-Match``);
    every other request goes on to the router."""
    body = orjson.dumps(document)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    base = (("Content-Type", "application/json"), ("ETag", etag), ("Cache-Control", "no-cache"))

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        async def handle(request: HttpRequest) -> HttpResponse:
            if request.path != path or request.method not in ("GET", "HEAD"):
                return await next_handler(request)
            if request.headers.get("If-None-Match", "") in (etag, "W/" + etag, "*"):
                return HttpResponse(304, CIMultiDict((("ETag", etag),)))
            headers = CIMultiDict(base)
            if request.method == "HEAD":
                headers["Content-Length"] = str(len(body))
                return HttpResponse(200, headers)
            return HttpResponse(200, headers, body)

        return handle

    return middleware
