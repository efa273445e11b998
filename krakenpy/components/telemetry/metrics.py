"""``telemetry/metrics`` (service): krakend-metrics' ``/__stats`` on its own listen address."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources
from krakenpy.telemetry.settings import MetricsOptions, parse_metrics
from krakenpy.telemetry.setup import hub_for

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> MetricsOptions:
    return parse_metrics(raw, site.path)


async def _edge(options: MetricsOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    hub_for(resources)  # the router/proxy/backend series are recorded by the telemetry layers
    return None


COMPONENT: Final = Component(
    namespace="telemetry/metrics",
    levels=frozenset({"service"}),
    parse=_parse,
    summary="/__stats on its own address: KrakenD's router, proxy and backend counters and window histograms",
    edge=_edge,
    strict=False,
)
