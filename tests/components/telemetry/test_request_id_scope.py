"""The forwarded request id belongs to the backend's outgoing request only (as in lura, where each
backend gets a clone of the request): a backend-level Lua script below the telemetry backend layer
sees it, a proxy-level Lua ``post`` script never does, whatever layer sits between (none, martian, a
circuit breaker) and with traces on or off; a header named like the id replaces, never duplicates.
Served gateway, header-echo backend on 127.0.0.1, real Lua (lupa), both upstream clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.components.telemetry.conftest import Served, doc

Echoed = list[list[tuple[str, str]]]

_POST = (
    "local r = request.load(); local d = response.load():data(); "
    "d:set('proxy_saw', r:headers('X-Request-Id') or 'none')"
)
_BACKEND_PRE = "local r = request.load(); r:headers('X-Backend-Saw', r:headers('X-Request-Id') or 'none')"
_OTEL = {
    "service_name": "s",
    "trace_sample_rate": 1,
    "exporters": {"otlp": [{"name": "l", "host": "http://127.0.0.1", "port": 9, "use_http": True}]},
}
_LAYERS: dict[str, dict[str, Any]] = {
    "none": {},
    "martian": {"modifier/martian": {"header.Modifier": {"scope": ["request"], "name": "X-M", "value": "1"}}},
    "breaker": {"qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 5}},
    "lua": {"modifier/lua-backend": {"pre": _BACKEND_PRE}},
}


@pytest.fixture
async def echo() -> AsyncIterator[Callable[[], Awaitable[tuple[str, Echoed]]]]:
    servers: list[TestServer] = []

    async def start() -> tuple[str, Echoed]:
        seen: Echoed = []

        async def handle(request: web.Request) -> web.Response:
            seen.append([(k.decode(), v.decode()) for k, v in request.raw_headers])
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}", seen

    yield start
    for server in servers:
        await server.close()


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


@pytest.mark.parametrize("client_kind", ["fast", "aiohttp"])
@pytest.mark.parametrize("traces", [False, True], ids=["untraced", "traced"])
@pytest.mark.parametrize("layer", list(_LAYERS))
async def test_the_id_reaches_the_backend_and_backend_scripts_never_the_proxy_script(
    client_kind: str,
    traces: bool,
    layer: str,
    served: Callable[..., Awaitable[Served]],
    echo: Callable[[], Awaitable[tuple[str, Echoed]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", client_kind)
    host, seen = await echo()
    backend: dict[str, Any] = {"host": [host], "url_pattern": "/data", "extra_config": _LAYERS[layer]}
    endpoint = {
        "endpoint": "/p",
        "input_headers": ["X-Request-Id"],  # the client's own value forwarded: the proxy script reads it
        "extra_config": {"modifier/lua-proxy": {"post": _POST}},
        "backend": [backend],
    }
    service: dict[str, Any] = {"extra_config": {"telemetry/opentelemetry": _OTEL}} if traces else {}
    s = await served(doc([endpoint], **service))
    for given in (None, "client-id-1"):
        response = await s.client.get("/p", headers={"X-Request-Id": given} if given else {})
        assert response.status == 200
        rid = response.headers["X-Request-Id"]
        body = await response.json()
        sent = seen[-1]
        assert _values(sent, "X-Request-Id") == [rid]  # once, the id (a client's own value replaced)
        if layer == "lua":
            assert _values(sent, "X-Backend-Saw") == [rid]
        # the proxy-level script sees the client's header as the client sent it, never the forwarded id
        assert body["proxy_saw"] == (given or ""), body  # an absent header reads ""


@pytest.mark.parametrize("client_kind", ["fast", "aiohttp"])
@pytest.mark.parametrize("name", ["Accept-Encoding", "User-Agent", "X-Forwarded-Host", "Host"])
async def test_an_id_header_named_like_a_gateway_header_replaces_it(
    client_kind: str,
    name: str,
    served: Callable[..., Awaitable[Served]],
    echo: Callable[[], Awaitable[tuple[str, Echoed]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Main was already right here (the id stored in the map, the executor adding its own
    ``Accept-Encoding`` only when the map has none): a guard against the reverted hand-over's two
    ``Accept-Encoding`` headers."""
    monkeypatch.setenv("KRAKENPY_HTTP_CLIENT", client_kind)
    host, seen = await echo()
    backend = {"host": [host], "url_pattern": "/data"}
    extra = {"telemetry/access_log": {"request_id_header": name}}
    s = await served(doc([{"endpoint": "/p", "backend": [backend]}], extra_config=extra))
    response = await s.client.get("/p")
    assert response.status == 200
    assert len(seen) == 1
    values = _values(seen[0], name)
    assert len(values) == 1, seen[0]


