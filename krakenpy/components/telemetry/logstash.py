"""``telemetry/logstash`` (service): application-log lines as logstash JSON objects."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources
from krakenpy.telemetry.settings import parse_logstash
from krakenpy.telemetry.setup import hub_for

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> bool:
    return parse_logstash(raw, site.path)


async def _edge(options: bool | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    hub_for(resources)
    return None


COMPONENT: Final = Component(
    namespace="telemetry/logstash",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="application log as logstash JSON lines (sorted keys, µs timestamps, request id)",
    edge=_edge,
    strict=False,
)
