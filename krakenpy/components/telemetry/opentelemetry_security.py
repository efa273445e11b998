"""``telemetry/opentelemetry-security`` (service; KrakenD Enterprise): credentials for the OTLP
exporters of ``telemetry/opentelemetry``, by exporter name (:mod:`krakenpy.telemetry.otelsecurity`).
The telemetry set-up reads the parsed value when it makes the exporters; this builder only warns."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources
from krakenpy.telemetry.otelsecurity import NAMESPACE, OtelSecurity, parse_otel_security
from krakenpy.telemetry.otelsettings import OtelOptions

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> OtelSecurity:
    return parse_otel_security(raw, site.path)


async def _edge(options: OtelSecurity | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    if options is None:
        return None
    otel = resources.options("", "telemetry/opentelemetry")
    exporters = {e.name for e in otel.otlp} if isinstance(otel, OtelOptions) else set()
    for i, name in enumerate(options.headers):
        if name not in exporters:
            resources.warnings.append(
                f"{site.path}.otlp[{i}].name: no OTLP exporter named {name!r} in telemetry/opentelemetry: unused"
            )
    for name in options.empty:
        resources.warnings.append(f"{site.path}: exporter {name!r} gets a header with an empty value")
    return None


COMPONENT: Final[Component[OtelSecurity]] = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="extra headers (credentials) on the exports of named OTLP exporters; never logged or printed",
    edition="ee",
    edge=_edge,
)
