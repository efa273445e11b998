"""``websocket`` (endpoint, KrakenD Enterprise field names): the endpoint upgrades its clients to
WebSockets and connects them to its backend's WebSocket host (:mod:`krakenpy.websocket`).

Two builders: the endpoint's (innermost in the endpoint layer, so every guard of the endpoint has
let the request through) checks the handshake and leaves the 101 answer on the request's context
instead of calling the proxy; the edge's (innermost at the edge, built only when some endpoint has
the namespace) returns that answer in place of the rendered one, and the server then serves the
session on the connection (:class:`~krakenpy.edge.Upgrade`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeHandler, EdgeMiddleware, HttpRequest, HttpResponse
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources
from krakenpy.websocket.options import WebSocketOptions, parse_websocket

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "websocket"
#: context keys: the edge request (its raw headers), and the upgrade the endpoint decided on
_EDGE_REQUEST: Final = "websocket.request"
_UPGRADE: Final = "websocket.upgrade"
_NO_EFFECT: Final = "Go's buffer sizes for its connection reads and writes: aiohttp sizes its own"


def _parse(raw: Mapping[str, Any], site: Site) -> WebSocketOptions:
    endpoint = site.endpoint
    assert endpoint is not None
    options = parse_websocket(raw, site.path, endpoint.method)
    if not endpoint.backends or not endpoint.backends[0].hosts:
        where = endpoint.backends[0].path + ".host" if endpoint.backends else f"{site.owner}.backend"
        raise ConfigError([ConfigIssue(where, "a websocket endpoint connects to its backend's host: none set")])
    skipped = _skipped(site)
    if skipped:
        raise ConfigError(skipped)
    if len(endpoint.backends) > 1:
        message = "a websocket endpoint connects to its first backend only: the others are never called"
        site.notes.append(ConfigIssue(f"{site.owner}.backend", message, "warning"))
    return options


def _skipped(site: Site) -> list[ConfigIssue]:
    """The namespaces of the endpoint's proxy layer and of its backend's layers: the upgrade never
    calls them (no proxy, no backend request), so declaring one would be a check that never runs."""
    from krakenpy.components.registry import BACKEND, CLIENT, EXECUTOR, PROXY

    endpoint = site.endpoint
    assert endpoint is not None
    issues: list[ConfigIssue] = []
    message = "never runs on a websocket endpoint: the upgrade calls no proxy nor backend pipeline"
    for name, value in endpoint.extra_config.items():
        if name not in PROXY or name.startswith("telemetry/"):
            continue
        if name == "validation/cel":  # its JWT checks run in the endpoint layer, before the upgrade
            for i, item in enumerate(value if isinstance(value, list) else ()):
                source = str(item.get("check_expr", "")) if isinstance(item, Mapping) else ""
                if "req" in source or "resp" in source:
                    where = f"{site.owner}.extra_config.{name}[{i}].check_expr"
                    issues.append(ConfigIssue(where, "a req/resp check " + message))
            continue
        issues.append(ConfigIssue(f"{site.owner}.extra_config.{name}", message))
    later = (*BACKEND, *CLIENT, *EXECUTOR)
    for backend in endpoint.backends[:1]:
        for name in backend.extra_config:
            if name in later and not name.startswith("telemetry/"):
                issues.append(ConfigIssue(f"{backend.path}.extra_config.{name}", message))
    return issues


def _query(request: HttpRequest, allowed: tuple[str, ...]) -> str:
    """The client's query as the endpoint's ``input_query_strings`` forwards it."""
    if not request.query_string or not allowed:
        return ""
    if "*" in allowed:
        return request.query_string
    from urllib.parse import urlencode

    query = request.query
    return urlencode([(k, v) for k in allowed for v in query.getall(k, ())])


async def _endpoint(options: WebSocketOptions, site: Site, resources: Resources) -> Middleware | None:
    import aiohttp

    from krakenpy.cors import CorsOptions, CorsPolicy
    from krakenpy.edge import Upgrade
    from krakenpy.websocket import handshake
    from krakenpy.websocket.direct import run_direct
    from krakenpy.websocket.hub import Hub, run_multiplexed
    from krakenpy.websocket.sessions import Sessions
    from krakenpy.websocket.socket import Throttled

    endpoint, backend = site.endpoint, site.endpoint.backends[0] if site.endpoint else None
    if endpoint is None or backend is None:
        return None
    hosts = itertools.cycle(handshake.ws_hosts(backend))  # round robin, as KrakenD's balancer
    where = endpoint.endpoint
    # no pool limit: each backend WebSocket holds its connection for the whole session, and aiohttp's
    # default of 100 would leave the 101st client waiting for a slot (KrakenD has no such cap)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, limit_per_host=0))
    resources.stack.push_async_callback(session.close)
    allowed_query = endpoint.input_query_strings
    # cross-site WebSocket hijacking: with security/cors set, a browser's upgrade from an origin it does
    # not allow is refused (gorilla's origin check); no Origin (not a browser) or no CORS: no check
    cors = resources.options(endpoint.path, "security/cors") or resources.options("", "security/cors")
    origins = CorsPolicy(cors) if isinstance(cors, CorsOptions) else None

    # aiohttp refuses a message of exactly max_msg_size bytes; KrakenD accepts max_message_size itself
    limit = options.max_message_size + 1

    def dialer(url: str, headers: Any = None, protocol: str | None = None, max_size: int = limit) -> Any:
        def connect() -> Any:
            return session.ws_connect(
                url,
                headers=headers,
                protocols=(protocol,) if protocol else (),
                max_msg_size=max_size,
                compress=0,
                autoping=True,
            )

        return connect

    hub: Hub | None = None
    if not options.direct:
        # one shared connection: the backend URL has no client's parameters nor query
        # the envelopes are larger than the messages they carry (base64, url, session)
        envelope_limit = max(2 * limit, 1 << 20)

        def hub_connect() -> Any:  # each (re)connection takes the next host
            return dialer(handshake.backend_url(next(hosts), backend, {}, ""), max_size=envelope_limit)()

        hub = Hub(hub_connect, options, where)
        resources.stack.push_async_callback(hub.close)
    # pushed last, so run first on close: the clients get 1001 before their backend connections go
    sessions = Sessions()
    resources.stack.push_async_callback(sessions.close)
    warn = Throttled()  # the direct sessions' reconnection warnings, one line per 10 s for the endpoint

    def middleware(_next: Proxy) -> Proxy:
        async def upgrade(request: Request) -> Response:
            edge: HttpRequest = request.context[_EDGE_REQUEST]
            key = handshake.check_request(edge.headers)  # a 400 Rejection when not a WebSocket handshake
            origin = edge.headers.get("Origin")
            if origins is not None and origin is not None and not origins.origin_allowed(origin):
                raise handshake.forbidden_origin(origin)
            protocol = handshake.choose_protocol(edge.headers, options.subprotocols)
            if hub is None:
                url = handshake.backend_url(next(hosts), backend, request.params, _query(edge, allowed_query))
                connect = dialer(url, handshake.backend_headers(request.headers, options.input_headers), protocol)

                async def run(socket: Any) -> None:
                    await sessions.run(socket, lambda: run_direct(socket, connect, options, where, warn))

            else:
                shared, client_path, params = hub, edge.path, dict(request.params)

                async def run(socket: Any) -> None:
                    await sessions.run(socket, lambda: run_multiplexed(socket, shared, client_path, params, options))

            headers = handshake.accept_headers(key, protocol)
            request.context[_UPGRADE] = Upgrade(headers, run, max_size=limit, protocol=protocol)
            return Response(data={})

        return upgrade

    return middleware


async def _edge(options: WebSocketOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    def middleware(next_handler: EdgeHandler) -> EdgeHandler:
        async def handle(request: HttpRequest) -> HttpResponse:
            context = request.context
            context[_EDGE_REQUEST] = request
            response = await next_handler(request)
            upgrade: HttpResponse | None = context.pop(_UPGRADE, None)
            return response if upgrade is None else upgrade

        return handle

    return middleware


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint"}),
    parse=_parse,
    summary="WebSocket upgrade after the endpoint's guards to the backend's ws(s) host: direct or multiplexed",
    edition="ee",
    edge=_edge,
    endpoint=_endpoint,
    ignored={
        "read_buffer_size": _NO_EFFECT,
        "write_buffer_size": _NO_EFFECT,
        "disable_otel_metrics": "krakenpy has no WebSocket metrics to disable",
    },
)
