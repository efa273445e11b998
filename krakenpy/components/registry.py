"""Every component krakenpy has, and the order of each layer: the one place that says which
namespaces exist and where they run (krakend-ce's ``router_engine.go``, ``handler_factory.go``,
``proxy_factory.go`` and ``backend_factory.go`` in one file).

Each tuple names namespaces, outermost first. A component with builders for several layers appears in
each of them; ``tests/components/test_registry.py`` keeps the tuples, :data:`ALWAYS` and the builders
in step. Adding a namespace: its module, its schema, its tests, one README row, and its namespace in
the tuples below.

A namespace's module is found from its name (``qos/ratelimit/router`` →
``krakenpy.components.qos.ratelimit.router``, which exports ``COMPONENT``) and imported the first time
:func:`component` is asked for it: a configuration pays at start-up only for the components it uses
(and the :data:`DEFAULT_ON` ones), not for the ~45 modules and their option classes (P7).
"""

from __future__ import annotations

import importlib
import keyword
from collections.abc import Iterator, Mapping, Set
from functools import cache
from typing import Any, Final

from krakenpy.components.base import Component, Layer
from krakenpy.config.namespaces import Catalog

__all__ = [
    "AGENT",
    "ALWAYS",
    "BACKEND",
    "CLIENT",
    "CORE",
    "DEFAULT_ON",
    "EDGE",
    "ENDPOINT",
    "EXECUTOR",
    "LAYER_ORDER",
    "NAMESPACES",
    "PROXY",
    "all_components",
    "catalog",
    "component",
    "ignored_table",
    "markdown_table",
    "module_name",
]

AnyComponent = Component[Any]

