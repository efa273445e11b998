"""``telemetry/gelf`` (service): application and access logs to Graylog (GELF over UDP or TCP)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources
from krakenpy.telemetry.settings import GelfOptions, parse_gelf
from krakenpy.telemetry.setup import hub_for

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> GelfOptions:
    return parse_gelf(raw, site.path)


async def _edge(options: GelfOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    hub_for(resources)
    return None


COMPONENT: Final = Component(
    namespace="telemetry/gelf",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="logs to Graylog: GELF 1.1 over UDP (gzip, chunked) or TCP (NUL-framed), never blocking",
    edge=_edge,
    strict=False,
)
