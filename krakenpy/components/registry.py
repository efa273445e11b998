"""Every component krakenpy has, and the order of each layer: the one place that says which
namespaces exist and where they run (krakend-ce's ``router_engine.go``, ``handler_factory.go``,
``proxy_factory.go`` and ``backend_factory.go`` in one file).

Each tuple is outermost first. A component with builders for several layers appears in each of them;
``tests/components/test_registry.py`` keeps the tuples and the builders in step. Adding a namespace:
its module, its schema, its tests, one README row, and its ``COMPONENT`` in the tuples below.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Final

from krakenpy.components import proxy, redis, router
from krakenpy.components.auth import api_keys, basic, client_credentials, revoker, signer, validator
from krakenpy.components.backend import graphql as backend_graphql
from krakenpy.components.backend import http as backend_http
from krakenpy.components.backend import lambda_
from krakenpy.components.backend import static_filesystem as backend_static
from krakenpy.components.backend.http import client as backend_http_client
from krakenpy.components.base import Component, Layer
from krakenpy.components.documentation import openapi
from krakenpy.components.modifier import lua_backend, lua_endpoint, lua_proxy, martian
from krakenpy.components.qos import circuit_breaker, http_cache
from krakenpy.components.qos.ratelimit import proxy as ratelimit_proxy
from krakenpy.components.qos.ratelimit import router as ratelimit_router
from krakenpy.components.qos.ratelimit import service as ratelimit_service
from krakenpy.components.qos.ratelimit import tiered as ratelimit_tiered
from krakenpy.components.qos.ratelimit.router import redis as ratelimit_router_redis
from krakenpy.components.qos.ratelimit.service import redis as ratelimit_service_redis
from krakenpy.components.security import bot_detector, cors
from krakenpy.components.security import http as security_http
from krakenpy.components.server import static_filesystem as server_static
from krakenpy.components.telemetry import access_log, audit, gelf, influx, logstash, opencensus, opentelemetry
from krakenpy.components.telemetry import logging as telemetry_logging
from krakenpy.components.telemetry import metrics as telemetry_metrics
from krakenpy.components.validation import cel, json_schema, json_schema_errors
from krakenpy.config.namespaces import Catalog

__all__ = [
    "ALL",
    "BACKEND",
    "CLIENT",
    "CORE",
    "EDGE",
    "ENDPOINT",
    "EXECUTOR",
    "LAYER_ORDER",
    "PROXY",
    "catalog",
    "ignored_table",
    "markdown_table",
]

AnyComponent = Component[Any]

#: read by the core itself (no builder): parsed into the config model
CORE: Final[tuple[AnyComponent, ...]] = (
    router.COMPONENT,
    proxy.COMPONENT,
    backend_http.COMPONENT,
    backend_http_client.COMPONENT,
    redis.COMPONENT,
)
#: around the whole dispatch (every path, 404/405, /__health, OPTIONS). The telemetry is outermost, so
#: the access log and server spans see every answer, CORS preflights included (KrakenD's gin logger
#: sits inside CORS and misses them); then CORS, which wraps the whole HTTP handler in KrakenD;
#: security/http and the service bot detector are gin engine middlewares (krakend-ce
#: router_engine.go), after the health route. The other telemetry namespaces only configure the
#: telemetry (their builders set up outputs and return nothing).
EDGE: Final[tuple[AnyComponent, ...]] = (
    access_log.COMPONENT,
    cors.COMPONENT,
    security_http.COMPONENT,
    bot_detector.COMPONENT,
    revoker.COMPONENT,  # no middleware: opens the shared filters and the admin listener at start-up
    telemetry_logging.COMPONENT,
    logstash.COMPONENT,
    gelf.COMPONENT,
    telemetry_metrics.COMPONENT,
    opentelemetry.COMPONENT,
    # krakend-opencensus' router views: around the endpoints' handlers, inside the edge guards
    opencensus.COMPONENT,
    audit.COMPONENT,
    influx.COMPONENT,  # after telemetry/metrics: it pushes that collector
    # innermost, just before the router (KrakenD EE runs its static server before the router): the
    # served document and static files get CORS, security/http, the bot detector and the telemetry
    openapi.COMPONENT,
    server_static.COMPONENT,
)
#: around one endpoint's handler, before input filtering (krakend-ce handler_factory.go order);
#: the audit layer (telemetry) first, outside every guard, so it sees their decisions.
#: validation/cel here is KrakenD's JWT rejecter: right after auth/validator, which sets request.claims;
#: validation/json-schema-errors innermost, where the proxy layer's schema rejections come out
ENDPOINT: Final[tuple[AnyComponent, ...]] = (
    access_log.COMPONENT,  # telemetry (spans, failure logs) outermost
    bot_detector.COMPONENT,  # then the endpoint's own detector
    # identity first (EE places API keys and basic auth with the JWT validator); the signer
    # replaces the rendering of everything below it
    api_keys.COMPONENT,
    basic.COMPONENT,
    validator.COMPONENT,
    cel.COMPONENT,
    signer.COMPONENT,
    lua_endpoint.COMPONENT,
    # the rate limits run after the JWT validator (claims are set, bad tokens consume nothing) and
    # after the guards that propagate a tier header; the service-wide ones (built for every
    # endpoint, one limiter for all) before the endpoint's own
    ratelimit_service.COMPONENT,
    ratelimit_service_redis.COMPONENT,
    ratelimit_tiered.COMPONENT,
    ratelimit_router.COMPONENT,
    ratelimit_router_redis.COMPONENT,
    json_schema_errors.COMPONENT,
)
#: around the endpoint's proxy stack (krakend-ce proxy_factory.go order: OTel's proxy stage outermost,
#: then Lua, CEL, JSON Schema)
PROXY: Final[tuple[AnyComponent, ...]] = (
    access_log.COMPONENT,
    lua_proxy.COMPONENT,
    cel.COMPONENT,
    json_schema.COMPONENT,
)
#: around one backend's stack, inside the request builder (lura newStack and krakend-ce
#: backend_factory.go order: GraphQL right after the header filter, then the metrics/OTel stages
#: before the circuit breaker, rate limit, Lua and CEL); the breaker counts proxy rate-limit, Lua
#: and CEL errors as failures, never a GraphQL request a client body spoiled
BACKEND: Final[tuple[AnyComponent, ...]] = (
    backend_graphql.COMPONENT,
    access_log.COMPONENT,
    circuit_breaker.COMPONENT,
    ratelimit_proxy.COMPONENT,
    lua_backend.COMPONENT,
    cel.COMPONENT,
)
#: around one HTTP backend's upstream call
#: outermost first, as krakend-ce wraps them: martian (around the HTTP executor) → the OTel transport
#: (CLIENT span, traceparent) → http-cache → the OAuth2 client-credentials client; so martian edits
#: the request before the token is added, and a cache hit still gets its CLIENT span
CLIENT: Final[tuple[AnyComponent, ...]] = (
    martian.COMPONENT,
    access_log.COMPONENT,
    opencensus.COMPONENT,  # krakend-opencensus' client views wrap the transport, outside the cache
    http_cache.COMPONENT,
    client_credentials.COMPONENT,
)
#: the call itself: the first that applies, else the core's HTTP executor
EXECUTOR: Final[tuple[AnyComponent, ...]] = (lambda_.COMPONENT, backend_static.COMPONENT)

LAYER_ORDER: Final[Mapping[Layer, tuple[AnyComponent, ...]]] = {
    "edge": EDGE,
    "endpoint": ENDPOINT,
    "proxy": PROXY,
    "backend": BACKEND,
    "client": CLIENT,
    "executor": EXECUTOR,
}
#: every component, once
ALL: Final[tuple[AnyComponent, ...]] = tuple(
    {c.namespace: c for c in (*CORE, *EDGE, *ENDPOINT, *PROXY, *BACKEND, *CLIENT, *EXECUTOR)}.values()
)


def by_namespace() -> Mapping[str, AnyComponent]:
    """namespace → component."""
    return {c.namespace: c for c in ALL}


@cache
def catalog() -> Catalog:
    """The registry as the config checks see it (derived, never kept by hand)."""
    return Catalog(
        levels={c.namespace: frozenset(c.levels) for c in ALL},
        strict=frozenset(c.namespace for c in ALL if c.strict),
        editions={c.namespace: c.edition for c in ALL},
    )


_LEVEL_ORDER: Final = ("service", "endpoint", "backend")
_EDITIONS: Final = {"ce": "KrakenD CE", "ee": "KrakenD EE", "krakenpy": "krakenpy"}


def markdown_table() -> str:
    """The README's component table, one row per namespace (``python -m krakenpy.components.registry``)."""
    rows = ["| namespace | levels | layers | from | what it does |", "|---|---|---|---|---|"]
    for component in sorted(ALL, key=lambda c: c.namespace):
        levels = ", ".join(level for level in _LEVEL_ORDER if level in component.levels)
        layers = "core" if component.core else ", ".join(component.layers)
        rows.append(
            f"| `{component.namespace}` | {levels} | {layers} | {_EDITIONS[component.edition]} | {component.summary} |"
        )
    return "\n".join(rows)


def _field(spec: str) -> str:
    name, _, value = spec.partition("=")
    return f"`{name}: {value}`" if value else f"`{name}`"


def ignored_table() -> str:
    """The README's table of fields accepted without effect, one row per place
    (``python -m krakenpy.components.registry ignored``)."""
    from krakenpy.config.ignored import BACKEND_IGNORED, ROOT_IGNORED

    lists: list[tuple[str, Mapping[str, str]]] = [("service root", ROOT_IGNORED), ("every backend", BACKEND_IGNORED)]
    lists += [(f"`{c.namespace}`", c.ignored) for c in sorted(ALL, key=lambda c: c.namespace) if c.ignored]
    rows = ["| where | fields, and why they have no effect |", "|---|---|"]
    for where, fields in lists:
        grouped: dict[str, list[str]] = {}
        for spec, why in fields.items():
            grouped.setdefault(why, []).append(_field(spec))
        rows.append(f"| {where} | " + "; ".join(f"{', '.join(specs)} ({why})" for why, specs in grouped.items()) + " |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - a docs helper
    import sys

    print(ignored_table() if sys.argv[1:] == ["ignored"] else markdown_table())
