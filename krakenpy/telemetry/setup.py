"""Configure a gateway's :class:`~krakenpy.telemetry.hub.Telemetry` from the parsed ``telemetry/*``
options (all of them are known before the first build), and the services started when it serves.

Called once per gateway, from whichever telemetry builder runs first; closing the gateway closes
files, restores the logging setup and stops the services.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from krakenpy import __version__
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.resources import Resources
from krakenpy.telemetry.accesslog import formatter
from krakenpy.telemetry.clientip import client_ip_resolver
from krakenpy.telemetry.ginline import gin_renderer
from krakenpy.telemetry.hub import HUB, AccessLog, Service, Telemetry
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.settings import AccessLogOptions
from krakenpy.telemetry.writer import LineWriter, check_output_file, output_file

# The outputs (GELF, syslog, OTLP, the /__stats and Prometheus listeners, the audit sinks) are
# imported by the function that sets each up, when the configuration asks for it: a plain start
# (the access log alone) no longer loads them (P7, 2026-12-02: see bench/README.md, round 9)
if TYPE_CHECKING:
    from krakenpy.config.model import ServiceConfig
    from krakenpy.server.census import Tenure
    from krakenpy.telemetry.audit import AuditTrail
    from krakenpy.telemetry.auditsettings import AuditOptions
    from krakenpy.telemetry.auditsink import AuditSink
    from krakenpy.telemetry.gelf import GelfSender
    from krakenpy.telemetry.metrics.instruments import Static
    from krakenpy.telemetry.metrics.registry import Registry
    from krakenpy.telemetry.metrics.shared import Publisher
    from krakenpy.telemetry.metrics.stats import StatsRegistry
    from krakenpy.telemetry.otelsettings import OtelOptions
    from krakenpy.telemetry.settings import GelfOptions, LoggingOptions, MetricsOptions

__all__ = [
    "backend_prefix",
    "config_hash",
    "config_redactor",
    "continue_trail",
    "decide_client_timing",
    "hub_for",
    "pattern_secrets",
    "publish_metrics",
    "registry_part",
    "registry_steps",
    "register_credentials",
    "serving_hooks",
]

log = logging.getLogger("krakenpy.telemetry")


def hub_for(resources: Resources) -> Telemetry:
    """The hub of this gateway, configured on first use."""
    found = resources.state.get(HUB)
    if found is not None:
        return found
    try:
        hub = _configure(resources)
    except ConfigError:
        # reported once, by the first builder asking; the others get an inert hub (the build fails)
        resources.state.set(HUB, Telemetry())
        raise
    return resources.state.set(HUB, hub)


def backend_prefix(resources: Resources, url_pattern: str, tag: str) -> str:
    """``[BACKEND: url_pattern][TAG]``, a component's log prefix, masked once at start-up by the
    gateway's redactor (the values under masked query keys, :func:`pattern_secrets`, whole): a line
    goes on to a handler that may not know them (the command line's basic logger, before or without
    ``telemetry/logging``), whose key-based rule stops a value at a ``]``, a quote or a space."""
    return hub_for(resources).redactor.text(f"[BACKEND: {url_pattern}][{tag}]")


def decide_client_timing(resources: Resources) -> None:
    """Switch the upstream client's timing mode on when the telemetry asks for connection or read
    timings (``detailed_connection``, ``read_payload``): called by the gateway before anything is
    built, so every builder sees the final ``resources.client_timing`` (a proxying client enables its
    own timing, an OAuth2 token fetch goes ``untimed``). Decided from the parsed options: when the
    OpenTelemetry edge builder decided it, it ran after the endpoints and backends, too late for both."""
    hub = hub_for(resources)
    if not _wants_timing(hub) and not _backends_want_timing(hub, resources):
        return
    resources.client_timing = True
    enable = getattr(resources.http, "enable_timing", None)
    if callable(enable):
        enable()


def _wants_timing(hub: Telemetry) -> bool:
    metrics = hub.client_metrics
    if (metrics is not None and metrics.connection is not None) or hub.read_metrics is not None:
        return True
    layer = hub.tracer.backend_layer if hub.tracer is not None else None
    if layer is None or not layer.enabled:
        return False
    return layer.read_payload or (layer.round_trip and layer.detailed_connection)


def _backends_want_timing(hub: Telemetry, resources: Resources) -> bool:
    """Whether a backend's own ``telemetry/opentelemetry`` options ask for timings its service's do not."""
    if hub.registry is None and hub.tracer is None:
        return False
    from krakenpy.telemetry.overrides import backend_hub, backend_options

    return any(
        _wants_timing(backend_hub(hub, resources, backend))
        for endpoint in resources.service.endpoints
        for backend in endpoint.backends
        if backend_options(resources, backend) is not None
    )


def register_credentials(
    resources: Resources, *, query_keys: Iterable[str] = (), headers: Iterable[str] = (), secrets: Iterable[str] = ()
) -> None:
    """Called by a component's build for the names it reads a client credential from (the
    ``auth/api-keys`` identifier, a JWT header) and the credential values its configuration holds
    (``secrets``: an LLM vendor's key): every telemetry output masks them (access logs, spans, audit
    records, ``/__debug/``), whatever the ``redact`` lists say."""
    hub_for(resources).redactor.learn(query_keys=query_keys, headers=headers, secrets=secrets)


def _opt(resources: Resources, namespace: str) -> Any:
    return resources.options("", namespace)


def _check_files(resources: Resources, access: AccessLogOptions) -> None:
    """The access log's and the audit trail's files looked at before either is opened: both their
    problems reported at once, in ``check`` and ``run`` alike."""
    targets: list[tuple[str, str]] = []
    if access.file and not resources.service.router.disable_access_log:
        targets.append((access.file, "extra_config.telemetry/access_log.file"))
    audit: AuditOptions | None = _opt(resources, "telemetry/audit")
    if audit is not None and audit.sink == "file":
        targets.append((audit.path, "extra_config.telemetry/audit.path"))
    issues: list[ConfigIssue] = []
    for path, where in targets:
        try:
            check_output_file(path, where)
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)


def pattern_secrets(redactor: Redactor, url_pattern: str) -> tuple[str, ...]:
    """The upstream keys a backend's ``url_pattern`` query holds under a masked key
    (:meth:`Redactor.pattern_secrets`), as written, decoded and as the request line sends them
    (``"`` as ``%22``); none without a query. Start-up only: found once per redactor and query keys
    (:attr:`Redactor.pattern_keys`), for its literals (:func:`config_redactor`) and again for the
    backend's refusals (the gateway's build)."""
    if "?" not in url_pattern:
        return ()
    known = redactor.pattern_keys.get(url_pattern)
    if known is not None:
        return known
    from krakenpy.proxy.request_builder import literal_text

    found = {*redactor.pattern_secrets(url_pattern), *redactor.pattern_secrets(literal_text(url_pattern))}
    known = redactor.pattern_keys[url_pattern] = tuple(sorted(found, key=lambda v: (-len(v), v)))
    return known


def _pattern_secrets(service: ServiceConfig, redactor: Redactor) -> list[str]:
    """:func:`pattern_secrets` of every backend: masked as literals wherever a text or a logged body
    quotes them."""
    endpoints = [*service.endpoints, *(agent.endpoint for agent in service.agents)]
    return [
        secret
        for endpoint in endpoints
        for backend in endpoint.backends
        for secret in pattern_secrets(redactor, backend.url_pattern)
    ]


def config_redactor(service: ServiceConfig, access: AccessLogOptions | None) -> Redactor:
    """The redactor a configuration's text gives (its ``redact`` lists, its routes, the secrets of
    its backends' URL patterns): a gateway's before its components register their credentials
    (:func:`register_credentials`), and the supervisor's, which builds no gateway."""
    redactor = Redactor((access or AccessLogOptions()).redaction)
    redactor.learn_routes(endpoint.endpoint for endpoint in service.endpoints)
    redactor.learn(secrets=_pattern_secrets(service, redactor))
    return redactor


