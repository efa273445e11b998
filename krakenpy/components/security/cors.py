"""``security/cors``: CORS for every path (edge layer, outermost), rs/cors semantics.

CE reads the service value only; an endpoint value (KrakenD Enterprise) replaces it for that
endpoint's method and path. The edge builder runs once for the whole gateway and reads the service
value and every endpoint value (from ``resources.parsed``) into one middleware.
"""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.cors import CorsOptions, CorsPolicy, RouteMap, cors_middleware, parse_cors
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE"]

NAMESPACE: Final = "security/cors"


def _parse(raw: Any, site: Site) -> CorsOptions:
    return parse_cors(raw, site.path)


async def _edge(options: CorsOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    policies: list[tuple[str, CorsPolicy]] = []
    service_policy = CorsPolicy(options) if options is not None else None
    if service_policy is not None:
        policies.append((site.path, service_policy))
    routes: RouteMap[CorsPolicy] = RouteMap()
    for endpoint in site.service.endpoints:
        value = resources.options(endpoint.path, NAMESPACE)
        if isinstance(value, CorsOptions):
            policy = CorsPolicy(value)
            routes.add(endpoint.endpoint, endpoint.method, policy)
            policies.append((f"{endpoint.path}.extra_config.{NAMESPACE}", policy))
    for path, policy in policies:
        if policy.credentials_with_any_origin:
            resources.warnings.append(
                f"{path}: allow_credentials with every origin allowed answers 'Access-Control-Allow-Origin: *', "
                "which browsers refuse on credentialed requests (KrakenD does the same); list the origins, or "
                "set reflect_origin (krakenpy) to answer with the request's Origin"
            )
    if service_policy is None and not routes:
        return None
    return cors_middleware(service_policy, routes)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=_parse,
    summary="CORS (rs/cors) on every path, preflights of unknown paths too; an endpoint value overrides (EE)",
    edge=_edge,
)
