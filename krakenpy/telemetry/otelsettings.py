"""``telemetry/opentelemetry`` (krakend-otel) options with KrakenD's defaults, including its odd
ones: a sample rate outside ``(0, 1)`` samples everything; ``port`` defaults to 4317 even with
``use_http``; a backend ``metrics``/``traces`` object that is absent turns every stage on, while a
present one leaves unset switches off."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["BackendStage", "OtelOptions", "OtlpExporterOptions", "PromExporterOptions", "parse_opentelemetry"]

DEFAULT_SKIP = ("/__health", "/__debug/", "/__echo/", "/__stats/")
Static = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class OtlpExporterOptions:
    name: str
    host: str = "localhost"
    port: int = 4317
    use_http: bool = False
    tls: bool = False
    disable_metrics: bool = False
    disable_traces: bool = False
    metric_period: float = 0.0
    #: ``host`` named its scheme (``http://``, ``https://``): then ``OTEL_EXPORTER_OTLP_*INSECURE``
    #: does not apply (the specification: only to an endpoint without one)
    scheme: bool = False


@dataclass(frozen=True, slots=True)
class PromExporterOptions:
    name: str
    host: str = ""
    port: int = 9090
    process_metrics: bool = False
    go_metrics: bool = False
    disable_metrics: bool = False


@dataclass(frozen=True, slots=True)
class BackendStage:
    disable_stage: bool = False
    round_trip: bool = True
    read_payload: bool = True
    detailed_connection: bool = True
    static: Static = ()
    report_headers: bool = False
    skip_headers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class OtelOptions:
    #: the value's ``service_name``, else the service's ``name``, else ``KrakenD``
    service_name: str = "KrakenD"
    #: the value named ``service_name`` itself: it wins over ``OTEL_SERVICE_NAME`` and
    #: ``OTEL_RESOURCE_ATTRIBUTES``, which win over the service's ``name`` (see setup's resource)
    has_service_name: bool = False
    service_version: str = ""
    deploy_env: str = ""
    metric_period: float = 30.0
    sample_rate: float = 1.0
    skip_paths: frozenset[str] = frozenset(DEFAULT_SKIP)
    otlp: tuple[OtlpExporterOptions, ...] = ()
    prometheus: tuple[PromExporterOptions, ...] = ()
    global_metrics: bool = True
    global_traces: bool = True
    propagation: bool = True
    global_report_headers: bool = False
    global_skip_headers: frozenset[str] = frozenset()
    global_metrics_static: Static = ()
    global_traces_static: Static = ()
    semconv: str = ""
    proxy_metrics: bool = True
    proxy_traces: bool = True
    proxy_report_headers: bool = False
    proxy_skip_headers: frozenset[str] = frozenset()
    proxy_metrics_static: Static = ()
    proxy_traces_static: Static = ()
    backend_metrics: BackendStage = field(default_factory=BackendStage)
    backend_traces: BackendStage = field(default_factory=BackendStage)
    #: which sections the value had (endpoint/backend overrides replace only those)
    has_proxy: bool = False
    has_backend: bool = False
    #: which global static lists the value had (an endpoint's replace the service's for its requests)
    has_global_metrics_static: bool = False
    has_global_traces_static: bool = False


def _obj(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _static(raw: Any, path: str) -> Static:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError([ConfigIssue(path, "static attributes must be a list of {key, value}")])
    out: list[tuple[str, str]] = []
    for i, item in enumerate(raw):
        o = _obj(item)
        if not o.get("key"):
            raise ConfigError([ConfigIssue(f"{path}[{i}].key", "a static attribute needs a key")])
        out.append((str(o["key"]), str(o.get("value", ""))))
    return tuple(out)


def _stage(raw: Any, path: str, traces: bool) -> BackendStage:
    if raw is None:  # absent: every stage on (krakend-otel's default)
        return BackendStage()
    o = _obj(raw)
    return BackendStage(
        disable_stage=bool(o.get("disable_stage", False)),
        round_trip=bool(o.get("round_trip", False)),
        read_payload=bool(o.get("read_payload", False)),
        detailed_connection=bool(o.get("detailed_connection", False)),
        static=_static(o.get("static_attributes"), f"{path}.static_attributes"),
        report_headers=traces and bool(o.get("report_headers", False)),
        skip_headers=frozenset(str(h).lower() for h in o.get("skip_headers", ()) or ()),
    )


def _host(raw: str) -> tuple[str, bool, bool]:
    """``(host, tls, scheme)``: the host without its scheme, whether it is ``https://``, whether it
    named one."""
    if raw.startswith("https://"):
        return raw[len("https://") :].rstrip("/"), True, True
    if raw.startswith("http://"):
        return raw[len("http://") :].rstrip("/"), False, True
    return raw.rstrip("/"), False, False


def parse_opentelemetry(raw: Any, path: str, *, service_name: str = "") -> OtelOptions:
    o = _obj(raw)
    exporters = _obj(o.get("exporters"))
    names: set[str] = set()
    otlp: list[OtlpExporterOptions] = []
    for i, item in enumerate(exporters.get("otlp", ()) or ()):
        e = _obj(item)
        name = str(e.get("name") or "")
        if name in names:
            raise ConfigError(
                [ConfigIssue(f"{path}.exporters.otlp[{i}].name", f"exporter name {name!r} is used twice")]
            )
        names.add(name)
        host, tls, scheme = _host(str(e.get("host") or "localhost"))
        period = float(e.get("custom_metric_reporting_period") or 0)
        otlp.append(
            OtlpExporterOptions(
                name=name,
                host=host,
                port=int(e.get("port") or 4317),
                use_http=bool(e.get("use_http", False)),
                tls=tls,
                disable_metrics=bool(e.get("disable_metrics", False)),
                disable_traces=bool(e.get("disable_traces", False)),
                metric_period=max(period, 1.0) if period else 0.0,
                scheme=scheme,
            )  # fmt: skip
        )
    prom: list[PromExporterOptions] = []
    for i, item in enumerate(exporters.get("prometheus", ()) or ()):
        e = _obj(item)
        name = str(e.get("name") or "")
        if name in names:
            raise ConfigError(
                [ConfigIssue(f"{path}.exporters.prometheus[{i}].name", f"exporter name {name!r} is used twice")]
            )
        names.add(name)
        prom.append(
            PromExporterOptions(
                name=name,
                host=str(e.get("listen_ip") or e.get("host") or ""),
                port=int(e.get("port") or 9090),
                process_metrics=bool(e.get("process_metrics", False)),
                go_metrics=bool(e.get("go_metrics", False)),
                disable_metrics=bool(e.get("disable_metrics", False)),
            )  # fmt: skip
        )
    layers = _obj(o.get("layers"))
    g, p, b = _obj(layers.get("global")), _obj(layers.get("proxy")), _obj(layers.get("backend"))
    # an endpoint-level value may carry only "proxy" (and global static lists), a backend-level one "backend"
    g = g or _obj(o.get("global"))
    p = p or _obj(o.get("proxy"))
    b = b or _obj(o.get("backend"))
    skip = o.get("skip_paths")
    if skip is None:
        skip_paths = frozenset(DEFAULT_SKIP)
    else:
        skip_paths = frozenset(str(s) for s in skip if str(s))
    rate = o.get("trace_sample_rate", 1.0)
    semconv = str(g.get("semantic_convention") or "")
    return OtelOptions(
        service_name=str(o.get("service_name") or service_name or "KrakenD"),
        has_service_name=bool(o.get("service_name")),
        service_version=str(o.get("service_version") or ""),
        deploy_env=str(o.get("deploy_env") or ""),
        metric_period=float(o.get("metric_reporting_period") or 30),
        sample_rate=float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else 1.0,
        skip_paths=skip_paths,
        otlp=tuple(otlp),
        prometheus=tuple(prom),
        global_metrics=not g.get("disable_metrics", False),
        global_traces=not g.get("disable_traces", False),
        propagation=not g.get("disable_propagation", False),
        global_report_headers=bool(g.get("report_headers", False)),
        global_skip_headers=frozenset(str(h).lower() for h in g.get("skip_headers", ()) or ()),
        global_metrics_static=_static(
            g.get("metrics_static_attributes"), f"{path}.layers.global.metrics_static_attributes"
        ),
        global_traces_static=_static(
            g.get("traces_static_attributes"), f"{path}.layers.global.traces_static_attributes"
        ),
        semconv=semconv if semconv == "1.27" else "",
        proxy_metrics=not p.get("disable_metrics", False),
        proxy_traces=not p.get("disable_traces", False),
        proxy_report_headers=bool(p.get("report_headers", False)),
        proxy_skip_headers=frozenset(str(h).lower() for h in p.get("skip_headers", ()) or ()),
        proxy_metrics_static=_static(
            p.get("metrics_static_attributes"), f"{path}.layers.proxy.metrics_static_attributes"
        ),
        proxy_traces_static=_static(p.get("traces_static_attributes"), f"{path}.layers.proxy.traces_static_attributes"),
        backend_metrics=_stage(b.get("metrics"), f"{path}.layers.backend.metrics", False),
        backend_traces=_stage(b.get("traces"), f"{path}.layers.backend.traces", True),
        has_proxy=bool(p),
        has_backend=bool(b),
        has_global_metrics_static="metrics_static_attributes" in g,
        has_global_traces_static="traces_static_attributes" in g,
    )
