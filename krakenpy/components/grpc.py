"""``grpc`` (service, KrakenD Enterprise field names): the ``catalog`` of protobuf descriptor sets
the ``backend/grpc`` backends call through. Loaded once at start-up (edge layer, no middleware), so a
missing or unreadable file fails ``check`` and ``run`` even before a backend names a method.
``server`` publishes unary methods of the catalog on the gateway's port (:mod:`krakenpy.grpc.server`):
each method's backends are built as a route-less endpoint's, and the edge middleware answers the calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.grpc.options import parse_catalog_options
from krakenpy.resources import Resources

if TYPE_CHECKING:
    from krakenpy.grpc.options import CatalogOptions

__all__ = ["COMPONENT"]


def _parse(raw: Mapping[str, Any], site: Site) -> CatalogOptions:
    return parse_catalog_options(raw, site.path, site)


async def _edge(options: CatalogOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    from krakenpy.grpc.catalog import service_catalog

    if options is None:
        return None
    catalog = service_catalog(resources)
    if options.server is None or catalog is None:
        return None
    from krakenpy.grpc.server import build_server

    return await build_server(options.server, catalog, resources)


COMPONENT: Final = Component(
    namespace="grpc",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="the gRPC catalog (.pb descriptor sets) for backend/grpc, and the gRPC server (unary methods, h2c)",
    edition="ee",
    edge=_edge,
    ignored={"server.opentelemetry": "gRPC calls reach the access log only: no spans nor metrics of their own"},
)