#: read by the core itself (no builder): parsed into the config model
CORE: Final[tuple[str, ...]] = (
    "router",
    "proxy",
    "backend/http",
    "backend/http/client",
    "redis",
)
#: around the whole dispatch (every path, 404/405, /__health, OPTIONS). The telemetry is outermost, so
#: the access log and server spans see every answer, CORS preflights included (KrakenD's gin logger
#: sits inside CORS and misses them); then CORS, which wraps the whole HTTP handler in KrakenD;
#: security/http and the service bot detector are gin engine middlewares (krakend-ce
#: router_engine.go), after the health route. The other telemetry namespaces only configure the
#: telemetry (their builders set up outputs and return nothing).
EDGE: Final[tuple[str, ...]] = (
    "telemetry/access_log",
    # loads the gRPC catalog at start-up; with ``server`` it answers the gRPC calls, outside the HTTP
    # components (CORS, security/http, bot detector: KrakenD EE loads none of them for gRPC)
    "grpc",
    "security/cors",
    # KrakenD's server plugins wrap the gin engine, inside CORS: ip-filter and url-rewrite see every path
    "plugin/http-server",
    "security/http",
    "security/bot-detector",
    "auth/revoker",  # no middleware: opens the shared filters and the admin listener at start-up
    "governance/processors",  # no middleware: warns about processors no quota attaches
    "telemetry/logging",
    "telemetry/logstash",
    "telemetry/gelf",
    "telemetry/metrics",
    "telemetry/opentelemetry",
    "telemetry/opentelemetry-security",  # no middleware: the OTLP exporters read its headers
    # krakend-opencensus' router views: around the endpoints' handlers, inside the edge guards
    "telemetry/opencensus",
    "telemetry/audit",
    "telemetry/influx",  # after telemetry/metrics: it pushes that collector
    # innermost, just before the router (KrakenD EE runs its static server before the router): the
    # served document and static files get CORS, security/http, the bot detector and the telemetry
    "documentation/openapi",
    "documentation/postman",  # no middleware: read by `krakenpy generate postman`
    "server/static-filesystem",
    # the 101 an endpoint's websocket layer decided on replaces the rendered answer
    "websocket",
)
#: around one endpoint's handler, before input filtering (krakend-ce handler_factory.go order);
#: the audit layer (telemetry) first, outside every guard, so it sees their decisions.
#: validation/cel here is KrakenD's JWT rejecter: right after auth/validator, which sets request.claims;
#: validation/json-schema-errors innermost, where the proxy layer's schema rejections come out
ENDPOINT: Final[tuple[str, ...]] = (
    "telemetry/access_log",  # telemetry (spans, failure logs) outermost
    "security/bot-detector",  # then the endpoint's own detector
    # identity first (EE places API keys and basic auth with the JWT validator); the signer
    # replaces the rendering of everything below it
    "auth/api-keys",
    "auth/basic",
    "auth/validator",
    "validation/cel",
    "security/policies",  # EE's jwt policies: on the claims auth/validator set
    "auth/signer",
    "modifier/lua-endpoint",
    # the rate limits run after the JWT validator (claims are set, bad tokens consume nothing) and
    # after the guards that propagate a tier header; the service-wide ones (built for every
    # endpoint, one limiter for all) before the endpoint's own
    "qos/ratelimit/service",
    "qos/ratelimit/service/redis",
    "qos/ratelimit/tiered",
    "qos/ratelimit/router",
    "qos/ratelimit/router/redis",
    # after the rate limits: a request they refuse consumes no quota
    "governance/quota",
    "validation/json-schema-errors",
    # innermost (with ai/mcp, which answers the protocol itself): the upgrade happens once every
    # guard has let the request through
    "websocket",
    "ai/mcp",
)
#: around the endpoint's proxy stack (krakend-ce proxy_factory.go order: OTel's proxy stage outermost,
#: then Lua, CEL, JSON Schema)
PROXY: Final[tuple[str, ...]] = (
    "telemetry/access_log",
    "modifier/response-body",  # EE: edits what the query left
    "modifier/jmespath",  # EE: the query sees the answer after the Lua post scripts
    "modifier/response-body-generator",  # EE: writes the answer the query and the modifiers see
    "modifier/lua-proxy",
    "validation/cel",
    "security/policies",  # req before the backends, resp on the merged response
    "validation/json-schema",
    # EE: the generated body is what every backend gets (the checks above saw the client's)
    "modifier/body-generator",
    "modifier/request-body-generator",
    "plugin/req-resp-modifier",  # lura: the request/response plugins, inside the proxy stack
)
#: around one backend's stack, inside the request builder (lura newStack and krakend-ce
#: backend_factory.go order: GraphQL right after the header filter, then the metrics/OTel stages
#: before the circuit breaker, rate limit, Lua and CEL); the breaker counts proxy rate-limit, Lua
#: and CEL errors as failures, never a GraphQL request a client body spoiled
BACKEND: Final[tuple[str, ...]] = (
    "backend/conditional",  # EE: outermost, a skipped backend costs nothing else (no breaker, no limit)
    # EE: the backend's body, written before GraphQL, Lua and the checks see the request
    "modifier/body-generator",
    "modifier/request-body-generator",
    "backend/soap",  # EE: the envelope is the backend's body
    "backend/graphql",
    "plugin/req-resp-modifier",  # lura newStack: right after GraphQL, before the telemetry stages
    "telemetry/access_log",
    "qos/circuit-breaker",
    "qos/ratelimit/proxy",
    "modifier/response-body",
    "modifier/jmespath",
    "modifier/response-body-generator",
    "modifier/lua-backend",
    "validation/cel",
    "security/policies",
    "plugin/http-client",  # innermost: wildcard's rest goes on the URL the call uses
)
#: around one HTTP backend's upstream call
#: outermost first, as krakend-ce wraps them: martian (around the HTTP executor) → the OTel transport
#: (CLIENT span, traceparent) → http-cache → the OAuth2 client-credentials client; so martian edits
#: the request before the token is added, and a cache hit still gets its CLIENT span; then ai/llm
#: (the vendor's body and credential replace the client's), and innermost the EE backend log, which
#: sees the call as sent and the vendor's own answer (``%{resp.usage.total_tokens}``)
CLIENT: Final[tuple[str, ...]] = (
    "governance/quota",  # EE weight_strategy header: outermost, it reads what the executor gets
    "modifier/martian",
    "telemetry/access_log",
    "telemetry/opencensus",  # krakend-opencensus' client views wrap the transport, outside the cache
    "qos/http-cache",
    "auth/client-credentials",
    "ai/llm",
    "telemetry/logging",
)
#: the call itself: the first that applies, else the core's HTTP executor
EXECUTOR: Final[tuple[str, ...]] = (
    "backend/lambda",
    "backend/grpc",
    "backend/amqp/consumer",
    "backend/amqp/producer",
    "backend/static-filesystem",
    # krakend-ce tries the subscriber before the publisher
    "backend/pubsub/subscriber",
    "backend/pubsub/publisher",
    "plugin/http-client",  # static-filesystem: an answer from a file (the other built-ins configure the client)
)
#: an async agent's driver: the first that applies consumes the agent's queue
AGENT: Final[tuple[str, ...]] = ("async/amqp",)

