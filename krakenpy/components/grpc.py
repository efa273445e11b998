"""``grpc`` (service, KrakenD Enterprise field names): the ``catalog`` of protobuf descriptor sets
the ``backend/grpc`` backends call through. Loaded once at start-up (edge layer, no middleware), so a
missing or unreadable file fails ``check`` and ``run`` even before a backend names a method.
``server`` (KrakenD serving gRPC itself) is accepted and ignored (a warning)."""

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
    return parse_catalog_options(raw, site.path)


async def _edge(options: CatalogOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    from krakenpy.grpc.catalog import service_catalog

    if options is not None:
        service_catalog(resources)
    return None


COMPONENT: Final = Component(
    namespace="grpc",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="the gRPC catalog: .pb descriptor sets (files, folders) loaded at start-up for backend/grpc",
    edition="ee",
    edge=_edge,
    ignored={"server": "KrakenD Enterprise's gRPC server: krakenpy serves HTTP only"},
)