def _configure(resources: Resources) -> Telemetry:
    from krakenpy.telemetry.applog import follow_redactor

    hub = Telemetry()
    access: AccessLogOptions = _opt(resources, "telemetry/access_log") or AccessLogOptions()
    _check_files(resources, access)
    hub.redactor = config_redactor(resources.service, access)
    # the root logger's lines (the command line's basic logger without telemetry/logging, the loggers
    # outside ``krakenpy`` with it) mask as this gateway's outputs do, from its build on, as the
    # handlers telemetry/logging installs do; undone when it closes
    resources.stack.callback(follow_redactor(hub.redactor))
    hub.request_id_header = access.request_id_header or None
    hub.trust_request_id = access.trust_request_id
    hub.return_request_id = access.return_request_id
    hub.forward_request_id = access.forward_request_id
    router = resources.service.router
    hub.client_ip = client_ip_resolver(router)
    gelf_options: GelfOptions | None = _opt(resources, "telemetry/gelf")
    gelf: GelfSender | None = None
    if gelf_options is not None:
        from krakenpy.telemetry.gelf import GelfSender

        gelf = GelfSender(gelf_options.host, gelf_options.port, tcp=gelf_options.tcp)
        resources.stack.push_async_callback(gelf.close)
    _logging(resources, hub, gelf)
    if not router.disable_access_log:
        writers: list[LineWriter] = []
        if access.stdout:
            writers.append(hub.stdout())
        file_writer = (
            output_file(access.file, "extra_config.telemetry/access_log.file", serving=resources.serving, follow=True)
            if access.file
            else None
        )
        if file_writer is not None:
            resources.stack.callback(file_writer.close)
            writers.append(file_writer)
        send = None
        if gelf is not None:
            from krakenpy.telemetry.gelf import gelf_message

            sender = gelf

            def send(line: bytes, request_id: str | None) -> None:
                extra = {"_request_id": request_id} if request_id else None
                sender.send(gelf_message(line.decode("utf-8", "replace"), facility=sender.facility, extra=extra))

        hub.access = AccessLog(
            formatter(access.format),
            tuple(writers),
            frozenset(router.logger_skip_paths),
            send,
            gin_renderer(monotonic_ns=True) if access.format == "gin" else None,
        )
        hub.upstream_time = access.format == "json"
    if hub._stdout is not None:
        resources.stack.callback(hub._stdout.flush)
    metrics: MetricsOptions | None = _opt(resources, "telemetry/metrics")
    if metrics is not None:
        _stats(resources, hub, metrics)
    otel: OtelOptions | None = _opt(resources, "telemetry/opentelemetry")
    if otel is not None:
        _otel(resources, hub, otel)
    if hub.registry is not None or hub.stats is not None:  # one folder for both: they share the slots
        hub.services.append(_folder(hub))
    census = _opt(resources, "telemetry/opencensus")
    if census is not None:  # after OTel: it joins the OTel tracer when there is one
        from krakenpy.telemetry.opencensus.setup import configure_opencensus

        configure_opencensus(resources, hub, census)
    audit: AuditOptions | None = _opt(resources, "telemetry/audit")
    if audit is not None:
        _audit(resources, hub, audit)
    return hub


