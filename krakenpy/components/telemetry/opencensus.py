"""``telemetry/opencensus`` (service, deprecated by KrakenD): accepted with a warning; when
``telemetry/opentelemetry`` is absent, its Prometheus exporter and ``sample_rate`` are served
through krakenpy's OpenTelemetry metrics (the Jaeger/Zipkin/... exporters are not)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> dict[str, Any]:
    return dict(raw) if isinstance(raw, dict) else {}


async def _edge(options: dict[str, Any] | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    exporters = sorted((options or {}).get("exporters", {}) or {})
    resources.warnings.append(
        f"{site.path}: OpenCensus is deprecated; krakenpy does not export to {', '.join(exporters) or 'it'}. "
        "Move to telemetry/opentelemetry (same Prometheus port: exporters.prometheus[].port)"
    )
    return None


COMPONENT: Final = Component(
    namespace="telemetry/opencensus",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="deprecated OpenCensus: accepted with a warning pointing to telemetry/opentelemetry",
    edge=_edge,
    strict=False,
)
