"""``extra_config`` namespaces: legacy aliases, CE/EE tables and "ignored namespace" warnings.

KrakenD renames old Go-import-path namespaces (``github_com/devopsfaith/krakend-cors``) to their short
names at start (krakend-ce ``aliases``). krakenpy accepts both the ``github.com/`` and the
``github_com/`` spelling of every alias. Namespaces krakenpy does not implement are ignored with a
warning that says whether they are Community features not done yet, Enterprise-only, or unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Final

from krakenpy.config.keypath import key_path
from krakenpy.errors import ConfigIssue

__all__ = [
    "ALIASES",
    "BUILT_IN_PLUGINS",
    "CE_NAMESPACES",
    "EE_NAMESPACES",
    "Catalog",
    "enforcing_namespaces",
    "is_enforcing",
    "namespace_issues",
    "normalize_aliases",
    "plugin_names",
]

# import path (without the github.com/ prefix) -> short namespace
_LEGACY: Final[Mapping[str, str]] = {
    "devopsfaith/krakend/transport/http/server/handler": "plugin/http-server",
    "devopsfaith/krakend/transport/http/client/executor": "plugin/http-client",
    "devopsfaith/krakend/proxy/plugin": "plugin/req-resp-modifier",
    "devopsfaith/krakend/proxy": "proxy",
    "luraproject/lura/router/gin": "router",
    "devopsfaith/krakend-ratelimit/juju/router": "qos/ratelimit/router",
    "devopsfaith/krakend-ratelimit/juju/proxy": "qos/ratelimit/proxy",
    "devopsfaith/krakend-httpcache": "qos/http-cache",
    "devopsfaith/krakend-circuitbreaker/gobreaker": "qos/circuit-breaker",
    "devopsfaith/krakend-oauth2-clientcredentials": "auth/client-credentials",
    "devopsfaith/krakend-jose/validator": "auth/validator",
    "devopsfaith/krakend-jose/signer": "auth/signer",
    "devopsfaith/bloomfilter": "auth/revoker",
    "devopsfaith/krakend-botdetector": "security/bot-detector",
    "devopsfaith/krakend-httpsecure": "security/http",
    "devopsfaith/krakend-cors": "security/cors",
    "devopsfaith/krakend-cel": "validation/cel",
    "devopsfaith/krakend-jsonschema": "validation/json-schema",
    "devopsfaith/krakend-amqp/agent": "async/amqp",
    "devopsfaith/krakend-amqp/consume": "backend/amqp/consumer",
    "devopsfaith/krakend-amqp/produce": "backend/amqp/producer",
    "devopsfaith/krakend-lambda": "backend/lambda",
    "devopsfaith/krakend-pubsub/publisher": "backend/pubsub/publisher",
    "devopsfaith/krakend-pubsub/subscriber": "backend/pubsub/subscriber",
    "devopsfaith/krakend/transport/http/client/graphql": "backend/graphql",
    "devopsfaith/krakend/http": "backend/http",
    "devopsfaith/krakend-gelf": "telemetry/gelf",
    "devopsfaith/krakend-gologging": "telemetry/logging",
    "devopsfaith/krakend-logstash": "telemetry/logstash",
    "devopsfaith/krakend-metrics": "telemetry/metrics",
    "letgoapp/krakend-influx": "telemetry/influx",
    "devopsfaith/krakend-influx": "telemetry/influx",
    "devopsfaith/krakend-opencensus": "telemetry/opencensus",
    "devopsfaith/krakend-lua/router": "modifier/lua-endpoint",
    "devopsfaith/krakend-lua/proxy": "modifier/lua-proxy",
    "devopsfaith/krakend-lua/proxy/backend": "modifier/lua-backend",
    "devopsfaith/krakend-martian": "modifier/martian",
}

#: legacy namespace -> short name, in both the ``github.com/`` and ``github_com/`` spellings
ALIASES: Final[Mapping[str, str]] = {
    f"{host}/{path}": short for path, short in _LEGACY.items() for host in ("github.com", "github_com")
}

#: namespaces of the KrakenD Community Edition (reference §3.1)
CE_NAMESPACES: Final[frozenset[str]] = frozenset(
    {
        "router",
        "proxy",
        "backend/http",
        "backend/http/client",
        "backend/graphql",
        "backend/lambda",
        "backend/amqp/consumer",
        "backend/amqp/producer",
        "backend/pubsub/publisher",
        "backend/pubsub/subscriber",
        "async/amqp",
        "qos/ratelimit/router",
        "qos/ratelimit/proxy",
        "qos/circuit-breaker",
        "qos/http-cache",
        "security/cors",
        "security/http",
        "security/bot-detector",
        "auth/validator",
        "auth/signer",
        "auth/revoker",
        "auth/client-credentials",
        "validation/json-schema",
        "validation/cel",
        "modifier/lua-endpoint",
        "modifier/lua-proxy",
        "modifier/lua-backend",
        "modifier/martian",
        "plugin/http-server",
        "plugin/http-client",
        "plugin/req-resp-modifier",
        "telemetry/logging",
        "telemetry/gelf",
        "telemetry/logstash",
        "telemetry/metrics",
        "telemetry/influx",
        "telemetry/opencensus",
        "telemetry/opentelemetry",
    }
)

#: namespaces only KrakenD Enterprise reads (reference §3.2)
EE_NAMESPACES: Final[frozenset[str]] = frozenset(
    {
        "auth/api-keys",
        "auth/basic",
        "auth/aws-sigv4",
        "auth/gcp",
        "auth/ntlm",
        "backend/static-filesystem",
        "server/static-filesystem",
        "backend/grpc",
        "grpc",
        "backend/soap",
        "backend/conditional",
        "backend/pubsub/publisher/kafka",
        "backend/pubsub/subscriber/kafka",
        "messaging/kafka",
        "ai/llm",
        "ai/mcp",
        "websocket",
        "workflow",
        "security/policies",
        "qos/ratelimit/service",
        "qos/ratelimit/service/redis",
        "qos/ratelimit/router/redis",
        "qos/ratelimit/tiered",
        "redis",
        "qos/circuit-breaker/http",
        "governance/processors",
        "governance/quota",
        "documentation/openapi",
        "documentation/postman",
        "modifier/jmespath",
        "modifier/body-generator",
        "modifier/request-body-generator",
        "modifier/response-body",
        "modifier/response-body-generator",
        "modifier/response-headers",
        "modifier/request-body-extractor",
        "modifier/request-body-extractor/early",
        "plugin/middleware",
        "validation/response-json-schema",
        "server/virtualhost",
        "telemetry/opentelemetry-security",
        "telemetry/moesif",
        "telemetry/newrelic",
    }
)
_EE_PREFIXES: Final = ("messaging/kafka/",)


#: the KrakenD Enterprise Go plugins krakenpy builds in, by the namespace that names them
#: (``krakend-redirect`` is ``no-redirect``'s KrakenD 1.x name)
BUILT_IN_PLUGINS: Final[Mapping[str, frozenset[str]]] = {
    "plugin/http-server": frozenset(
        {"ip-filter", "url-rewrite", "virtualhost", "wildcard", "static-filesystem", "geoip"}
    ),
    "plugin/http-client": frozenset({"no-redirect", "krakend-redirect", "static-filesystem", "wildcard"}),
    "plugin/req-resp-modifier": frozenset({"content-replacer"}),
}


def close_matches(word: str, possibilities: Iterable[str], *, n: int, cutoff: float) -> list[str]:
    """:func:`difflib.get_close_matches`, imported when a configuration names something unknown (a
    valid one never does: P7 start-up)."""
    import difflib

    return difflib.get_close_matches(word, possibilities, n=n, cutoff=cutoff)


def plugin_names(value: Any) -> tuple[str, ...]:
    """The plugins a ``plugin/*`` value names: its ``name``, a list (server and modifier plugins) or
    one string (a client plugin); anything else names none."""
    name = value.get("name") if isinstance(value, Mapping) else None
    if isinstance(name, str):
        return (name,) if name else ()
    if isinstance(name, list):
        return tuple(n for n in name if isinstance(n, str) and n)
    return ()


@dataclass(frozen=True, slots=True)
class Catalog:
    """What krakenpy implements, as the config checks need it. Built from the component registry
    (:func:`krakenpy.components.registry.catalog`); the config package never imports a component."""

    #: implemented namespace → the levels it is read at
    levels: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: namespaces whose unknown keys are errors even without ``--lint``
    strict: AbstractSet[str] = frozenset()
    #: implemented namespace → "ce" | "ee" | "krakenpy"
    editions: Mapping[str, str] = field(default_factory=dict)

    def implements(self, namespace: str) -> bool:
        return namespace in self.levels


def _owned(owner: Mapping[str, Any], level: str, path: str) -> Iterator[tuple[str, str, Any]]:
    """An endpoint-shaped object's extra_config, then its backends'."""
    yield level, path, owner.get("extra_config")
    backends = owner.get("backend")
    if not isinstance(backends, list):
        return
    for j, backend in enumerate(backends):
        if isinstance(backend, Mapping):
            yield "backend", f"{path}.backend[{j}]", backend.get("extra_config")


def _workflows(extra: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(JSON path, workflow) of every ``ai/mcp`` tool's workflow and ``grpc.server`` method: an
    endpoint without a route, whose namespaces guard and warn as an endpoint's do."""
    mcp = extra.get("ai/mcp") if isinstance(extra, Mapping) else None
    servers = mcp.get("servers") if isinstance(mcp, Mapping) else None
    for i, server in enumerate(servers if isinstance(servers, list) else ()):
        tools = server.get("tools") if isinstance(server, Mapping) else None
        for j, tool in enumerate(tools if isinstance(tools, list) else ()):
            workflow = tool.get("workflow") if isinstance(tool, Mapping) else None
            if isinstance(workflow, Mapping):
                yield f"extra_config.ai/mcp.servers[{i}].tools[{j}].workflow", workflow
    # grpc.server methods: their backends are an endpoint's
    grpc = extra.get("grpc") if isinstance(extra, Mapping) else None
    server = grpc.get("server") if isinstance(grpc, Mapping) else None
    services = server.get("services") if isinstance(server, Mapping) else None
    for i, service in enumerate(services if isinstance(services, list) else ()):
        methods = service.get("methods") if isinstance(service, Mapping) else None
        for j, method in enumerate(methods if isinstance(methods, list) else ()):
            if isinstance(method, Mapping):
                yield f"extra_config.grpc.server.services[{i}].methods[{j}]", {"backend": method.get("backend")}


def _levels(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(level, JSON path of the owner, the owner's extra_config) for every place extra_config may sit."""
    yield "service", "", doc.get("extra_config")
    for key, level in (("endpoints", "endpoint"), ("async_agent", "agent")):
        owners = doc.get(key)
        if not isinstance(owners, list):
            continue
        for i, owner in enumerate(owners):
            if isinstance(owner, Mapping):
                yield from _owned(owner, level, f"{key}[{i}]")
    for path, workflow in _workflows(doc.get("extra_config")):
        yield from _owned(workflow, "endpoint", path)


def normalize_aliases(doc: dict[str, Any]) -> None:
    """Rename legacy namespaces to their short names, in place, at every level.

    When both spellings are present the short name wins and the legacy block is dropped, so the
    result does not depend on key order.
    """
    for _, _, extra in _levels(doc):
        if not isinstance(extra, dict):
            continue
        for key in [k for k in extra if k in ALIASES]:
            value = extra.pop(key)
            extra.setdefault(ALIASES[key], value)


def _is_ee(namespace: str) -> bool:
    return namespace in EE_NAMESPACES or namespace.startswith(_EE_PREFIXES)


#: namespaces that restrict who may call an endpoint, or how often: serving a config without them
#: would open what the author meant to close, so ``run`` refuses them unless told otherwise
_ENFORCING_PREFIXES: Final = ("auth/", "security/bot-detector", "security/policies", "validation/", "qos/ratelimit/")


def is_enforcing(namespace: str, catalog: Catalog, level: str = "endpoint") -> bool:
    """True for an access-control or rate-limit namespace krakenpy does not implement.

    A name KrakenD does not know either is refused where a guard would act (an endpoint, a backend) and
    at service level only when it looks like a misspelt guard (``auth/validater``): KrakenD ignores
    unknown names, and a service-level ``auth/jwk-client`` carrying cache settings (corpus 021) guards
    nothing, while a misspelt guard would silently open what its author meant to close."""
    if catalog.implements(namespace) or not namespace.startswith(_ENFORCING_PREFIXES):
        return False
    if level != "service" or namespace in CE_NAMESPACES or _is_ee(namespace):
        return True
    guards = [name for name in (*CE_NAMESPACES, *EE_NAMESPACES) if name.startswith(_ENFORCING_PREFIXES)]
    return bool(close_matches(namespace, guards, n=1, cutoff=0.8))


def enforcing_namespaces(doc: Mapping[str, Any], catalog: Catalog) -> list[str]:
    """JSON paths of unimplemented access-control namespaces (``endpoints[2].extra_config.auth/validator``)."""
    found: list[str] = []
    for level, owner, extra in _levels(doc):
        if not isinstance(extra, Mapping):
            continue
        prefix = f"{owner}.extra_config" if owner else "extra_config"
        found.extend(f"{prefix}.{ns}" for ns in extra if isinstance(ns, str) and is_enforcing(ns, catalog, level))
    return found


def namespace_issues(doc: Mapping[str, Any], catalog: Catalog, *, lint: bool = False) -> list[ConfigIssue]:
    """One issue per ``extra_config`` namespace krakenpy does not act on, at the namespace's JSON path.

    Warnings, except that ``--lint`` makes an unknown namespace (a typo such as ``modifier/lua-proxi``,
    whose script would silently never run) an error.
    """
    issues: list[ConfigIssue] = []
    known = sorted(CE_NAMESPACES | EE_NAMESPACES | set(catalog.levels))
    for level, owner, extra in _levels(doc):
        if not isinstance(extra, Mapping):
            continue
        prefix = f"{owner}.extra_config" if owner else "extra_config"
        for namespace in extra:
            if not isinstance(namespace, str) or (namespace and namespace[0] in "@$_#"):
                continue  # comment key
            path = key_path(prefix, namespace)
            if catalog.implements(namespace):
                if level not in catalog.levels[namespace]:
                    issues.append(ConfigIssue(path, f"namespace not read at {level} level: ignored", "warning"))
                elif lint and catalog.editions.get(namespace) == "krakenpy":
                    issues.append(ConfigIssue(path, "krakenpy extension: KrakenD ignores this namespace", "warning"))
            elif namespace in CE_NAMESPACES:
                issues.append(ConfigIssue(path, "CE namespace not implemented by krakenpy yet: ignored", "warning"))
            elif _is_ee(namespace):
                issues.append(ConfigIssue(path, "KrakenD Enterprise namespace: not supported, ignored", "warning"))
            else:
                hint = close_matches(namespace, known, n=1, cutoff=0.8)
                message = "unknown namespace" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                issues.append(
                    ConfigIssue(path, message if lint else f"{message}: ignored", "error" if lint else "warning")
                )
    return issues