def _logging(resources: Resources, hub: Telemetry, gelf: GelfSender | None) -> None:
    options: LoggingOptions | None = _opt(resources, "telemetry/logging")
    logstash = bool(_opt(resources, "telemetry/logstash"))
    if options is None and gelf is None and not logstash:
        return  # the command line's basic logger stays
    from krakenpy.telemetry.applog import LineHandler, app_log_options, install_handlers, make_formatter

    app = app_log_options(options, logstash=logstash, level=logging.getLogger().level or logging.INFO)
    handlers: list[logging.Handler] = []
    if app.stdout:
        handlers.append(LineHandler(hub.stdout(), make_formatter(app, hub.redactor)))
    if app.syslog:
        from krakenpy.telemetry.syslog import SyslogHandler

        handlers.append(SyslogHandler(facility=app.syslog_facility, tag=app.prefix, redactor=hub.redactor))
    if gelf is not None:
        from krakenpy.telemetry.gelf import GelfHandler

        handlers.append(GelfHandler(gelf, hub.redactor))
    resources.stack.callback(install_handlers(handlers, app.level))


def _tenure(resources: Resources, hub: Telemetry) -> Tenure:
    """The gateway's share of the process's client connections (``/__stats``, Prometheus): one per
    gateway, begun when it serves: at once when a reload's server swaps to it (the old one, draining,
    counts no more), at start otherwise (:mod:`krakenpy.server.census`)."""
    if hub.tenure is None:
        from krakenpy.server.census import CENSUS

        tenure = hub.tenure = CENSUS.tenure()
        hub.services.append(Service("connection census", tenure.begin, tenure.end))
        resources.on_swap.append(tenure.take_over)
    return hub.tenure


def _stats(resources: Resources, hub: Telemetry, options: MetricsOptions) -> None:
    from krakenpy.telemetry.metrics.stats import StatsRegistry

    stats = hub.stats = StatsRegistry()
    stats.tenure = _tenure(resources, hub)
    hub.stats_router = not options.router_disabled
    hub.stats_proxy = not options.proxy_disabled
    hub.stats_backend = not options.backend_disabled
    router = resources.service.router
    # the built-ins' route templates (server/app.py): endpoints cannot take these paths
    builtins = {"/__debug", "/__debug/", "/__echo", "/__echo/"}
    if not router.disable_health:
        builtins.add(router.health_path)
    hub.stats_skip_routes = frozenset(builtins)

    async def tick_forever() -> None:
        import asyncio

        while True:
            await asyncio.sleep(options.collection_time)
            stats.tick()

    services: list[Service] = []
    ticker: dict[str, Any] = {}

    async def start_ticker() -> None:
        from krakenpy.tasks import spawn

        ticker["task"] = spawn(tick_forever())

    async def stop_ticker() -> None:
        task = ticker.pop("task", None)
        if task is not None:
            task.cancel()
        stats.retire()  # before the worker keeps its counters (metrics.shared: its close's last step)

    services.append(Service("metrics collector", start_ticker, stop_ticker))
    if not options.endpoint_disabled:
        from krakenpy.telemetry.servers import LISTENERS, STATS_LISTENER, Listener, Scraped, expvar_scrape

        host, port = options.host_port

        shared = _publish_stats(resources, stats)

        async def produce() -> Scraped:
            if shared is not None and shared.merged:  # run -w N, or -w 1 after a reload: merged
                from krakenpy.telemetry.servers import workers_expvar_scrape

                return await workers_expvar_scrape(shared)
            return await expvar_scrape(stats)

        listener = Listener("Metrics", host, port, {"/__stats": produce})
        services.append(Service("stats server", listener.start, listener.stop, one_worker=True))
        resources.state.set(STATS_LISTENER, listener)
        resources.state.setdefault(LISTENERS, list).append(listener)
    hub.services.extend(services)


