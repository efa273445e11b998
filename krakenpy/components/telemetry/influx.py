"""``telemetry/influx`` (service): accepted; pushing to InfluxDB is not implemented (a warning says so)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> dict[str, Any]:
    return dict(raw) if isinstance(raw, dict) else {}


async def _edge(options: dict[str, Any] | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    resources.warnings.append(
        f"{site.path}: metrics are not pushed to InfluxDB by krakenpy; use telemetry/opentelemetry "
        "(Prometheus or OTLP) or telemetry/metrics"
    )
    return None


COMPONENT: Final = Component(
    namespace="telemetry/influx",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="accepted; InfluxDB push not implemented (a warning points to OpenTelemetry)",
    edge=_edge,
    strict=False,
)
