"""``telemetry/opencensus`` (service): krakend-opencensus' views on a Prometheus ``/metrics`` port
and InfluxDB, its spans to Jaeger (collector or agent), Zipkin and the log, B3 headers to backends.
Deprecated by KrakenD (``check`` says so); see :mod:`krakenpy.telemetry.opencensus`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from krakenpy.backends.client import ClientMiddleware
from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources

if TYPE_CHECKING:
    from krakenpy.telemetry.opencensus.settings import OpenCensusOptions

__all__ = ["COMPONENT"]

NAMESPACE: Final = "telemetry/opencensus"
#: why the exporters KrakenD offers and krakenpy does not implement send nothing (bench.corpus counts it)
_NOT_SENT: Final = (
    "an exporter krakenpy does not implement: nothing is sent; telemetry/opentelemetry over OTLP reaches "
    "the same backends"
)


def _parse(raw: Any, site: Site) -> OpenCensusOptions:
    from krakenpy.telemetry.opencensus.settings import parse_opencensus

    return parse_opencensus(raw, site.path)


async def _edge(options: OpenCensusOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    from krakenpy.telemetry.opencensus.middleware import endpoint_path, server_middleware
    from krakenpy.telemetry.opencensus.setup import OC_SERVER
    from krakenpy.telemetry.setup import hub_for

    if options is None:
        return None
    resources.warnings.append(
        f"{site.path}: deprecated by KrakenD: move to telemetry/opentelemetry; krakenpy still exports it"
    )
    resources.warnings.extend(options.warnings)
    hub_for(resources)
    views = resources.state.get(OC_SERVER)
    if views is None:
        return None
    paths = {e.endpoint: endpoint_path(e.endpoint) for e in resources.service.endpoints}
    return server_middleware(views, paths)


async def _client(options: OpenCensusOptions | None, site: Site, resources: Resources) -> ClientMiddleware | None:
    from krakenpy.telemetry.opencensus.middleware import backend_path, client_middleware
    from krakenpy.telemetry.opencensus.setup import OC_CLIENT
    from krakenpy.telemetry.setup import hub_for

    assert site.backend is not None
    if resources.options("", NAMESPACE) is None:
        return None
    hub_for(resources)
    views = resources.state.get(OC_CLIENT)
    if views is None:
        return None
    return client_middleware(views, backend_path(site.backend.url_pattern))


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"service"}),
    parse=_parse,
    summary="OpenCensus (deprecated): ochttp views on Prometheus /metrics and InfluxDB, spans to Jaeger, Zipkin "
    "and the log, B3 to backends",
    edge=_edge,
    client=_client,
    strict=False,
    # service level only, yet its client layer wraps every HTTP backend (a lookup at start-up
    # when the namespace is absent: nothing per request)
    always=True,
    ignored={
        **{f"exporters.{name}": _NOT_SENT for name in ("datadog", "stackdriver", "xray", "ocagent")},
        "exporters.influxdb.ping": "writes go without a ping first: a failed write is logged",
        "exporters.influxdb.service_name": "points carry the view's tags only",
        "exporters.influxdb.buffer_size": "every view row is sent each reporting period",
    },
)