_WRITE = "local r = request.load(); r:headers('X-Backend-Set', 'yes')"
_READ = (
    "local r = request.load(); local d = response.load():data(); "
    "d:set('proxy_saw_set', r:headers('X-Backend-Set') or 'none'); "
    "d:set('proxy_saw_id', r:headers('X-Request-Id') or 'none')"
)


@pytest.mark.parametrize("traces", [False, True], ids=["untraced", "traced"])
@pytest.mark.parametrize("forward", [True, False], ids=["forwarded", "not-forwarded"])
async def test_a_backend_scripts_own_header_write_stays_where_it_did_without_the_id(
    traces: bool,
    forward: bool,
    served: Callable[..., Awaitable[Served]],
    echo: Callable[[], Awaitable[tuple[str, Echoed]]],
) -> None:
    """On a one-backend endpoint the backend stack gets the endpoint's request, as lura's request
    builder hands it a shallow clone sharing the header map: a backend-level script's header write is
    seen by the proxy-level ``post`` script. Forwarding the id must take only the id back out, not the
    script's write (whether the id is forwarded or not, the proxy script sees the same)."""
    host, seen = await echo()
    backend = {"host": [host], "url_pattern": "/data", "extra_config": {"modifier/lua-backend": {"pre": _WRITE}}}
    endpoint = {"endpoint": "/p", "extra_config": {"modifier/lua-proxy": {"post": _READ}}, "backend": [backend]}
    extra: dict[str, Any] = {"telemetry/access_log": {"forward_request_id": forward}}
    if traces:
        extra["telemetry/opentelemetry"] = _OTEL
    s = await served(doc([endpoint], extra_config=extra))
    response = await s.client.get("/p")
    assert response.status == 200
    body = await response.json()
    assert _values(seen[-1], "X-Backend-Set") == ["yes"]
    assert body["proxy_saw_set"] == "yes", body
    assert body["proxy_saw_id"] == "", body


_READ_TRACE = (
    "local r = request.load(); local d = response.load():data(); local h = r:headers(); local names = {}; "
    "local keys = h:keys(); for i = 0, keys:len() - 1 do local k = keys:get(i); "
    "names[#names + 1] = string.lower(k) .. '=' .. h:get(k):get(0) end; "
    "table.sort(names); d:set('proxy_saw', table.concat(names, ' '))"
)
_CLIENT_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize("ids", ["forwarded", "not-forwarded", "off"])
@pytest.mark.parametrize("client_header", [False, True], ids=["gateway-parent", "client-traceparent-forwarded"])
async def test_a_traced_lambda_calls_trace_headers_stay_in_its_own_request(
    ids: str,
    client_header: bool,
    served: Callable[..., Awaitable[Served]],
    upstream: Callable[..., Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trace context a traced Lambda call puts among its request's headers (the API-Gateway event's)
    belongs to that call, as the forwarded id does: the proxy-level script of a one-backend endpoint
    (which shares the backend's header map, as in lura) sees the headers as they were before the call,
    whether the id is forwarded, not forwarded or request ids are off."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    events: list[dict[str, Any]] = []

    async def invoke(request: web.Request) -> web.Response:  # the Lambda Invoke API
        events.append(orjson.loads(await request.read()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke)
    api = await upstream(app)
    options = {"function_name": "f", "region": "us-east-1", "endpoint": api, "payload": "apigw_v1"}
    endpoint: dict[str, Any] = {
        "endpoint": "/fn",
        "method": "POST",
        "extra_config": {"modifier/lua-proxy": {"post": _READ_TRACE}},
        "backend": [{"url_pattern": "/unused", "extra_config": {"backend/lambda": options}}],
    }
    if client_header:
        endpoint["input_headers"] = ["Traceparent"]
    access: dict[str, Any] = {
        "forwarded": {},
        "not-forwarded": {"forward_request_id": False},
        "off": {"request_id_header": ""},
    }[ids]
    extra = {"telemetry/opentelemetry": _OTEL, "telemetry/access_log": access}
    s = await served(doc([endpoint], extra_config=extra))
    response = await s.client.post("/fn", json={}, headers={"traceparent": _CLIENT_PARENT})
    assert response.status == 200, await response.text()
    body = await response.json()
    sent = events[-1]["headers"]
    # the function sees the trace context of its call (a child of the client's trace), once
    assert [k for k in sent if k.lower() == "traceparent"] == ["traceparent"], sent
    assert sent["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert sent["traceparent"] != _CLIENT_PARENT
    assert ("X-Request-Id" in sent) == (ids == "forwarded")
    # the proxy-level script: the request's headers as they were before the call
    saw = body["proxy_saw"].split()
    assert [h for h in saw if h.startswith("traceparent=")] == (
        [f"traceparent={_CLIENT_PARENT}"] if client_header else []
    )
    assert not [h for h in saw if h.startswith("x-request-id=")], saw
