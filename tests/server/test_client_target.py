"""The client's raw target (``CLIENT_TARGET``, router Lua's ``ctx:url()``) is kept per request only
for an endpoint whose layer reads it: an endpoint layer that only sees the unfiltered request (a
rate limit, a validator) costs no store for it."""

from __future__ import annotations

from typing import Any

from krakenpy.config.build import build_service
from krakenpy.edge import HttpRequest
from krakenpy.proxy.types import CLIENT_TARGET, Proxy, Request, Response, TargetReader
from krakenpy.server.handler import make_handler


async def test_the_raw_target_is_kept_only_for_a_layer_that_reads_it() -> None:
    backend = {"host": ["http://h"], "url_pattern": "/u"}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]})
    endpoint = service.endpoints[0]
    seen: list[dict[str, Any]] = []

    async def proxy(request: Request) -> Response:
        seen.append(dict(request.context))
        return Response({})

    def unfiltered(next_proxy: Proxy) -> Proxy:  # an endpoint layer that is no guard: it sees the client's request
        return next_proxy

    for layer, kept in ((unfiltered, False), (TargetReader(unfiltered), True)):
        handle = make_handler(endpoint, proxy, service.router, [layer])
        response = await handle(HttpRequest("GET", "/a", "b=(1)", raw_path="/a?b=(1)"), ())
        assert response.status == 200
        assert seen[-1].get(CLIENT_TARGET) == ("/a?b=(1)" if kept else None), seen
