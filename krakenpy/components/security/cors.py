"""``security/cors``: CORS for every path (edge layer, outermost), rs/cors semantics.

CE reads the service value only; an endpoint value (KrakenD Enterprise) replaces it for that
endpoint's method and path. Whatever level the assembly builds first, one edge middleware is made
for the whole service: it reads the service value and every endpoint value at once.
"""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.cors import CorsOptions, CorsPolicy, RouteMap, cors_middleware, parse_cors
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "security/cors"
#: set once the single edge middleware exists (the other levels then build nothing)
_BUILT: Final = Key("security/cors edge middleware built", bool)


def _parse(raw: Any, site: Site) -> CorsOptions:
    return parse_cors(raw, site.path)


async def _build_edge(options: CorsOptions, site: Site, resources: Resources) -> EdgeMiddleware | None:
    if _BUILT in resources.state:
        return None
    resources.state.set(_BUILT, True)
    service = site.service
    issues: list[ConfigIssue] = []
    policies: list[tuple[str, CorsPolicy]] = []
    service_policy: CorsPolicy | None = None
    raw = service.extra_config.get(NAMESPACE)
    if raw is not None:
        path = f"extra_config.{NAMESPACE}"
        service_policy = _policy(options if site.level == "service" else raw, path, issues)
        if service_policy is not None:
            policies.append((path, service_policy))
    routes: RouteMap[CorsPolicy] = RouteMap()
    for endpoint in service.endpoints:
        value = endpoint.extra_config.get(NAMESPACE)
        if value is None:
            continue
        path = f"{endpoint.path}.extra_config.{NAMESPACE}"
        policy = _policy(options if site.endpoint is endpoint else value, path, issues)
        if policy is not None:
            routes.add(endpoint.endpoint, endpoint.method, policy)
            policies.append((path, policy))
    if issues:
        raise ConfigError(issues)
    for path, policy in policies:
        if policy.credentials_with_any_origin:
            resources.warnings.append(
                f"{path}: allow_credentials with every origin allowed answers 'Access-Control-Allow-Origin: *', "
                "which browsers refuse on credentialed requests (as KrakenD does); list the origins, or set "
                "reflect_origin to answer with the request's Origin"
            )
    if service_policy is None and not routes:
        return None
    return cors_middleware(service_policy, routes)


def _policy(value: Any, path: str, issues: list[ConfigIssue]) -> CorsPolicy | None:
    try:
        options = value if isinstance(value, CorsOptions) else parse_cors(value, path)
    except ConfigError as exc:
        issues.extend(exc.issues)
        return None
    return CorsPolicy(options)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=_parse,
    summary="CORS (rs/cors) on every path incl. preflights for unknown paths; endpoint values override (EE)",
    edge=_build_edge,
)
