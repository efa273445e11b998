"""``documentation/postman`` (service and endpoint, KrakenD Enterprise field names): the Postman
collection v2.1 that ``krakenpy generate postman -c FILE`` writes (:mod:`krakenpy.postman`). Nothing
is served: the value is parsed (and checked) with the configuration, and read by the command."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.postman import EndpointDoc, ServiceDoc, parse_endpoint_doc, parse_service_doc
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "endpoint_docs"]

NAMESPACE: Final = "documentation/postman"


def _parse(raw: Any, site: Site) -> ServiceDoc | EndpointDoc:
    folder = raw.get("folder") if isinstance(raw, Mapping) else None
    if site.level == "service":
        if folder is not None and not isinstance(folder, list):
            raise ConfigError([ConfigIssue(site.at("folder"), "at service level: a list of {name, description}")])
        return parse_service_doc(raw, site.path)
    if folder is not None and not isinstance(folder, str):
        raise ConfigError([ConfigIssue(site.at("folder"), "at endpoint level: the name of the request's folder")])
    return parse_endpoint_doc(raw)


def endpoint_docs(parsed: Mapping[str, Mapping[str, object]]) -> dict[int, EndpointDoc]:
    """Endpoint index → its parsed value, for every endpoint with one."""
    found: dict[int, EndpointDoc] = {}
    for owner, values in parsed.items():
        value = values.get(NAMESPACE)
        if isinstance(value, EndpointDoc) and owner.startswith("endpoints[") and owner.endswith("]"):
            found[int(owner[len("endpoints[") : -1])] = value
    return found


async def _edge(options: ServiceDoc | EndpointDoc | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    return None  # a document for `krakenpy generate postman`, never served


COMPONENT: Final[Component[ServiceDoc | EndpointDoc]] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service", "endpoint"}),
    parse=_parse,
    summary="Postman collection v2.1 (folders, names, descriptions) written by `krakenpy generate postman`",
    edition="ee",
    edge=_edge,
)