def _publish_stats(resources: Resources, stats: StatsRegistry) -> Publisher | None:
    if not _shared(resources):
        return None
    from krakenpy.telemetry.metrics.shared import StatsPart

    part = StatsPart(stats)
    return publish_metrics(resources, "stats", part, part.steps, part.counters)


def _shared(resources: Resources) -> bool:
    """Whether this gateway serves in a worker of ``run``: its metrics are published (shared with the
    other workers with ``-w N``; kept through reloads in memory with ``-w 1``)."""
    if not resources.serving or "krakenpy.server.rundir" not in sys.modules:
        return False  # not even imported: no supervisor forked this process
    from krakenpy.server.rundir import current

    return current() is not None


def publish_metrics(
    resources: Resources,
    kind: str,
    part: Callable[[], dict[str, Any]],
    steps: Callable[[dict[str, Any]], Iterator[None]] | None = None,
    kept: Callable[[], dict[str, Any]] | None = None,
) -> Publisher | None:
    """In a worker of ``run``: this gateway's ``part`` published until it closes, to the other workers
    with ``-w N`` (:mod:`krakenpy.telemetry.metrics.shared`), its counters kept when it closes
    (``kept()``'s when given); returns the publisher, or None."""
    if not _shared(resources):
        return None
    from krakenpy.telemetry.metrics.shared import publisher

    found = publisher()
    if found is not None:
        resources.stack.callback(found.add(kind, part, steps, kept))
    return found


#: seconds between two folds of the histograms' queued values when no scrape or export reads them
FOLD_PERIOD: Final = 1.0
#: values a histogram holds before the folder's tick counts them: a few values folded at a time cost
#: a bisection each in Python (~8 opcodes a value), a few hundred a sort and one bisection per bound
#: in C; a tick that came every few requests (a quiet gateway, or one slowed down by valgrind or the
#: opcode tracer: 0.9 folds a request, ~240 opcodes) leaves them to the next read (2026-12-01)
FOLD_LEAST: Final = 256
#: ticks between two folds of everything queued, however little
FOLD_ALL_EVERY: Final = 10


def _folder(hub: Telemetry) -> Service:
    """Buckets the values the request path queues on the histograms every second: the edge folds
    every 1,024 requests only when it measures too, and an exporter nobody scrapes never reads (a
    worker that only runs async agents has no edge requests: the folder is all that bounds its rows)."""
    folder: dict[str, Any] = {}

    async def fold_forever() -> None:
        import asyncio

        ticks = 0
        while True:
            await asyncio.sleep(FOLD_PERIOD)
            ticks += 1
            # every FOLD_ALL_EVERY ticks the small slots and histograms too: no row waits for long
            hub.fold_metrics(1 if ticks % FOLD_ALL_EVERY == 0 else FOLD_LEAST)

    async def start() -> None:
        from krakenpy.tasks import spawn

        folder["task"] = spawn(fold_forever())

    async def stop() -> None:
        from krakenpy.tasks import cancel_and_wait

        await cancel_and_wait(folder.pop("task", None))

    return Service("metrics folder", start, stop)


#: ``telemetry.sdk.*`` (OTel resource semantic conventions, required from an SDK): krakenpy encodes
#: the OTLP and Prometheus exposition itself, no OpenTelemetry SDK is involved, so the SDK is krakenpy
#: at its own version, in Python
SDK_RESOURCE: Final = {
    "telemetry.sdk.name": "krakenpy",
    "telemetry.sdk.language": "python",
    "telemetry.sdk.version": __version__,
}


