"""The upstream client's timing mode decided before anything is built (``decide_client_timing``):
the OpenTelemetry edge builder, which decided it before, runs after the endpoints and backends, so a
backend's OAuth2 token fetch was never kept out of the call's timings and a proxied backend's client
never timed. Real token server, forward proxy and backends on 127.0.0.1, both upstream clients
(from the tel12 review's repro tests)."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.components.telemetry.test_otel_connection import CLIENTS, _client, _doc, _prom, _sample, backend, gw  # noqa: F401


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize("backends", [1, 2])
async def test_otel_token_fetch_outside_the_call_timing(gw, backend, kind: str, backends: int) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The token URL is "localhost" (resolved), the backend 127.0.0.1 (nothing to resolve): the
    token fetch made inside the call's client layer leaves no DNS time in the backend's series,
    for a solo call (timing on the exchange) and two calls at once (by context variable). Fails
    when the timing is decided by the edge builder (the fetch not ``untimed``)."""
    port = await backend()

    async def token(_request: web.Request) -> web.Response:
        return web.json_response({"access_token": "t", "token_type": "Bearer", "expires_in": 3600})

    app = web.Application()
    app.router.add_post("/token", token)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        doc = _doc(f"http://127.0.0.1:{port}", _prom())
        credentials = {"client_id": "a", "client_secret": "b", "token_url": f"http://localhost:{server.port}/token"}
        call = {
            "host": [f"http://127.0.0.1:{port}"],
            "url_pattern": "/small",
            "extra_config": {"auth/client-credentials": credentials},
        }
        doc["endpoints"] = [{"endpoint": "/x", "backend": [dict(call, group=f"g{i}") for i in range(backends)]}]
        g = await gw(doc, _client(kind))
        assert (await g.client.get("/x")).status == 200
        families = await g.metrics()
        dns = "http_client_request_dns_duration"
        assert _sample(families, dns, dns + "_count", server_address="127.0.0.1") == backends
        assert _sample(families, dns, dns + "_sum", server_address="127.0.0.1") == 0
    finally:
        await server.close()


@pytest.mark.parametrize("kind", CLIENTS)
async def test_otel_proxied_backend_has_connection_timings(gw, backend, kind: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A backend called through ``proxy_address`` (its own aiohttp client, made while the backend is
    built) records its connection times like any other: a new connection dialled to the proxy.
    Fails (get-conn 0) when its client was made before the timing was switched on."""
    port = await backend()
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:  # a plain-HTTP forward proxy
        seen.append(str(request.url))
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{request.rel_url}") as r:
            return web.Response(body=await r.read(), status=r.status, content_type=r.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    proxy = TestServer(app, host="127.0.0.1")
    await proxy.start_server()
    try:
        doc = _doc("http://localhost:9", _prom())
        call = {
            "host": [f"http://localhost:{port}"],
            "url_pattern": "/small",
            "extra_config": {"backend/http/client": {"proxy_address": f"http://127.0.0.1:{proxy.port}"}},
        }
        doc["endpoints"] = [{"endpoint": "/x", "backend": [call]}]
        g = await gw(doc, _client(kind))
        assert (await g.client.get("/x")).status == 200
        assert seen, "the call did not go through the proxy"
        families = await g.metrics()
        conn = "http_client_request_get_conn_duration"
        assert _sample(families, conn, conn + "_count") == 1
        assert _sample(families, conn, conn + "_sum") > 0
    finally:
        await proxy.close()
