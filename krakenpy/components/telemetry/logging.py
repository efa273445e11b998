"""``telemetry/logging`` (service): the application log's level, prefix, outputs (stdout, syslog
with facility) and format (KrakenD's default, logstash, or a custom go-logging pattern)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources
from krakenpy.telemetry.settings import LoggingOptions, parse_logging
from krakenpy.telemetry.setup import hub_for

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> LoggingOptions:
    return parse_logging(raw, site.path)


async def _edge(options: LoggingOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    hub_for(resources)  # installs the handlers (undone when the gateway closes); nothing per request
    return None


COMPONENT: Final = Component(
    namespace="telemetry/logging",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="application log: level, prefix, stdout, syslog and facility, default/logstash/custom format",
    edge=_edge,
    strict=False,
    ignored={
        **dict.fromkeys(
            ("access_log_format", "access_log_custom_format", "access_log_missing_key_marker"),
            "KrakenD Enterprise only: the access log's format is telemetry/access_log's",
        ),
        "backend": "KrakenD Enterprise only",
    },
)
