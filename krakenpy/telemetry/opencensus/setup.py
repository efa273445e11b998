"""Configure ``telemetry/opencensus`` on a gateway's telemetry hub (called once, from
:func:`krakenpy.telemetry.setup.hub_for`, after ``telemetry/opentelemetry``).

One tracer serves both namespaces. Alone, OpenCensus sets it up: its sampler, B3 (multi-header out;
multi or single header in), the layers ``enabled_layers`` asks for. With ``telemetry/opentelemetry``
too, the OTel tracer stays (its sampler and propagators, plus B3 multi-header) and traces the union
of both namespaces' layers; every span goes to every trace exporter of both, the OpenCensus ones
skipping the layers ``enabled_layers`` turns off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from krakenpy.resources import Resources
from krakenpy.state import Key
from krakenpy.telemetry.hub import Service, Telemetry
from krakenpy.telemetry.metrics.instruments import gin_route
from krakenpy.telemetry.metrics.registry import Histogram, Registry
from krakenpy.telemetry.opencensus.exporter import PREFIX, SpanPump, SpanSink
from krakenpy.telemetry.opencensus.settings import OpenCensusOptions
from krakenpy.telemetry.opencensus.spans import OcSpan, OpenCensusSampler, Translator
from krakenpy.telemetry.opencensus.views import ClientViews, ServerViews, view_lines, view_rows
from krakenpy.telemetry.servers import LISTENERS, Listener, Scraped, prometheus_scrape, workers_prometheus_scrape
from krakenpy.telemetry.trace.spans import SpanBuffer, tee
from krakenpy.telemetry.trace.tracer import DEFAULT_SKIP_PATHS, LayerTraceOptions, Tracer

__all__ = ["OC_CLIENT", "OC_LISTENER", "OC_PUMPS", "OC_SERVER", "configure_opencensus"]

log = logging.getLogger("krakenpy.telemetry")

#: what the component's builders and the tests read back
OC_SERVER: Final = Key("opencensus server views", ServerViews)
OC_CLIENT: Final = Key("opencensus client views", ClientViews)
OC_LISTENER: Final = Key("opencensus prometheus listener", Listener)
OC_PUMPS: Final = Key("opencensus span exporters", list)
#: spans waiting per exporter when ``buffer_max_count`` is not set (zipkin-go's backlog)
DEFAULT_BACKLOG: Final = 1000


def configure_opencensus(resources: Resources, hub: Telemetry, o: OpenCensusOptions) -> None:
    """Views, their exporters and the span exporters of ``o``; the services start when serving."""
    if o.stats:
        registry = Registry()
        if o.layers.router:
            resources.state.set(OC_SERVER, ServerViews(registry, o.prometheus))
        if o.layers.backend:
            resources.state.set(OC_CLIENT, ClientViews(registry, o.prometheus))
        _stats_services(resources, hub, o, registry)
    _tracing(resources, hub, o)


def _stats_services(resources: Resources, hub: Telemetry, o: OpenCensusOptions, registry: Registry) -> None:
    from krakenpy.telemetry.setup import publish_metrics, registry_part, registry_steps

    if o.prometheus is not None:  # published only where its /metrics listener reads the workers' files
        shared = publish_metrics(resources, "prom:opencensus", registry_part(registry), registry_steps(registry))

        async def produce() -> Scraped:
            if shared is not None and shared.merged:  # run -w N, or -w 1 after a reload: merged
                return await workers_prometheus_scrape(
                    shared, "prom:opencensus", registry, scope="", target_info="", process=True, runtime=True
                )
            return await prometheus_scrape(registry, scope="", target_info="", process=True, runtime=True)

        listener = Listener("Opencensus", "", o.prometheus.port, {"/metrics": produce})
        hub.services.append(Service("opencensus prometheus", listener.start, listener.stop, one_worker=True))
        resources.state.set(OC_LISTENER, listener)
        resources.state.setdefault(LISTENERS, list).append(listener)
    if o.influxdb is not None:
        from krakenpy.telemetry.influx import InfluxPusher

        def lines(_host: str, extra: Mapping[str, str], now_ns: int) -> list[str]:
            return view_lines(registry, "", now_ns, extra)

        pusher = InfluxPusher(o.influxdb, None, lines)
        hub.services.append(Service("opencensus influxdb", pusher.start, pusher.stop))
    if o.logger is not None and o.logger.stats:
        reporter = _StatsLogger(registry, o.reporting_period)
        hub.services.append(Service("opencensus logger", reporter.start, reporter.stop))


class _StatsLogger:
    """Every reporting period, one DEBUG line per view row (the ``logger`` exporter's ``stats``)."""

    def __init__(self, registry: Registry, period: float) -> None:
        self.registry = registry
        self.period = period
        self._task: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        from krakenpy.tasks import spawn

        self._task = spawn(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.report()

    def report(self) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        for family, tags, series in view_rows(self.registry):
            labels = ",".join(f"{k}={v}" for k, v in tags.items())
            if isinstance(series, Histogram):
                log.debug("%s view %s {%s} count=%d sum=%g", PREFIX, family.name, labels, series.count, series.sum)
            else:
                log.debug("%s view %s {%s} count=%d", PREFIX, family.name, labels, int(series.value))


class _LoggerSink:
    """The ``logger`` exporter's ``spans``: one DEBUG line per span on the application log."""

    name = "logger"
    batch = 1024

    async def open(self) -> None:
        return None

    async def send(self, spans: list[OcSpan]) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        for s in spans:
            attrs = " ".join(f"{k}={v}" for k, v in s.attributes.items())
            log.debug(
                "%s span %s trace_id=%s span_id=%s parent_id=%s kind=%d duration=%dµs status=%d %s",
                PREFIX, s.name, s.trace_id, s.span_id, s.parent_id or "", s.kind, s.duration_us, s.status_code,
                attrs,
            )  # fmt: skip

    async def close(self) -> None:
        return None


def _sinks(o: OpenCensusOptions) -> list[tuple[SpanSink, int]]:
    """(sink, its buffer bound) for every trace exporter of ``o``."""
    out: list[tuple[SpanSink, int]] = []
    if o.jaeger is not None:
        from krakenpy.telemetry.opencensus.jaeger import AgentSink, CollectorSink

        sink: SpanSink = CollectorSink(o.jaeger) if o.jaeger.endpoint else AgentSink(o.jaeger)
        out.append((sink, o.jaeger.buffer_max_count or DEFAULT_BACKLOG))
    if o.zipkin is not None:
        from krakenpy.telemetry.opencensus.zipkin import ZipkinSink

        out.append((ZipkinSink(o.zipkin), DEFAULT_BACKLOG))
    if o.logger is not None and o.logger.spans:
        out.append((_LoggerSink(), DEFAULT_BACKLOG))
    return out


def _tracing(resources: Resources, hub: Telemetry, o: OpenCensusOptions) -> None:
    layers = o.layers
    sinks = _sinks(o) if o.traces else []
    buffers = [SpanBuffer(limit=bound, wake_at=min(512, bound)) for _, bound in sinks]
    traced = bool(sinks)
    propagate = layers.backend  # the backend layer's HTTP transport writes the B3 headers
    tracer = hub.tracer
    if tracer is None:
        if not traced and not propagate:
            return
        hub.tracer = Tracer(
            sampler=OpenCensusSampler(o.sample_rate),
            propagators=("b3multi",) if propagate else (),
            extract_propagators=("b3multi", "b3"),
            buffer=_one(buffers),
            redactor=hub.redactor,
            skip_paths=DEFAULT_SKIP_PATHS,
            global_layer=LayerTraceOptions(enabled=traced and layers.router),
            proxy_layer=LayerTraceOptions(enabled=traced and layers.pipe),
            backend_layer=LayerTraceOptions(
                enabled=traced and layers.backend,
                round_trip=layers.backend,
                read_payload=False,
                detailed_connection=False,
            ),  # fmt: skip
        )
    else:
        _merge(tracer, buffers, traced, o)
    if not sinks:
        return
    translate = Translator(layers, (gin_route(e.endpoint) for e in resources.service.endpoints))
    pumps = resources.state.setdefault(OC_PUMPS, list)
    for (sink, _), buffer in zip(sinks, buffers, strict=True):
        pump = SpanPump(buffer, translate, sink)
        pumps.append(pump)
        hub.services.append(Service(f"opencensus {sink.name}", pump.start, pump.stop))


def _one(buffers: list[SpanBuffer]) -> SpanBuffer:
    if not buffers:
        return SpanBuffer(limit=0)  # nothing is traced: a buffer that keeps nothing
    return buffers[0] if len(buffers) == 1 else tee(buffers)


def _merge(tracer: Tracer, buffers: list[SpanBuffer], traced: bool, o: OpenCensusOptions) -> None:
    """Add OpenCensus to the OTel tracer: its layers (union), its exporters' buffers, B3 out."""
    layers = o.layers
    otel_traces = tracer.global_layer.enabled or tracer.proxy_layer.enabled or tracer.backend_layer.enabled
    if traced:
        tracer.global_layer = replace(tracer.global_layer, enabled=tracer.global_layer.enabled or layers.router)
        tracer.proxy_layer = replace(tracer.proxy_layer, enabled=tracer.proxy_layer.enabled or layers.pipe)
        backend = tracer.backend_layer
        tracer.backend_layer = replace(
            backend, enabled=backend.enabled or layers.backend, round_trip=backend.round_trip or layers.backend
        )
        # the OTel buffer is drained only when an OTLP exporter sends traces; without one the OTel
        # tracer was there for propagation only, and OpenCensus' sample_rate decides
        tracer.buffer = tee([tracer.buffer, *buffers] if otel_traces else buffers)
        if not otel_traces:
            tracer.sampler = OpenCensusSampler(o.sample_rate)
    readers = list(tracer.propagators if tracer.extract_propagators is None else tracer.extract_propagators)
    if layers.backend and "b3multi" not in tracer.propagators:
        tracer.propagators = (*tracer.propagators, "b3multi")
    # OpenCensus' B3 readers first: of several that find a context the last named wins (otel-go's
    # composite), so OTEL_PROPAGATORS' own keep precedence over them
    tracer.extract_propagators = (*(name for name in ("b3multi", "b3") if name not in readers), *readers)
