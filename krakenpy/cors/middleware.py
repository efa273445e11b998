"""The ``security/cors`` edge middleware: the outermost layer, so it sees every path.

A preflight is answered here, for routed and unknown paths alike, unless ``options_passthrough``
sends it on to the router; any other request goes on and gets its CORS headers on whatever answers
it (an endpoint, a 401 or 429 rejection, a 404 or 405). Endpoint-level values (a KrakenD Enterprise
feature) replace the service value for their own method and path; for a preflight the method that
counts is the one the browser asks for (``Access-Control-Request-Method``).
"""

from __future__ import annotations

import logging

from multidict import CIMultiDict

from krakenpy.cors.policy import CorsPolicy
from krakenpy.cors.routes import RouteMap
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse

__all__ = ["cors_middleware"]

log = logging.getLogger("krakenpy.cors")
_ACRM = "Access-Control-Request-Method"


def cors_middleware(service: CorsPolicy | None, endpoints: RouteMap[CorsPolicy] | None = None) -> EdgeMiddleware:
    """The edge middleware for the service policy and the endpoint overrides (either may be absent)."""
    routes = endpoints if endpoints else None

    def middleware(next: EdgeHandler) -> EdgeHandler:
        async def handle(request: HttpRequest) -> HttpResponse:
            headers = request.headers
            requested = headers.get(_ACRM, "") if request.method == "OPTIONS" else ""
            method = requested or request.method
            policy = service
            if routes is not None:
                policy = routes.get(method, request.path) or service
            if policy is None:
                return await next(request)
            if requested:
                pairs = policy.preflight(headers)
                if not policy.passthrough:
                    # for any path, routed or not (krakend-cors#15); no body, no Content-Type
                    return HttpResponse(policy.status, CIMultiDict(pairs))
            else:
                pairs = policy.actual(method, headers)
            response = await next(request)
            # rs/cors writes these before the handler runs; appended here, they follow any value the
            # handler gave under the same name (a no-op backend's Vary): the same list, another order
            response.headers.extend(pairs)
            return response

        return handle

    return middleware
