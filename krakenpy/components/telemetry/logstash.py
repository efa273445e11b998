"""``telemetry/logstash`` (service): application-log lines as logstash JSON objects."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigIssue
from krakenpy.resources import Resources
from krakenpy.telemetry.settings import parse_logstash
from krakenpy.telemetry.setup import hub_for

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> bool:
    enabled = parse_logstash(raw, site.path)
    if enabled and "telemetry/logging" not in site.service.extra_config:
        # KrakenD's logstash logger is made on top of telemetry/logging's: without it KrakenD falls
        # back to lura's basic text logger (at DEBUG), its docs calling telemetry/logging a dependency.
        # krakenpy writes the JSON lines the file asks for; the warning tells the two apart
        message = (
            "without telemetry/logging KrakenD ignores it (its logstash logger needs telemetry/logging) and "
            "writes basic text lines; krakenpy writes logstash JSON lines at --log-level: add "
            "telemetry/logging for the same log on both"
        )
        site.notes.append(ConfigIssue(site.path, message, "warning"))
    return enabled


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
