"""``telemetry/influx`` (service): push the ``/__stats`` collector (``telemetry/metrics``) to InfluxDB
every ``ttl``, as krakend-influx does. See :mod:`krakenpy.telemetry.influx`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.errors import ConfigIssue
from krakenpy.resources import Resources

if TYPE_CHECKING:
    from krakenpy.telemetry.influx import InfluxOptions

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> InfluxOptions | None:
    from krakenpy.config.durations import parse_duration
    from krakenpy.telemetry.influx import parse_influx

    address = raw.get("address") if isinstance(raw, dict) else None
    if not str(address or "").startswith(("http://", "https://")):
        # krakend-influx's client refuses the address; KrakenD logs it and runs without the export
        # the value is not quoted: without a scheme, ConfigIssue cannot find a user:password@ to mask
        message = "not an http(s) URL (an unexpanded $VARIABLE?): nothing is sent to InfluxDB"
        site.notes.append(ConfigIssue(site.at("address"), message, "warning"))
        return None
    options = parse_influx(raw, site.path)
    if parse_duration(str(raw.get("ttl") or "1m")) <= 0:  # parse_influx read it: a Go duration
        # krakend-influx's ticker panics on it and KrakenD stops; krakenpy pushes at the default period
        message = "not a positive duration: pushes every 1m (KrakenD stops at start with this ttl)"
        site.notes.append(ConfigIssue(site.at("ttl"), message, "warning"))
    return options


async def _edge(options: InfluxOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    from krakenpy.telemetry.influx import InfluxPusher
    from krakenpy.telemetry.setup import hub_for

    if options is None:
        return None
    hub = hub_for(resources)
    if hub.stats is None:  # krakend-influx sends krakend-metrics' collector: without it there is nothing
        resources.warnings.append(f"{site.path}: needs telemetry/metrics (the collector it pushes): nothing is sent")
        return None
    pusher = InfluxPusher(options, hub.stats)
    resources.on_serve.append(pusher.start)  # pushes only once the gateway serves (never during check)
    resources.stack.push_async_callback(pusher.stop)
    return None


COMPONENT: Final = Component(
    namespace="telemetry/influx",
    levels=frozenset({"service"}),
    parse=_parse,
    summary=(
        "pushes the /__stats collector (telemetry/metrics) to InfluxDB v1 every ttl, in line protocol (tagged "
        "`host`, and `worker` with `run -w N`)"
    ),
    edge=_edge,
    strict=False,
    ignored={
        "buffer_size": "as in KrakenD: it reads the field as 0, so every point of the collector is sent at each ttl"
    },
)
