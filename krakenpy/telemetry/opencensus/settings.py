"""``telemetry/opencensus`` (krakend-opencensus) options with KrakenD's defaults and odd rules:
``sample_rate`` is a percentage where ≤ 0 never samples (and 0 is the default), ``enabled_layers``
absent turns every layer on while a present object leaves unset layers off, and an exporter that
cannot start is skipped without stopping the gateway (KrakenD ignores its error; krakenpy says so
in a warning at the exporter's JSON path)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from krakenpy.config.durations import parse_duration
from krakenpy.telemetry.influx import InfluxOptions

__all__ = [
    "JaegerOptions",
    "Layers",
    "LoggerOptions",
    "OpenCensusOptions",
    "PrometheusOptions",
    "ZipkinOptions",
    "parse_opencensus",
]

#: the exporters KrakenD offers that krakenpy does not implement
_NOT_IMPLEMENTED: Final = ("datadog", "stackdriver", "xray", "ocagent")
#: OpenCensus' own view reporting period when ``reporting_period`` is 0 or less
DEFAULT_PERIOD: Final = 10.0
TagValue = str | bool | int | float


@dataclass(frozen=True, slots=True)
class Layers:
    """``enabled_layers``: the router (server span, server views), the pipe (proxy span) and the
    backend (backend span, HTTP client span and views, B3 headers to backends)."""

    router: bool = True
    pipe: bool = True
    backend: bool = True


@dataclass(frozen=True, slots=True)
class PrometheusOptions:
    port: int
    namespace: str = ""
    tag_host: bool = False
    tag_path: bool = False
    tag_method: bool = False
    tag_statuscode: bool = False


@dataclass(frozen=True, slots=True)
class JaegerOptions:
    #: the collector's full URL (Thrift over HTTP), used as is
    endpoint: str = ""
    #: the agent's host and port (compact Thrift over UDP), used when there is no ``endpoint``
    agent_host: str = ""
    agent_port: int = 0
    service_name: str = "OpenCensus"
    #: spans waiting for export at most (0: krakenpy's default)
    buffer_max_count: int = 0
    process_tags: tuple[tuple[str, TagValue], ...] = ()


@dataclass(frozen=True, slots=True)
class ZipkinOptions:
    collector_url: str
    service_name: str = ""
    ip: str = ""
    port: int = 0


@dataclass(frozen=True, slots=True)
class LoggerOptions:
    stats: bool = False
    spans: bool = False


@dataclass(frozen=True, slots=True)
class OpenCensusOptions:
    """The parsed ``telemetry/opencensus`` value."""

    sample_rate: int = 0
    #: seconds between view reports (InfluxDB pushes, logger stats lines)
    reporting_period: float = DEFAULT_PERIOD
    layers: Layers = field(default_factory=Layers)
    prometheus: PrometheusOptions | None = None
    jaeger: JaegerOptions | None = None
    zipkin: ZipkinOptions | None = None
    logger: LoggerOptions | None = None
    influxdb: InfluxOptions | None = None
    #: what the builder reports (settings that export nothing; the exporters krakenpy does not send to
    #: are the component's ``ignored`` list)
    warnings: tuple[str, ...] = ()

    @property
    def traces(self) -> bool:
        """Some exporter receives spans and the sampler may pick some."""
        spans = self.jaeger is not None or self.zipkin is not None or (self.logger is not None and self.logger.spans)
        return spans and self.sample_rate > 0

    @property
    def stats(self) -> bool:
        """Some exporter reads the views."""
        logged = self.logger is not None and self.logger.stats
        return self.prometheus is not None or self.influxdb is not None or logged


def _obj(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _int(raw: Any, default: int = 0) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else default


def _url(raw: Any) -> str:
    text = str(raw or "")
    return text if text.startswith(("http://", "https://")) and len(text) > len("https://") else ""


def _host_port(raw: str) -> tuple[str, int] | None:
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    host = host.strip("[]") or "localhost"
    return host, int(port)


def _tags(raw: Any) -> tuple[tuple[str, TagValue], ...]:
    out: list[tuple[str, TagValue]] = []
    for key, value in sorted(_obj(raw).items()):
        if isinstance(value, str | bool | int | float):
            out.append((str(key), value))
        elif value is not None:
            out.append((str(key), str(value)))
    return tuple(out)


def _jaeger(raw: Any, path: str, notes: list[str]) -> JaegerOptions | None:
    o = _obj(raw)
    endpoint = _url(o.get("endpoint"))
    agent = _host_port(str(o.get("agent_endpoint") or ""))
    if o.get("endpoint") and not endpoint:
        notes.append(f"{path}.endpoint: expected the collector's http(s) URL: the jaeger exporter is off")
    if not endpoint and agent is None:
        if not o.get("endpoint"):
            notes.append(f"{path}: needs endpoint (collector URL) or agent_endpoint (host:port): it is off")
        return None
    count = _int(o.get("buffer_max_count"))
    if 0 < count < 100:
        notes.append(
            f"{path}.buffer_max_count: {count}: at most {count} span(s) wait for each export, the rest are "
            "dropped and counted (KrakenD's bound too)"
        )
    return JaegerOptions(
        endpoint=endpoint,
        agent_host=agent[0] if agent and not endpoint else "",
        agent_port=agent[1] if agent and not endpoint else 0,
        service_name=str(o.get("service_name") or "OpenCensus"),
        buffer_max_count=max(count, 0),
        process_tags=_tags(o.get("process_tags")),
    )


def _zipkin(raw: Any, path: str, notes: list[str]) -> ZipkinOptions | None:
    o = _obj(raw)
    url = _url(o.get("collector_url"))
    if not url:
        notes.append(f"{path}.collector_url: expected the collector's http(s) URL: the zipkin exporter is off")
        return None
    return ZipkinOptions(
        collector_url=url,
        service_name=str(o.get("service_name") or ""),
        ip=str(o.get("ip") or ""),
        port=_int(o.get("port")) if 0 < _int(o.get("port")) < 65536 else 0,
    )


def _influx(raw: Any, path: str, period: float, notes: list[str]) -> InfluxOptions | None:
    o = _obj(raw)
    address = _url(o.get("address"))
    if not address:
        notes.append(f"{path}.address: expected InfluxDB's http(s) URL: the influxdb exporter is off")
        return None
    try:
        timeout = parse_duration(o.get("timeout") or "0")
    except ValueError:
        timeout = 0.0  # KrakenD ignores a timeout it cannot parse
    return InfluxOptions(
        address=address.rstrip("/"),
        db=str(o.get("db") or ""),
        ttl=period,
        username=str(o.get("username") or ""),
        password=str(o.get("password") or ""),
        timeout=timeout if timeout > 0 else 5.0,
    )


def parse_opencensus(raw: Any, path: str) -> OpenCensusOptions:
    """The options of ``raw`` at ``path``; never raises for what KrakenD would run with."""
    o = _obj(raw)
    notes: list[str] = []
    exporters = _obj(o.get("exporters"))
    epath = f"{path}.exporters"
    layers_raw = o.get("enabled_layers")
    if isinstance(layers_raw, Mapping):  # present: unset layers are off (a Go struct's zero values)
        layers = Layers(bool(layers_raw.get("router")), bool(layers_raw.get("pipe")), bool(layers_raw.get("backend")))
    else:
        layers = Layers()
    period = float(_int(o.get("reporting_period")))
    prom_raw = exporters.get("prometheus")
    prometheus = None
    if isinstance(prom_raw, Mapping):
        p = prom_raw
        port = _int(p.get("port"))
        if not 0 <= port < 65536:
            notes.append(f"{epath}.prometheus.port: {port} is not a port: the prometheus exporter is off")
        else:
            if port == 0:
                notes.append(f"{epath}.prometheus.port: 0 (or absent): /metrics listens on a random port")
            prometheus = PrometheusOptions(
                port=port,
                namespace=str(p.get("namespace") or ""),
                tag_host=bool(p.get("tag_host", False)),
                tag_path=bool(p.get("tag_path", False)),
                tag_method=bool(p.get("tag_method", False)),
                tag_statuscode=bool(p.get("tag_statuscode", False)),
            )
    jaeger = _jaeger(exporters["jaeger"], f"{epath}.jaeger", notes) if "jaeger" in exporters else None
    zipkin = _zipkin(exporters["zipkin"], f"{epath}.zipkin", notes) if "zipkin" in exporters else None
    logger = None
    if "logger" in exporters:
        lo = _obj(exporters["logger"])
        logger = LoggerOptions(stats=bool(lo.get("stats", False)), spans=bool(lo.get("spans", False)))
        if not logger.stats and not logger.spans:
            notes.append(f"{epath}.logger: neither stats nor spans is true: it logs nothing")
    influx = None
    if "influxdb" in exporters:
        influx = _influx(exporters["influxdb"], f"{epath}.influxdb", period if period > 0 else DEFAULT_PERIOD, notes)
    options = OpenCensusOptions(
        sample_rate=min(max(_int(o.get("sample_rate")), 0), 100),
        reporting_period=period if period > 0 else DEFAULT_PERIOD,
        layers=layers,
        prometheus=prometheus,
        jaeger=jaeger,
        zipkin=zipkin,
        logger=logger,
        influxdb=influx,
    )
    spans_wanted = jaeger is not None or zipkin is not None or (logger is not None and logger.spans)
    if spans_wanted and options.sample_rate == 0:
        notes.append(
            f"{path}.sample_rate: 0 (the default) samples no request: no span is exported (as KrakenD); "
            "set it to 100 to trace every request"
        )
    if not exporters:
        notes.append(f"{epath}: no exporter: nothing is exported (B3 headers still go to backends)")
    for name in _NOT_IMPLEMENTED:
        if exporters.get(name) == {}:  # an object with fields: the component's ignored list says it
            notes.append(
                f"{epath}.{name}: {{}} turns on KrakenD's {name} exporter with its defaults; krakenpy does not "
                "implement it: nothing is sent (telemetry/opentelemetry over OTLP reaches the same backends)"
            )
    return replace(options, warnings=tuple(notes))
