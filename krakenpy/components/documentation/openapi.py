"""``documentation/openapi`` (service and endpoint, KrakenD Enterprise field names): the OpenAPI 3.1
document generated from the configuration (:mod:`krakenpy.openapi`).

Like EE, the document is exported by a command (``krakenpy openapi export -c FILE``); a service-level
``serve_at`` (krakenpy extension) also serves it, at the edge before the router. The edge builder
always generates the document once, so ``check`` and ``run`` report what the export would refuse
(an operation id used twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.openapi import DocOptions, generate, parse_doc
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "documents"]

NAMESPACE: Final = "documentation/openapi"


def _parse(raw: Mapping[str, Any], site: Site) -> DocOptions:
    if site.level == "endpoint" and "serve_at" in raw:
        raise ConfigError([ConfigIssue(site.at("serve_at"), "a service-level field: the document is served once")])
    params = list(site.endpoint.params) if site.level == "endpoint" and site.endpoint is not None else None
    return parse_doc(raw, site.path, params=params)


def documents(parsed: Mapping[str, Mapping[str, object]]) -> dict[str, DocOptions]:
    """Owner JSON path → parsed value, for every owner with a ``documentation/openapi`` value."""
    return {owner: v for owner, values in parsed.items() if isinstance(v := values.get(NAMESPACE), DocOptions)}


async def _edge(options: DocOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    from krakenpy.openapi.serve import document_middleware

    document = generate(site.service, documents(resources.parsed))
    serve_at = options.get("serve_at") if options is not None else None
    if not serve_at:
        return None
    taken = [f"{e.method} {e.endpoint}" for e in site.service.endpoints if e.endpoint == serve_at]
    if taken:
        resources.warnings.append(f"{site.at('serve_at')}: the document hides the endpoint {', '.join(taken)}")
    return document_middleware(str(serve_at), document)


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=_parse,
    summary="OpenAPI 3.1 document of the config (krakenpy openapi export; served at serve_at, krakenpy)",
    edition="ee",
    edge=_edge,
)