def otel_resource(o: OtelOptions, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The OTLP resource (metrics and traces; Prometheus' ``target_info`` without the instance id), in
    three layers, each over the one before (the OTel resource specification: the environment's is
    the secondary resource, what the user gives wins): krakenpy's defaults (``service.name`` = the
    service's ``name`` or ``KrakenD``, ``service.version`` = krakenpy's, ``telemetry.sdk.*``, a
    ``service.instance.id`` per process), then ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME``
    (any attribute but ``telemetry.sdk.*``), then what the ``telemetry/opentelemetry`` value names
    itself (``service_name``, ``service_version``, ``deploy_env``). Made once, at start-up."""
    from krakenpy.telemetry.instance import INSTANCE_ID, instance_id, resource_from_env

    env = os.environ if environ is None else environ
    resource: dict[str, Any] = {
        "service.name": o.service_name,
        "service.version": __version__,
        # unique per process (OTel semconv): with `run -w N` each worker pushes its own cumulative
        # series, which a backend can then sum; the traces carry the same resource
        INSTANCE_ID: instance_id(env),
    }
    resource.update(resource_from_env(env)[0])
    # the SDK's own attributes, which the resource semantic conventions require of an SDK, over the
    # environment's (as otel-go's default resource merges its SDK detector last): krakenpy writes the
    # OTLP itself, so it is the SDK that produced the telemetry
    resource.update(SDK_RESOURCE)
    if o.has_service_name:
        resource["service.name"] = o.service_name
    if o.service_version:
        resource["service.version"] = o.service_version
    if o.deploy_env:
        resource["deployment.environment"] = o.deploy_env
    return resource


def _otel(resources: Resources, hub: Telemetry, o: OtelOptions) -> None:
    import ssl

    from krakenpy.telemetry.export import (
        EXPORTER,
        GrpcPem,
        OtlpExporter,
        OtlpTarget,
        attribute_limit_setting,
        batch_setting,
        compression_setting,
        exporter_tls,
        grpc_pem,
        timeout_setting,
        tls_context,
        tls_files,
    )
    from krakenpy.telemetry.instance import INSTANCE_ID
    from krakenpy.telemetry.metrics.instruments import (
        BackendMetrics,
        ClientMetrics,
        ProxyMetrics,
        ReadMetrics,
        ServerMetrics,
    )
    from krakenpy.telemetry.metrics.registry import Registry, prom_labels, target_labels
    from krakenpy.telemetry.otelsecurity import OtelSecurity, env_headers
    from krakenpy.telemetry.trace.spans import SpanBuffer

    resource = otel_resource(o)
    hub.otel_skip_paths = o.skip_paths
    metric_exports = [e for e in o.prometheus if not e.disable_metrics] + [e for e in o.otlp if not e.disable_metrics]
    registry: Registry | None = None
    if metric_exports:
        registry = hub.registry = Registry()
        if o.global_metrics:
            hub.server_metrics = ServerMetrics(
                registry, static=o.global_metrics_static, semconv=o.semconv, routes=_global_metrics_routes(resources, o)
            )
        if o.proxy_metrics:
            hub.proxy_metrics = ProxyMetrics(registry, static=o.proxy_metrics_static)
        stage = o.backend_metrics
        if not stage.disable_stage:
            hub.backend_metrics = BackendMetrics(registry, static=stage.static)
        if stage.round_trip:
            hub.client_metrics = ClientMetrics(
                registry, static=stage.static, semconv=o.semconv, detailed=stage.detailed_connection
            )
        if stage.read_payload:
            hub.read_metrics = ReadMetrics(registry, static=stage.static)
    trace_targets = [e for e in o.otlp if not e.disable_traces]
    # OTEL_BSP_*: the span batching (otel-go's batch span processor, KrakenD's, reads them)
    spans = batch_setting()[0]
    # no trace exporter, no tracer: krakend-otel then runs OTel's no-op tracer provider, whose spans
    # never record, and injects `traceparent` only inside a recording CLIENT span, so a backend gets
    # none (and a client's own reaches it only through `input_headers`). Making the context and the
    # header cost ~115 Python opcodes per request of a metrics-only configuration (2026-12-01).
    if trace_targets:
        from krakenpy.telemetry.trace.context import Sampler, propagators_from_env
        from krakenpy.telemetry.trace.tracer import LayerTraceOptions, Tracer

        buffer = SpanBuffer(limit=spans.queue, wake_at=spans.batch)
        hub.tracer = Tracer(
            sampler=Sampler(o.sample_rate),
            propagators=propagators_from_env(),
            buffer=buffer,
            redactor=hub.redactor,
            skip_paths=o.skip_paths,
            propagation=o.propagation,
            global_layer=LayerTraceOptions(
                enabled=o.global_traces and bool(trace_targets),
                report_headers=o.global_report_headers,
                skip_headers=o.global_skip_headers,
                static=o.global_traces_static,
            ),  # fmt: skip
            proxy_layer=LayerTraceOptions(
                enabled=o.proxy_traces and bool(trace_targets),
                report_headers=o.proxy_report_headers,
                skip_headers=o.proxy_skip_headers,
                static=o.proxy_traces_static,
            ),  # fmt: skip
            backend_layer=LayerTraceOptions(
                enabled=not o.backend_traces.disable_stage and bool(trace_targets),
                report_headers=o.backend_traces.report_headers,
                skip_headers=o.backend_traces.skip_headers,
                static=o.backend_traces.static,
                round_trip=o.backend_traces.round_trip,
                read_payload=o.backend_traces.read_payload,
                detailed_connection=o.backend_traces.detailed_connection,
            ),  # fmt: skip
            resource=resource,
            global_route_static=_global_traces_routes(resources),
        )
    # telemetry/opentelemetry-security: the credentials of the exporters it names
    security: OtelSecurity | None = _opt(resources, "telemetry/opentelemetry-security")
    # OTEL_EXPORTER_OTLP_HEADERS and the per-signal variables, as otel-go's exporters read them
    env_traces, env_metrics = env_headers("TRACES")[1], env_headers("METRICS")[1]
    # OTEL_EXPORTER_OTLP_*COMPRESSION (gzip or none), as otel-go's exporters read them
    gzip_traces, gzip_metrics = compression_setting("TRACES")[0], compression_setting("METRICS")[0]
    timeout_traces, timeout_metrics = timeout_setting("TRACES")[0], timeout_setting("METRICS")[0]
    if spans.timeout is not None:  # OTEL_BSP_EXPORT_TIMEOUT bounds a span export too (the shorter wins)
        timeout_traces = min(timeout_traces, spans.timeout)
    # OTEL_EXPORTER_OTLP_*CERTIFICATE, *CLIENT_CERTIFICATE, *CLIENT_KEY: one TLS context per set of
    # files, made here once (the same files for both signals: one context, one client)
    tls: dict[str, ssl.SSLContext | None] = {}
    pems: dict[str, GrpcPem | None] = {}
    # over TLS or not, per exporter and signal: the host's scheme, else (gRPC) OTEL_EXPORTER_OTLP_*INSECURE
    secure = {(e.name, signal): exporter_tls(e, signal) for e in o.otlp for signal in ("TRACES", "METRICS")}
    if any(secure.values()):
        made: dict[tuple[str, str, str], tuple[ssl.SSLContext | None, GrpcPem | None]] = {}
        grpc_secure = any(secure[e.name, signal] for e in o.otlp if not e.use_http for signal in ("TRACES", "METRICS"))
        for signal in ("TRACES", "METRICS"):
            files = tls_files(signal)[0]
            if files not in made:
                context, _, kept = tls_context(files)
                made[files] = context, grpc_pem(kept) if grpc_secure else None
            tls[signal], pems[signal] = made[files]
    targets = tuple(
        OtlpTarget(
            name=e.name,
            host=e.host,
            port=e.port,
            use_http=e.use_http,
            tls=e.tls,
            traces=not e.disable_traces,
            metrics=not e.disable_metrics and registry is not None,
            metric_period=e.metric_period or o.metric_period,
            headers=security.headers.get(e.name, ()) if security is not None else (),
            env_traces=env_traces,
            env_metrics=env_metrics,
            gzip_traces=gzip_traces,
            gzip_metrics=gzip_metrics,
            timeout_traces=timeout_traces,
            timeout_metrics=timeout_metrics,
            tls_traces=tls.get("TRACES"),
            tls_metrics=tls.get("METRICS"),
            grpc_tls_traces=pems.get("TRACES"),
            grpc_tls_metrics=pems.get("METRICS"),
            secure_traces=secure[e.name, "TRACES"],
            secure_metrics=secure[e.name, "METRICS"],
        )  # fmt: skip
        for e in o.otlp
    )
    if targets:  # metrics only (every exporter `disable_traces`): an empty span buffer, never filled
        exporter = OtlpExporter(
            targets,
            hub.tracer.buffer if hub.tracer is not None else SpanBuffer(),
            registry,
            resource,
            hub.redactor,
            interval=spans.interval,
            batch=spans.batch,
            attribute_limit=attribute_limit_setting()[0],
        )
        hub.services.append(Service("otlp exporter", exporter.start, exporter.stop))
        resources.state.set(EXPORTER, exporter)
    if registry is not None:
        from krakenpy.telemetry.metrics.saturation import register

        probe = register(registry, _tenure(resources, hub))
        hub.services.append(Service("event loop lag probe", probe.start, probe.stop))
        # published only where a /metrics listener reads the workers' files: OTLP exports each
        # worker's own registry (the collector sums them), nobody would read the snapshots
        readers = any(not e.disable_metrics for e in o.prometheus)
        shared = (
            publish_metrics(resources, "prom:otel", registry_part(registry), registry_steps(registry))
            if readers
            else None
        )

        from krakenpy.telemetry.servers import LISTENERS, PROM_LISTENERS, Listener, Scraped, prometheus_scrape

        scope = 'otel_scope_name="io.krakend.krakend-otel",otel_scope_version="0.14.4"'
        # not the instance id: a scrape with `run -w N` shows every worker's counts merged, no one
        # process's (and a restart would start a new target_info series)
        info_labels = prom_labels(target_labels({k: v for k, v in resource.items() if k != INSTANCE_ID}))
        target_info = f"# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info{{{info_labels}}} 1\n"
        for e in o.prometheus:
            if e.disable_metrics:
                continue
            reg, proc, rt = registry, e.process_metrics, e.go_metrics

            async def produce(reg: Registry = reg, proc: bool = proc, rt: bool = rt) -> Scraped:
                if shared is not None and shared.merged:  # run -w N, or -w 1 after a reload: merged
                    from krakenpy.telemetry.servers import workers_prometheus_scrape

                    return await workers_prometheus_scrape(
                        shared, "prom:otel", reg, scope=scope, target_info=target_info, process=proc, runtime=rt
                    )
                return await prometheus_scrape(reg, scope=scope, target_info=target_info, process=proc, runtime=rt)

            listener = Listener("OpenTelemetry", e.host, e.port, {"/metrics": produce})
            hub.services.append(Service(f"prometheus {e.name}", listener.start, listener.stop, one_worker=True))
            resources.state.setdefault(PROM_LISTENERS, list).append(listener)
            resources.state.setdefault(LISTENERS, list).append(listener)


def _endpoint_otel(resources: Resources) -> Iterator[tuple[tuple[str, str], str, OtelOptions]]:
    """((route as ``/a/:id``, method), JSON path, options) of each endpoint with its own value."""
    from krakenpy.telemetry.metrics.instruments import gin_route

    for endpoint in resources.service.endpoints:
        local: OtelOptions | None = resources.options(endpoint.path, "telemetry/opentelemetry")  # type: ignore[assignment]
        if local is not None:
            yield (gin_route(endpoint.endpoint), endpoint.method), endpoint.path, local


def _global_metrics_routes(resources: Resources, o: OtelOptions) -> dict[tuple[str, str], Static]:
    """The endpoints' own ``global.metrics_static_attributes`` (observability §1.8), replacing the
    service's on their requests' series. One label set per metric: other keys than the service's
    are left out with a warning (a family with two label sets is refused by most scrapers)."""
    keys = tuple(k for k, _ in o.global_metrics_static)
    out: dict[tuple[str, str], Static] = {}
    for key, path, local in _endpoint_otel(resources):
        if not local.has_global_metrics_static:
            continue
        if tuple(k for k, _ in local.global_metrics_static) != keys:
            resources.warnings.append(
                f"{path}.extra_config.telemetry/opentelemetry.global.metrics_static_attributes: keys differ from "
                f"the service's ({', '.join(keys) or 'none'}); krakenpy keeps one label set per metric: ignored"
            )
            continue
        out[key] = local.global_metrics_static
    return out


def _global_traces_routes(resources: Resources) -> dict[tuple[str, str], Static]:
    """The endpoints' own ``global.traces_static_attributes``, replacing the service's on their
    requests' SERVER spans."""
    return {
        key: local.global_traces_static for key, _, local in _endpoint_otel(resources) if local.has_global_traces_static
    }


def registry_part(registry: Registry) -> Callable[[], dict[str, Any]]:
    """What a Prometheus registry publishes with ``run -w N`` (the module imported when called)."""

    def part() -> dict[str, Any]:
        from krakenpy.telemetry.metrics.shared import prom_part

        return prom_part(registry)

    return part


def registry_steps(registry: Registry) -> Callable[[dict[str, Any]], Iterator[None]]:
    """:func:`registry_part` in steps (the tick's: a few hundred series at a time)."""

    def steps(out: dict[str, Any]) -> Iterator[None]:
        from krakenpy.telemetry.metrics.shared import prom_steps

        return prom_steps(registry, out)

    return steps


def _audit(resources: Resources, hub: Telemetry, o: AuditOptions) -> None:
    from krakenpy.telemetry.audit import AuditTrail
    from krakenpy.telemetry.auditsink import FileSink, HttpSink, StreamSink, last_hash

    sink: AuditSink
    prev = None
    # what a reload must keep to continue the chain (AuditTrail.follow): the sink and where it writes
    destination = f"file:{os.path.abspath(o.path)}" if o.sink == "file" else f"{o.sink}:{o.url}"
    if o.sink == "file":
        writer = output_file(o.path, "extra_config.telemetry/audit.path", serving=resources.serving, max_lines=1 << 30)
        # check: the trail is never started, so it gets a sink that writes nowhere
        sink = FileSink(o.path, writer) if writer is not None else StreamSink(LineWriter())
        prev = last_hash(o.path)
    elif o.sink == "http":
        sink = HttpSink(o.url, o.headers)
    elif o.sink == "syslog":
        sink = _syslog_sink(o)
    else:
        sink = StreamSink(hub.stdout())
    trail = hub.audit = AuditTrail(
        sink,
        service=resources.service.name or "krakenpy",
        config_hash=config_hash(resources),
        queue_size=o.queue_size,
        block=o.on_failure == "block",
        prev_hash=prev,
        fingerprint_key=o.fingerprint_key,
        destination=destination,
        anchor_interval=o.anchor_interval,
        redact=hub.redactor.text,
    )
    hub.services.append(Service("audit trail", trail.start, trail.stop))
    registry = hub.registry
    if registry is not None:  # OTel metrics on (Prometheus, OTLP): the records lost, to alert on
        _audit_metrics(registry, trail)


def _syslog_sink(o: AuditOptions) -> AuditSink:
    """The audit trail's syslog sink, its TLS context built here (a file that is no certificate: a
    config error at its field)."""
    from krakenpy.telemetry.auditsyslog import SyslogSink, parse_target, tls_context

    target = parse_target(o.url)
    assert not isinstance(target, str)  # parse_audit refused it
    tls = None
    if target.network == "tls":
        built = tls_context(o.ca_file, o.cert_file, o.key_file)
        if isinstance(built, str):
            field = "cert_file" if built.startswith("cert_file") else "ca_file"
            raise ConfigError([ConfigIssue(f"extra_config.telemetry/audit.{field}", built)])
        tls = built
    return SyslogSink(target, o.facility, tls)


def _audit_metrics(registry: Registry, trail: AuditTrail) -> None:
    """``krakenpy.audit.records.dropped`` (``krakenpy_audit_records_dropped_total``): the audit records
    lost (the queue full, a sink that refused them for good), read from the trail at every collection
    (no work per request); summed across workers as every counter is."""
    dropped = registry.family(
        "krakenpy.audit.records.dropped",
        "counter",
        (),
        help="Audit records lost: dropped when the queue was full, or refused for good by the sink.",
    ).counter()

    # with on_failure: block only: the requests refused (503) while the queue was full
    refused = (
        registry.family(
            "krakenpy.audit.requests.refused",
            "counter",
            (),
            help="Requests refused (503) because the audit queue was full (telemetry/audit on_failure: block).",
        ).counter()
        if trail.block
        else None
    )

    def feed(least: int = 1) -> None:
        dropped.value = trail.dropped
        if refused is not None:
            refused.value = trail.refused

    def steps() -> Iterator[None]:
        feed()
        yield

    registry.feeders.append(feed)
    registry.feed_steps.append(steps)


def config_hash(resources: Resources) -> str:
    """A short digest of the configuration (lura ``ServiceConfig.Hash``'s role): ties each audit
    record to the config version that made the decision. Taken over the document with its secrets'
    values blanked (README, Audit trail): the same on every instance and restart, and no way to
    confirm a guessed secret from it."""
    import hashlib

    import orjson

    from krakenpy.telemetry.confighash import without_secrets

    document = without_secrets(resources.service.raw)
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]


def continue_trail(old: Resources, new: Resources) -> None:
    """A reload swapped ``new`` in for ``old``: its audit trail continues the old one's chain when
    both write to the same destination (:meth:`AuditTrail.follow`), else the chain of the last trail
    to that destination that served in this process (a reload removed the trail, or sent it
    elsewhere, and this one brings it back). That trail's gateway was swapped out (only the one replaced serves), so
    its stop, which the new trail waits for, comes with that gateway's retirement (bounded); a trail
    swapped in and replaced before it started (its records written at its stop) is remembered too."""
    from krakenpy.telemetry.audit import last_trail

    before, after = old.state.get(HUB), new.state.get(HUB)
    trail = after.audit if after is not None else None
    if trail is None:
        return
    previous = before.audit if before is not None else None
    if previous is None or previous.destination != trail.destination:
        previous = last_trail(trail.destination)
    if previous is not None:
        trail.follow(previous)
    trail.serves()  # before it starts: a reload replacing it first must find it, not ``previous``


def serving_hooks(resources: Resources) -> list[Service]:
    """The services to start once the gateway listens (none when telemetry was never configured)."""
    hub = resources.state.get(HUB)
    return list(hub.services) if hub is not None else []
