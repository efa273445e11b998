"""The bot detector as a middleware: at the edge for the service value (every route, 404 and 405,
not ``GET`` of the health path), outermost in the endpoint layer for an endpoint value.

A bot gets 403 with an empty body and no KrakenD headers (gin's ``AbortWithStatus``).
"""

from __future__ import annotations

from krakenpy.botdetect.detector import Detector
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import Rejection
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.telemetry.audit import EDGE_DENY

__all__ = ["POLICY", "bot_edge_middleware", "bot_endpoint_middleware"]

POLICY = "security/bot-detector"
_DETAIL = "User-Agent matched the bot rules"


def bot_edge_middleware(detector: Detector, health_path: str | None = "/__health") -> EdgeMiddleware:
    """The service-level detector around the whole dispatch; a 403 it answers is recorded by the
    audit trail (:data:`~krakenpy.telemetry.audit.EDGE_DENY`)."""

    def middleware(next: EdgeHandler) -> EdgeHandler:
        async def handle(request: HttpRequest) -> HttpResponse:
            if request.path == health_path and request.method == "GET":
                return await next(request)
            user_agent = request.headers.get("User-Agent", "")
            if detector.is_bot(user_agent):
                detector.reject(user_agent)
                request.context[EDGE_DENY] = Rejection(403, reason="bot_detected", policy=POLICY, detail=_DETAIL)
                return HttpResponse(403)
            return await next(request)

        return handle

    return middleware


def bot_endpoint_middleware(detector: Detector) -> Middleware:
    """An endpoint's own detector: raises a 403 :class:`Rejection` (reason ``bot_detected``)."""

    def middleware(next: Proxy) -> Proxy:
        async def proxy(request: Request) -> Response:
            values = request.headers.get("User-Agent")
            user_agent = values[0] if values else ""
            if detector.is_bot(user_agent):
                detector.reject(user_agent)
                raise Rejection(403, reason="bot_detected", policy=POLICY, detail=_DETAIL)
            return await next(request)

        return proxy

    return middleware