LAYER_ORDER: Final[Mapping[Layer, tuple[str, ...]]] = {
    "edge": EDGE,
    "endpoint": ENDPOINT,
    "proxy": PROXY,
    "backend": BACKEND,
    "client": CLIENT,
    "executor": EXECUTOR,
    "agent": AGENT,
}
#: every namespace, once
NAMESPACES: Final[tuple[str, ...]] = tuple(
    dict.fromkeys((*CORE, *EDGE, *ENDPOINT, *PROXY, *BACKEND, *CLIENT, *EXECUTOR, *AGENT))
)
#: built for every owner of their layers even where the namespace is absent (``Component.always``),
#: when the namespace appears somewhere in the configuration (a service-level value wraps every endpoint)
ALWAYS: Final[frozenset[str]] = frozenset(
    {
        "telemetry/access_log",
        "telemetry/opencensus",
        "qos/ratelimit/service",
        "qos/ratelimit/service/redis",
        "qos/ratelimit/tiered",
        "governance/quota",
    }
)

#: of those, the ones on by default, built (and imported) for every configuration; the others build
#: nothing when their namespace appears nowhere (tests/components/test_registry.py checks it)
DEFAULT_ON: Final[frozenset[str]] = frozenset({"telemetry/access_log"})

_KNOWN: Final = frozenset(NAMESPACES)
_loaded: dict[str, AnyComponent] = {}


def module_name(namespace: str) -> str:
    """The module exporting ``namespace``'s ``COMPONENT``: ``/`` → ``.``, ``-`` → ``_``, a Python
    keyword gets a trailing ``_`` (``backend/lambda`` → ``krakenpy.components.backend.lambda_``)."""
    parts = [p.replace("-", "_") for p in namespace.split("/")]
    return "krakenpy.components." + ".".join(p + "_" if keyword.iskeyword(p) else p for p in parts)


def component(namespace: str) -> AnyComponent:
    """The component of ``namespace``, its module imported on first use; ``KeyError`` if unknown."""
    found = _loaded.get(namespace)
    if found is None:
        if namespace not in _KNOWN:
            raise KeyError(namespace)
        found = _loaded[namespace] = importlib.import_module(module_name(namespace)).COMPONENT
    return found


def all_components() -> tuple[AnyComponent, ...]:
    """Every component, each once (imports every module: the docs tables and the tests)."""
    return tuple(component(namespace) for namespace in NAMESPACES)


class _Attribute(Mapping[str, Any]):
    """namespace → one attribute of its component, the module imported on the first lookup of it;
    iterating (the names) and ``in`` import nothing."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getitem__(self, namespace: str) -> Any:
        return getattr(component(namespace), self.name)

    def __contains__(self, namespace: object) -> bool:
        return namespace in _KNOWN

    def __iter__(self) -> Iterator[str]:
        return iter(NAMESPACES)

    def __len__(self) -> int:
        return len(NAMESPACES)


class _Strict(Set[str]):
    """The strict namespaces; ``in`` imports the one component asked about."""

    def __contains__(self, namespace: object) -> bool:
        return isinstance(namespace, str) and namespace in _KNOWN and component(namespace).strict

    def __iter__(self) -> Iterator[str]:
        return (namespace for namespace in NAMESPACES if component(namespace).strict)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@cache
def catalog() -> Catalog:
    """The registry as the config checks see it (derived, never kept by hand; a namespace's component
    is imported only when a check asks about it)."""
    return Catalog(levels=_Attribute("levels"), strict=_Strict(), editions=_Attribute("edition"))


_LEVEL_ORDER: Final = ("service", "endpoint", "backend", "agent")
_EDITIONS: Final = {"ce": "KrakenD CE", "ee": "KrakenD EE", "krakenpy": "krakenpy"}


def markdown_table() -> str:
    """The README's component table, one row per namespace (``python -m krakenpy.components.registry``)."""
    rows = ["| namespace | levels | layers | from | what it does |", "|---|---|---|---|---|"]
    for component in sorted(all_components(), key=lambda c: c.namespace):
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
    lists += [(f"`{c.namespace}`", c.ignored) for c in sorted(all_components(), key=lambda c: c.namespace)]
    lists = [(where, fields) for where, fields in lists if fields]
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
