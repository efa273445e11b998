"""Where the OpenCensus views are recorded: around the router (the requests an endpoint answered:
krakend-opencensus wraps the endpoints' handlers, never 404s or ``/__health``) and around each HTTP
backend's upstream call (its HTTP client transport). Spans and B3 headers come from the shared
telemetry layers; these only count."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from krakenpy.backends.client import ClientMiddleware, UpstreamCall, UpstreamResponse
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.telemetry.metrics.instruments import gin_route, lura_pattern
from krakenpy.telemetry.metrics.registry import Counter, Histogram
from krakenpy.telemetry.opencensus.views import ClientViews, ServerViews

__all__ = ["backend_path", "client_middleware", "endpoint_path", "server_middleware"]

_perf = time.perf_counter
_COLON = re.compile(r":([^/]+)")
_LURA = re.compile(r"\{\{\.(.*?)\}\}")
_CACHE = 256


def endpoint_path(endpoint: str) -> str:
    """The ``http.path`` of an endpoint (krakend-opencensus: ``/users/:id`` → ``/users/{id}``, lower case)."""
    return _COLON.sub(r"{\1}", gin_route(endpoint)).lower()


def backend_path(url_pattern: str) -> str:
    """The ``http_client_path`` of a backend (``/u/{{.Id}}`` → ``/u/{id}``, lower case)."""
    return _LURA.sub(r"{\1}", lura_pattern(url_pattern)).lower()


def server_middleware(views: ServerViews, paths: Mapping[str, str]) -> EdgeMiddleware:
    """Records the server views for requests whose route is one of ``paths`` (template → label)."""

    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        async def handle(request: HttpRequest) -> HttpResponse:
            start = _perf()
            response = await next_handler(request)
            route = request.route
            if route is not None:
                path = paths.get(route)
                if path is not None:
                    views.record(
                        request.host, path, request.method, response.status, (_perf() - start) * 1000.0,
                        request.content_length or 0, len(response.body),
                    )  # fmt: skip
            return response

        return handle

    return middleware


def _netloc(url: str) -> str:
    start = url.find("//") + 2
    end = url.find("/", start)
    return url[start : end if end >= 0 else len(url)].rpartition("@")[2]


def client_middleware(views: ClientViews, path: str) -> ClientMiddleware:
    """Records the client views for every upstream call of one backend (status 500 when the call
    failed without an answer, as OpenCensus' transport does)."""
    uses_host = views.uses_host
    cache: dict[tuple[str, str, int], tuple[Counter, Histogram, Histogram, Histogram]] = {}

    def middleware(call: UpstreamCall) -> UpstreamCall:
        async def observed(
            method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
        ) -> UpstreamResponse:
            start = _perf()
            status = 500
            received = 0
            try:
                response = await call(method, url, headers, body)
                status = response.status
                received = len(response.body)
                return response
            finally:
                ms = (_perf() - start) * 1000.0
                key = (_netloc(url) if uses_host else "", method, status)
                found = cache.get(key)
                if found is None:
                    found = views.series(key[0], path, method, status)
                    if len(cache) < _CACHE:
                        cache[key] = found
                done, latency, sent, got = found
                done.value += 1
                latency.observe(ms)
                sent.observe(len(body) if body else 0)
                got.observe(received)

        return observed

    return middleware
