"""``telemetry/opentelemetry`` (service; endpoint ``proxy`` and backend ``backend`` overrides):
krakend-otel's metrics (Prometheus ``/metrics``, OTLP) and traces (OTLP/HTTP protobuf or JSON,
OTLP/gRPC), W3C/B3 propagation into HTTP and Lambda backends."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.edge import EdgeMiddleware
from krakenpy.resources import Resources
from krakenpy.telemetry.export import (
    attribute_limit_setting,
    batch_setting,
    compression_setting,
    exporter_tls,
    grpc_available,
    insecure_setting,
    protobuf_metrics_unmet,
    temporality_setting,
    timeout_setting,
    tls_setting,
)
from krakenpy.telemetry.otelsettings import OtelOptions, parse_opentelemetry

__all__ = ["COMPONENT"]


def _parse(raw: Any, site: Site) -> OtelOptions:
    return parse_opentelemetry(raw, site.path, service_name=site.service.name)


#: the OTel SDK environment variables krakenpy does not read, with what decides instead
_UNREAD: Final = {
    "OTEL_SDK_DISABLED": "leave telemetry/opentelemetry out, or disable its exporters, to turn it off; KrakenD's SDK "
    "has no such switch either",
    "OTEL_TRACES_SAMPLER": "trace_sample_rate decides the sampling, as in KrakenD",
    "OTEL_TRACES_SAMPLER_ARG": "trace_sample_rate decides the sampling, as in KrakenD",
    "OTEL_METRIC_EXPORT_INTERVAL": "metric_reporting_period sets the export period, as in KrakenD",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "the exporters' host and port name the collectors, as in KrakenD",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "the exporters' host and port name the collectors, as in KrakenD",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "the exporters' host and port name the collectors, as in KrakenD",
    "OTEL_TRACES_EXPORTER": "the exporters lists pick the exporters, as in KrakenD",
    "OTEL_METRICS_EXPORTER": "the exporters lists pick the exporters, as in KrakenD",
}


async def _edge(options: OtelOptions | None, site: Site, resources: Resources) -> EdgeMiddleware | None:
    if options is not None:
        # spans over gRPC need grpcio only (krakenpy writes their protobuf); metrics need opentelemetry-proto
        grpc = [e for e in options.otlp if not e.use_http and not e.disable_metrics]
        if grpc and not grpc_available():
            names = ", ".join(e.name or "(unnamed)" for e in grpc)
            resources.warnings.append(
                f"{site.path}.exporters.otlp: {names} export metrics over OTLP/gRPC (use_http: false), which needs "
                "the optional dependencies grpcio and opentelemetry-proto (pip install 'krakenpy[otlp-grpc]'); until "
                "then their metrics exports fail and are logged (spans go without them), or set use_http: true and "
                "port 4318"
            )
        http = [e for e in options.otlp if e.use_http and not e.disable_metrics]
        asked = protobuf_metrics_unmet() if http else ""
        if asked:
            names = ", ".join(e.name or "(unnamed)" for e in http)
            resources.warnings.append(
                f"{site.path}.exporters.otlp: {names} export metrics over OTLP/HTTP and {asked} asks for protobuf, "
                "which needs the optional dependency opentelemetry-proto (pip install 'krakenpy[otlp-protobuf]'); "
                "until then their metrics go as OTLP/HTTP JSON (application/json; spans stay protobuf)"
            )
        if any(not e.disable_traces for e in options.otlp):  # a tracer: propagation (imported only then)
            from krakenpy.telemetry.trace.context import (
                PROPAGATORS,
                none_beside,
                propagators_from_env,
                unknown_propagators,
            )

            unknown = unknown_propagators()
            if unknown:  # the OTel environment specification: an unrecognised value is ignored, with a warning
                resources.warnings.append(
                    f"OTEL_PROPAGATORS: {', '.join(unknown)} unknown, ignored (krakenpy propagates "
                    f"{', '.join(propagators_from_env()) or 'nothing'}; it knows {', '.join(PROPAGATORS)} and none)"
                )
            beside = none_beside()
            if beside:  # otel-go's autoprop (KrakenD): none anywhere in the list wins over every other name
                resources.warnings.append(
                    f"OTEL_PROPAGATORS: none is named with {', '.join(beside)}, which are ignored: no trace context "
                    "is read from callers or written to backends (as otel-go's autoprop, KrakenD's, reads the list)"
                )
        if options.otlp:  # OTEL_EXPORTER_OTLP_*HEADERS entries that cannot be sent (values never quoted),
            # and *COMPRESSION / *TIMEOUT values that are not gzip or none / milliseconds
            from krakenpy.telemetry.otelsecurity import env_headers

            problems = {env_headers(signal)[2] for signal in ("TRACES", "METRICS")}
            problems |= {compression_setting(signal)[1] for signal in ("TRACES", "METRICS")}
            problems |= {timeout_setting(signal)[1] for signal in ("TRACES", "METRICS")}
            if any(not e.use_http and not e.scheme for e in options.otlp):  # OTEL_EXPORTER_OTLP_*INSECURE
                problems |= {insecure_setting(signal)[1] for signal in ("TRACES", "METRICS")}
            # OTEL_EXPORTER_OTLP_*CERTIFICATE, *CLIENT_*: for an https host, or gRPC made TLS by *INSECURE
            if any(exporter_tls(e, signal) for e in options.otlp for signal in ("TRACES", "METRICS")):
                problems |= {tls_setting(signal)[1] for signal in ("TRACES", "METRICS")}
            if any(not e.disable_metrics for e in options.otlp):  # metrics as deltas or totals
                problems.add(temporality_setting()[1])
            if any(not e.disable_traces for e in options.otlp):  # OTEL_BSP_*, *ATTRIBUTE_VALUE_LENGTH_LIMIT
                problems.add(batch_setting()[1])
                problems.add(attribute_limit_setting()[1])
            problems -= {""}
            resources.warnings.extend(sorted(problems))
        if options.otlp or options.prometheus:  # the resource: a malformed OTEL_RESOURCE_ATTRIBUTES
            import os

            from krakenpy.telemetry.instance import resource_from_env

            problem = resource_from_env(os.environ)[1]
            if problem:
                resources.warnings.append(problem)
            # OTel SDK variables an operator may expect to work, which KrakenD's configuration overrides
            # (or its SDK has no such switch): said once, not silently ignored
            unread = [name for name in _UNREAD if os.environ.get(name, "").strip()]
            if unread:
                resources.warnings.append(
                    f"{', '.join(unread)}: not read ("
                    + "; ".join(dict.fromkeys(_UNREAD[name] for name in unread))
                    + ")"
                )
        for kind, stage in (("metrics", options.backend_metrics), ("traces", options.backend_traces)):
            if stage.detailed_connection and not stage.round_trip:
                resources.warnings.append(
                    f"{site.path}.layers.backend.{kind}.detailed_connection: no effect without round_trip "
                    "(as in krakend-otel: the connection timings are recorded with the round trip)"
                )
        from krakenpy.telemetry.metrics.instruments import left_out

        for layer, static, field in (
            ("global", options.global_metrics_static, "layers.global.metrics_static_attributes"),
            ("proxy", options.proxy_metrics_static, "layers.proxy.metrics_static_attributes"),
            ("backend", options.backend_metrics.static, "layers.backend.metrics.static_attributes"),
        ):
            dropped = left_out(layer, static)
            if dropped:  # each would make a scrape Prometheus refuses whole
                resources.warnings.append(
                    f"{site.path}.{field}: {', '.join(dropped)} left out of the metrics (a label the "
                    "instruments have themselves, a key repeated later, whose last value is kept, or one "
                    "Prometheus reserves or the exporter adds: le, quantile, __*, otel_scope_name, otel_scope_version)"
                )
    # the upstream client's timing mode is decided before anything is built (decide_client_timing)
    return None


COMPONENT: Final = Component(
    namespace="telemetry/opentelemetry",
    levels=frozenset({"service", "endpoint", "backend"}),
    parse=_parse,
    summary=(
        "OpenTelemetry: Prometheus /metrics, OTLP metrics and traces (resource from OTEL_RESOURCE_ATTRIBUTES and "
        "OTEL_SERVICE_NAME, `service.instance.id` one per process), W3C/B3 propagation to backends and Lambda"
    ),
    edge=_edge,
    strict=False,
    ignored={
        "histograms": "KrakenD Enterprise only: histogram buckets are krakend-otel's defaults",
        "layers.backend.metrics.report_headers": "as in KrakenD: krakend-otel's backend metrics read no such field; "
        "only traces report headers",
    },
)
