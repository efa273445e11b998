"""A loopback backend and a small stand-in for the gateway assembly, for the validation components.

Until the assembly (``krakenpy/gateway.py``) wires components in, :func:`serve` places these ones where
KrakenD does: the JWT rejecter in the endpoint layer after a claims stub (standing in for
``auth/validator``), the endpoint CEL then the JSON schema around the endpoint's proxy stack, and the
backend CEL inside the backend's request builder. Everything else is the real pipeline and server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient

from krakenpy.backends import _deadline, backend_formatter
from krakenpy.backends.client import AiohttpClient, ClientOptions
from krakenpy.backends.http import http_backend
from krakenpy.components.base import Site
from krakenpy.components.validation import cel, json_schema
from krakenpy.config.model import BackendConfig, EndpointConfig, ServiceConfig, build_service
from krakenpy.proxy.compose import compose
from krakenpy.proxy.factory import build_endpoint_proxy
from krakenpy.proxy.request_builder import backend_request_middleware
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources
from krakenpy.server.handler import RouterOptions, make_handler
from krakenpy.server.router import Router

Claims = dict[str, Any] | None


HITS = web.AppKey("hits", list)


async def echo(request: web.Request) -> web.Response:
    """Answers what it received (and records the path in ``app[HITS]``)."""
    request.app[HITS].append(request.path)
    body = await request.read()
    return web.json_response(
        {
            "path": request.path,
            "method": request.method,
            "body": body.decode("utf-8", "replace"),
            "tenant": request.headers.get("X-Tenant", ""),
            "n": 7,
        }
    )


def backend_app() -> web.Application:
    app = web.Application()
    app[HITS] = []
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


def claims_stub(claims: Claims) -> Middleware:
    """What ``auth/validator`` leaves behind on success: ``request.claims``."""

    def middleware(next_proxy: Proxy) -> Proxy:
        async def stub(request: Request) -> Response:
            request.claims = claims
            return await next_proxy(request)

        return stub

    return middleware


async def _backend(backend: BackendConfig, site: Site, resources: Resources) -> Proxy:
    raw = backend.extra_config.get(cel.NAMESPACE)
    executor = http_backend(backend, resources.http, backend_formatter(backend))
    mw = None if raw is None else await cel.build_backend(cel.parse(raw, site), site, resources)
    return compose(_deadline(executor, backend.timeout), backend_request_middleware(backend), mw)


async def _endpoint(endpoint: EndpointConfig, service: ServiceConfig, resources: Resources, claims: Claims) -> Any:
    site = Site("endpoint", f"{endpoint.path}.extra_config.{cel.NAMESPACE}", service, endpoint)

    async def factory(backend: BackendConfig, res: Resources) -> Proxy:
        where = f"{backend.path}.extra_config.{cel.NAMESPACE}"
        return await _backend(backend, Site("backend", where, service, endpoint, backend), res)

    proxy = await build_endpoint_proxy(endpoint, resources, factory)
    cel_raw = endpoint.extra_config.get(cel.NAMESPACE)
    cel_options = None if cel_raw is None else cel.parse(cel_raw, site)
    schema_raw = endpoint.extra_config.get(json_schema.NAMESPACE)
    schema_mw = None
    if schema_raw is not None:
        schema_site = Site("endpoint", f"{endpoint.path}.extra_config.{json_schema.NAMESPACE}", service, endpoint)
        schema_mw = await json_schema.build(json_schema.parse(schema_raw, schema_site), schema_site, resources)
    cel_mw = rejecter = None
    if cel_options is not None:
        cel_mw = await cel.build_proxy(cel_options, site, resources)
        rejecter = await cel.build_endpoint(cel_options, site, resources)
    stub = claims_stub(claims) if "auth/validator" in endpoint.extra_config else None
    options = RouterOptions(return_error_msg=bool((service.extra_config.get("router") or {}).get("return_error_msg")))
    return make_handler(endpoint, compose(proxy, cel_mw, schema_mw), options, router_middlewares=(stub, rejecter))


Serve = Callable[..., Awaitable[tuple[TestClient[Any, Any], Resources]]]


async def serving() -> AsyncIterator[Serve]:
    """Yield ``serve(doc, claims=...)``; everything started is closed afterwards."""
    async with AsyncExitStack() as stack:

        async def serve(doc: dict[str, Any], *, claims: Claims = None) -> tuple[TestClient[Any, Any], Resources]:
            service = build_service(doc)
            http = AiohttpClient(ClientOptions())
            stack.push_async_callback(http.close)
            resources = Resources(service=service, http=http, stack=AsyncExitStack())
            router = Router()
            for endpoint in service.endpoints:
                router.add(endpoint.endpoint, endpoint.method, await _endpoint(endpoint, service, resources, claims))

            async def dispatch(request: web.BaseRequest) -> web.StreamResponse:
                found = router.match(request.path)
                handle = found.methods.get(request.method) if found is not None else None
                if handle is None:
                    return web.Response(status=404)
                response: web.StreamResponse = await handle(request, found.values)  # type: ignore[union-attr]
                return response

            client: TestClient[Any, Any] = TestClient(RawTestServer(dispatch, host="127.0.0.1"))
            await client.start_server()
            stack.push_async_callback(client.close)
            return client, resources

        yield serve
