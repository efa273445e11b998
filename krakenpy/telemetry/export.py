"""Background OTLP export: span batches (every 0.5 s, or as soon as 512 spans wait) and periodic
metric snapshots, to each configured collector over OTLP/HTTP or OTLP/gRPC (``grpcio`` +
``opentelemetry-proto``). Spans go as protobuf written directly (``application/x-protobuf``, the
OpenTelemetry default and what KrakenD's exporter sends) unless ``OTEL_EXPORTER_OTLP_PROTOCOL`` (or
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``) is ``http/json``; metrics go as JSON, or as protobuf through
``opentelemetry-proto`` when it is installed and the protocol (``OTEL_EXPORTER_OTLP_METRICS_PROTOCOL``
first) is protobuf.

Nothing here runs on the request path: requests only append span records to a bounded buffer.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeAlias

from krakenpy.backends.client import ClientOptions
from krakenpy.backends.fastclient import FastClient
from krakenpy.gojson import text_json
from krakenpy.server import saidonce
from krakenpy.state import Key
from krakenpy.tasks import spawn
from krakenpy.telemetry.answers import ANSWER_LIMIT
from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.otelsettings import OtlpExporterOptions
from krakenpy.telemetry.otlp import (
    DeltaState,
    attributes_text,
    metrics_json,
    protobuf_available,
    resource_proto,
    spans_body,
    spans_proto,
    to_protobuf,
)
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.trace.limits import AttributeCut
from krakenpy.telemetry.trace.spans import Record, SpanBuffer
from krakenpy.telemetry.trace.templates import end_batch
from krakenpy.tlsfiles import TlsFileError, client_context, load_client_pair, unreadable

__all__ = [
    "ATTRIBUTE_LIMITS", "EXPORTER", "BatchSettings", "OtlpExporter", "OtlpTarget", "attribute_limit_setting",
    "batch_setting", "grpc_available",
    "protobuf_metrics_unmet", "protocol_setting", "temporality_setting",
    "GrpcPem", "exporter_tls", "grpc_pem", "insecure_setting", "tls_context", "tls_files", "tls_setting",
    "tls_variables",
]  # fmt: skip

log = logging.getLogger("krakenpy.telemetry")

SPAN_INTERVAL: Final = 0.5
BATCH: Final = 512
_TIMEOUT: Final = 10.0
#: the key the span writer's failures are logged under (at most once a minute): no exporter's name
_WRITER: Final = "\x00span writer"
#: the key of the buffer-full message (:meth:`OtlpExporter.flush`)
_BUFFER: Final = "\x00span buffer"
_GRPC_PATHS: Final = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}


_PROTOCOLS: Final = frozenset({"grpc", "http/protobuf", "http/json"})


def _protocol(signal: str) -> str:
    """The OTLP protocol named for ``signal`` ("TRACES", "METRICS"): the signal's own variable, then
    the general one, then ``http/protobuf`` (the specification's default). Values are read without
    case or surrounding blanks; an unknown one is warned about and ignored, as the specification
    asks. The transport stays the exporter's ``use_http`` (KrakenD's switch): the value picks the
    body of an OTLP/HTTP post, JSON for ``http/json`` and protobuf otherwise."""
    named = protocol_setting(signal, warn=True)
    return named[1] if named is not None else "http/protobuf"


def protocol_setting(signal: str, *, warn: bool = False) -> tuple[str, str] | None:
    """``(variable, protocol)`` of the environment variable that names ``signal``'s OTLP protocol
    (the signal's own first), or None when none does (the default, ``http/protobuf``, is then not
    asked for: metrics fall back to JSON without opentelemetry-proto in silence, see
    :func:`protobuf_metrics_unmet`)."""
    env = os.environ
    for name in (f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = env.get(name, "").strip().lower()
        if value in _PROTOCOLS:
            return name, value
        if value and warn:
            log.warning("%s=%s is not grpc, http/protobuf or http/json: ignored", name, _shown(env[name]))
    return None


#: OTEL_EXPORTER_OTLP_*COMPRESSION's values (the specification's; otel-go's exporters take these two)
_COMPRESSIONS: Final = frozenset({"gzip", "none"})


def compression_setting(signal: str) -> tuple[bool, str]:
    """``(gzip, problem)`` for ``signal``'s exports: ``OTEL_EXPORTER_OTLP_{signal}_COMPRESSION``, then
    ``OTEL_EXPORTER_OTLP_COMPRESSION``, read without case or blanks; ``gzip`` compresses, ``none`` and
    no value do not. An unknown value is ignored (the next variable, then none) and named in
    ``problem`` (the specification: ignored, with a warning)."""
    env = os.environ
    problems: list[str] = []
    for name in (f"OTEL_EXPORTER_OTLP_{signal}_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"):
        value = env.get(name, "").strip().lower()
        if value in _COMPRESSIONS:
            return value == "gzip", "; ".join(problems)
        if value:
            problems.append(f"{name}={_shown(env[name].strip())} is not gzip or none: ignored")
    return False, "; ".join(problems)


#: the largest whole number an ``OTEL_*`` variable may give (otel-go parses them as 64-bit ints)
_INT64_MAX: Final = (1 << 63) - 1


def _above_zero(value: str) -> int:
    """``value`` as a whole number from 1 to 2^63-1 (ASCII digits only), else 0: a longer one is
    refused as otel-go's ``strconv.Atoi`` refuses it (and Python's ``int`` raised past 4300 digits)."""
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return 0
    number = int(value)
    return number if 0 < number <= _INT64_MAX else 0


def _shown(value: str) -> str:
    """``value`` quoted for a warning, cut after 40 characters (a variable may hold kilobytes)."""
    return repr(value) if len(value) <= 40 else f"{value[:40]!r}… ({len(value)} characters)"


def timeout_setting(signal: str) -> tuple[float, str]:
    """``(seconds, problem)`` an export of ``signal`` may take: ``OTEL_EXPORTER_OTLP_{signal}_TIMEOUT``,
    then ``OTEL_EXPORTER_OTLP_TIMEOUT`` (milliseconds, an integer above 0), else 10 s (the
    specification's default). An invalid value is ignored (the next variable, then the default) and
    named in ``problem`` (the specification: ignored, with a warning)."""
    env = os.environ
    problems: list[str] = []
    for name in (f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        value = env.get(name, "").strip()
        if number := _above_zero(value):
            return number / 1000, "; ".join(problems)
        if value:
            problems.append(f"{name}={_shown(value)} is not a number of milliseconds above 0: ignored")
    return _TIMEOUT, "; ".join(problems)


def insecure_setting(signal: str, environ: Mapping[str, str] | None = None) -> tuple[bool | None, str]:
    """``(insecure, problem)`` for ``signal``'s OTLP/gRPC exports: ``OTEL_EXPORTER_OTLP_{signal}_INSECURE``
    when set and not blank, else ``OTEL_EXPORTER_OTLP_INSECURE``; None when neither is (the exporter's
    ``host`` decides alone). The specification's booleans: ``true`` (without case or blanks) is true,
    any other value false, and one that is not ``false`` either is named in ``problem``."""
    env = os.environ if environ is None else environ
    for name in (f"OTEL_EXPORTER_OTLP_{signal}_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"):
        value = env.get(name, "").strip().lower()
        if value:
            problem = ""
            if value not in ("true", "false"):
                problem = f"{name}={_shown(env[name].strip())} is not true or false: read as false (TLS)"
            return value == "true", problem
    return None, ""


def exporter_tls(exporter: OtlpExporterOptions, signal: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``exporter``'s ``signal`` exports go over TLS: as its ``host`` says (``https://``; no
    scheme, KrakenD's plaintext), except for an OTLP/gRPC exporter whose ``host`` names no scheme,
    where ``OTEL_EXPORTER_OTLP_{signal}_INSECURE`` / ``OTEL_EXPORTER_OTLP_INSECURE`` decide when set
    (``true``: plaintext, otherwise TLS), as the specification applies them. Decided at start-up."""
    if exporter.use_http or exporter.scheme:
        return exporter.tls
    insecure = insecure_setting(signal, environ)[0]
    return exporter.tls if insecure is None else not insecure


#: the span attribute value length variables, the span's first (the specification's precedence)
ATTRIBUTE_LIMITS: Final = ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")


def attribute_limit_setting(environ: Mapping[str, str] | None = None) -> tuple[int | None, str]:
    """``(limit, problem)``: the characters a span attribute's string value keeps,
    ``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`` when set and not blank, else
    ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``; None (no limit, the specification's default) when neither
    is, or one is negative (otel-go's "no limit"). A value that is no whole number is ignored (the
    next variable, then no limit) and named in ``problem``."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    for name in ATTRIBUTE_LIMITS:
        value = env.get(name, "").strip()
        if not value:
            continue
        digits = value[1:] if value.startswith("-") else value
        if digits.isascii() and digits.isdigit() and len(digits) <= 19:
            return (None if value.startswith("-") else int(digits)), "; ".join(problems)
        problems.append(f"{name}={_shown(value)} is not a whole number of characters: ignored")
    return None, "; ".join(problems)


#: the TLS files of an export: (CA certificates, client certificate chain, client key), paths or ""
TlsFiles: TypeAlias = tuple[str, str, str]


def tls_files(signal: str, environ: Mapping[str, str] | None = None) -> tuple[TlsFiles, str]:
    """``((ca, cert, key), problem)`` for ``signal``'s exports over TLS: each of
    ``OTEL_EXPORTER_OTLP_{signal}_CERTIFICATE`` / ``_CLIENT_CERTIFICATE`` / ``_CLIENT_KEY`` when set and
    not blank, else the variable without the signal (the specification; otel-go's exporters read them
    so). A file that cannot be read is left out and named in ``problem`` with its variable; so are a
    client certificate without its key and a key without its certificate (both are needed)."""
    env = os.environ if environ is None else environ
    found: list[str] = []
    problems: list[str] = []
    for name in tls_variables(signal, env):
        path = env.get(name, "").strip()
        if path and (reason := unreadable(path)):  # a regular file (a FIFO without a writer blocked the start)
            problems.append(f"{name}={path!r} cannot be read ({reason}): ignored")
            path = ""
        found.append(path)
    ca, cert, key = found
    if bool(cert) != bool(key):
        problems.append(
            f"OTEL_EXPORTER_OTLP_{signal}_CLIENT_{'CERTIFICATE' if cert else 'KEY'} (or the variable without "
            f"{signal}_) is set without its {'key' if cert else 'certificate'}: no client certificate is sent"
        )
        cert = key = ""
    return (ca, cert, key), "; ".join(problems)


def tls_variables(signal: str, environ: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    """The variables that name ``signal``'s CA file, client certificate and key: each the signal's own
    when set and not blank, else the one without the signal."""
    env = os.environ if environ is None else environ
    names: list[str] = []
    for part in ("CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"):
        name = f"OTEL_EXPORTER_OTLP_{signal}_{part}"
        names.append(name if env.get(name, "").strip() else f"OTEL_EXPORTER_OTLP_{part}")
    ca, cert, key = names
    return ca, cert, key


_TLS_NAMES: Final = (
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
)


def tls_context(
    files: TlsFiles, names: tuple[str, str, str] = _TLS_NAMES
) -> tuple[ssl.SSLContext | None, str, TlsFiles]:
    """``(context, problem, kept)``: the TLS context for ``files`` (None when none is set: the
    client's default, the system's roots): a CA file replaces the system's roots (as otel-go's
    exporters), a client certificate and key are sent to a collector that asks. Made once, at
    start-up; a file that holds no PEM a context takes (or cannot be read, or is an encrypted key:
    :mod:`krakenpy.tlsfiles`) is left out of the context and of ``kept`` and named in ``problem``
    (never a traceback, never a wait)."""
    ca, cert, key = files
    if not (ca or cert):
        return None, "", files
    problems: list[str] = []
    try:
        context = client_context(ca)
    except TlsFileError as exc:
        problems.append(f"{names[0]}={ca!r} holds no CA certificate ({exc.reason}): ignored")
        ca = ""
        context = client_context()
    if cert:
        try:
            load_client_pair(context, cert, key)
        except TlsFileError as exc:
            problems.append(
                f"{names[1]}={cert!r} and {names[2]}={key!r} are not a PEM certificate and its key ({exc.reason}): "
                "no client certificate is sent"
            )
            cert = key = ""
    return context, "; ".join(problems), (ca, cert, key)


def tls_setting(signal: str, environ: Mapping[str, str] | None = None) -> tuple[ssl.SSLContext | None, str]:
    """:func:`tls_files` and :func:`tls_context` together: ``signal``'s context and every problem."""
    files, problem = tls_files(signal, environ)
    context, more, _ = tls_context(files, tls_variables(signal, environ))
    return context, "; ".join(p for p in (problem, more) if p)


#: a gRPC export's TLS files as read (``grpc.ssl_channel_credentials``' root certificates, private
#: key, certificate chain), None for each not set
GrpcPem: TypeAlias = tuple[bytes | None, bytes | None, bytes | None]


def grpc_pem(kept: TlsFiles) -> GrpcPem | None:
    """The bytes of the files :func:`tls_context` kept, for a gRPC channel's credentials (read once,
    at start-up); None when none is set (the system's roots, no client certificate)."""
    if not any(kept):
        return None
    read: list[bytes | None] = []
    for path in kept:
        try:
            read.append(Path(path).read_bytes() if path else None)
        except OSError:  # gone since tls_context read it: as if not set (the channel's defaults)
            read.append(None)
    ca, cert, key = read
    return ca, key, cert


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """The span batching the ``OTEL_BSP_*`` variables set (otel-go's batch span processor, KrakenD's,
    reads them): seconds between exports, spans kept waiting, spans per export, seconds an export of
    spans may take (None: the OTLP timeout alone)."""

    interval: float = SPAN_INTERVAL
    queue: int = 2048
    batch: int = BATCH
    timeout: float | None = None


def batch_setting(environ: Mapping[str, str] | None = None) -> tuple[BatchSettings, str]:
    """``(settings, problem)``: ``OTEL_BSP_SCHEDULE_DELAY`` and ``OTEL_BSP_EXPORT_TIMEOUT``
    (milliseconds), ``OTEL_BSP_MAX_QUEUE_SIZE`` and ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` (spans), each a
    whole number above 0; one unset keeps krakenpy's value (a 0.5 s delay where the specification
    says 5 s: spans leave sooner; the rest are the specification's). An invalid value is ignored and
    named in ``problem``; a batch larger than the queue is the queue's size (as otel-go)."""
    env = os.environ if environ is None else environ
    found: dict[str, int] = {}
    problems: list[str] = []
    for name in ("SCHEDULE_DELAY", "EXPORT_TIMEOUT", "MAX_QUEUE_SIZE", "MAX_EXPORT_BATCH_SIZE"):
        value = env.get(f"OTEL_BSP_{name}", "").strip()
        if number := _above_zero(value):
            found[name] = number
        elif value:
            problems.append(f"OTEL_BSP_{name}={_shown(value)} is not a whole number above 0: ignored")
    default = BatchSettings()
    queue = found.get("MAX_QUEUE_SIZE", default.queue)
    timeout = found.get("EXPORT_TIMEOUT")
    settings = BatchSettings(
        interval=found["SCHEDULE_DELAY"] / 1000 if "SCHEDULE_DELAY" in found else default.interval,
        queue=queue,
        batch=min(found.get("MAX_EXPORT_BATCH_SIZE", default.batch), queue),
        timeout=timeout / 1000 if timeout is not None else None,
    )
    return settings, "; ".join(problems)


#: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE's values (the specification's)
_TEMPORALITIES: Final = frozenset({"cumulative", "delta", "lowmemory"})


def temporality_setting(environ: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """``(delta, problem)``: ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` (otel-go's OTLP
    metric exporters, KrakenD's, read it), without case or blanks: ``delta`` and ``lowmemory`` export
    counters and histograms as deltas (they differ only for instruments krakenpy has none of: up-down
    and asynchronous counters), ``cumulative`` (the default) as totals. Another value is ignored and
    named in ``problem``."""
    env = os.environ if environ is None else environ
    name = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
    value = env.get(name, "").strip().lower()
    if value and value not in _TEMPORALITIES:
        return False, f"{name}={_shown(env[name].strip())} is not cumulative, delta or lowmemory: ignored"
    return value in ("delta", "lowmemory"), ""


def protobuf_metrics_unmet() -> str:
    """The variable that asks for OTLP/HTTP metrics as protobuf (``http/protobuf``, or ``grpc``: a
    protobuf body on the exporter's transport) while ``opentelemetry-proto`` is not installed, so that
    they go as JSON instead; empty when nothing asks for it or it is installed. An explicit request
    is explained (``check`` and ``run``); the specification's default is not (JSON is what a
    collector takes as well, and the extra is optional)."""
    named = protocol_setting("METRICS")
    if named is None or named[1] == "http/json" or protobuf_available():
        return ""
    return f"{named[0]}={os.environ[named[0]].strip()}"


def grpc_available() -> bool:
    """OTLP/gRPC metrics need ``grpcio`` and ``opentelemetry-proto`` (the ``otlp-grpc`` extra); spans
    need ``grpcio`` only (their protobuf is krakenpy's own)."""
    try:
        import grpc  # noqa: F401
    except ImportError:
        return False
    return protobuf_available()


@dataclass(frozen=True, slots=True)
class OtlpTarget:
    """One ``exporters.otlp[]`` entry after parsing."""

    name: str
    host: str
    port: int
    use_http: bool = False
    tls: bool = False
    traces: bool = True
    metrics: bool = True
    metric_period: float = 30.0
    #: telemetry/opentelemetry-security's credentials: kept out of the repr
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: the OTEL_EXPORTER_OTLP_*_HEADERS of the traces and metrics exports (credentials too), under
    #: ``headers`` (the explicit configuration wins)
    env_traces: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    env_metrics: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: OTEL_EXPORTER_OTLP_*COMPRESSION=gzip for the traces and metrics exports
    gzip_traces: bool = False
    gzip_metrics: bool = False
    #: OTEL_EXPORTER_OTLP_*TIMEOUT: the seconds a traces and a metrics export may take
    timeout_traces: float = _TIMEOUT
    timeout_metrics: float = _TIMEOUT
    #: OTEL_EXPORTER_OTLP_*CERTIFICATE / *CLIENT_KEY: the TLS context of the traces and metrics exports
    #: to an https collector (None: the system's roots), made once at start-up
    tls_traces: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    tls_metrics: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    #: the same files as bytes, for a gRPC target's channel credentials (None: the system's roots)
    grpc_tls_traces: GrpcPem | None = field(default=None, repr=False)
    grpc_tls_metrics: GrpcPem | None = field(default=None, repr=False)
    #: a gRPC target's traces and metrics channels over TLS (:func:`exporter_tls`: the host's scheme,
    #: else OTEL_EXPORTER_OTLP_*INSECURE); None: as ``tls``
    secure_traces: bool | None = None
    secure_metrics: bool | None = None

    def secure(self, kind: str) -> bool:
        """Whether an export of ``kind`` ("traces", "metrics") goes over TLS."""
        chosen = self.secure_traces if kind == "traces" else self.secure_metrics
        return self.tls if chosen is None else chosen

    def headers_for(self, kind: str) -> tuple[tuple[str, str], ...]:
        """The extra headers of an export of ``kind`` ("traces", "metrics")."""
        env = self.env_traces if kind == "traces" else self.env_metrics
        if not env:
            return self.headers
        return tuple({**dict(env), **dict(self.headers)}.items())

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"


def _reason(exc: BaseException, target: OtlpTarget, redactor: Redactor, kind: str = "traces") -> str:
    """An export failure as logged: its type and its text with the collector URL's user info masked
    (the clients' errors name the URL they called), never empty (a timeout's text is)."""
    text = str(exc)
    if not text:
        limit = target.timeout_traces if kind == "traces" else target.timeout_metrics
        text = f"no answer within {limit:g} s" if isinstance(exc, TimeoutError) else "no detail"
    host = target.host
    if "@" in host:  # the user info itself, wherever the text names it (with a scheme or not)
        text = text.replace(host[: host.rindex("@") + 1], "REDACTED:REDACTED@")
    return f"{type(exc).__name__}: {redactor.text(text)}"


def _writable(record: Record, json: bool) -> bool:
    """Whether a record's template writes it (the slow path of a batch :func:`spans_body` or
    :func:`spans_proto` refused)."""
    try:
        if json:
            record[0].text(record)
        else:
            record[0].proto(record)
    except Exception:
        return False
    return True


class _Failures:
    """Log an export failure at most once a minute per target (a down collector must not flood logs)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def report(self, target: str, what: str, error: Callable[[], object]) -> None:
        """``error()`` is asked only when the line is written: a collector that refuses every post
        (a busy gateway at 100 % sampling posts many times a second) costs no message text (its
        redaction scans) while no line is due."""
        if self.due(target):  # once per gateway a minute with run -w N: each worker exports
            message = f"{what} export to {target} failed: {error()}"
            saidonce.say(log, logging.WARNING, "[SERVICE: OpenTelemetry] %s", message, topic=f"otlp {what} {target}")

    def once(self, key: str, message: str) -> None:
        """A line about this worker's own spans (its count of dropped ones): said by each worker."""
        if self.due(key):
            log.warning("[SERVICE: OpenTelemetry] %s", message)

    def due(self, key: str) -> bool:
        """Whether a failure under ``key`` is logged now (none in the last minute); if so, noted."""
        now = time.monotonic()
        if now - self._last.get(key, -1e9) >= 60:
            self._last[key] = now
            return True
        return False


class OtlpExporter:
    """Owns the export tasks of one gateway; :meth:`start` when serving, :meth:`stop` at shutdown."""

    def __init__(
        self,
        targets: tuple[OtlpTarget, ...],
        buffer: SpanBuffer,
        registry: Registry | None,
        resource: Mapping[str, Any],
        redactor: Redactor | None = None,
        *,
        interval: float = SPAN_INTERVAL,
        batch: int = BATCH,
        attribute_limit: int | None = None,
    ) -> None:
        self.targets = targets
        #: OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT / OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: each batch's
        #: attribute values cut (None, the usual: nothing done)
        self._cut = AttributeCut(attribute_limit) if attribute_limit is not None else None
        #: OTEL_BSP_SCHEDULE_DELAY and OTEL_BSP_MAX_EXPORT_BATCH_SIZE, or krakenpy's own
        self.interval = interval
        self.batch = batch
        self._trace_targets = tuple(t for t in targets if t.traces)
        self.buffer = buffer
        self.registry = registry
        self.resource = dict(resource)
        self._resource_text = attributes_text(self.resource)  # the same on every batch
        self._resource_proto = resource_proto(self.resource)
        #: OTLP/HTTP posts go through the gateway's own lean client (keep-alive, compiled with the hot
        #: path; https through its aiohttp fallback)
        self._client: FastClient | None = None
        #: a client per TLS context of the OTEL_EXPORTER_OTLP_*CERTIFICATE variables (https targets)
        self._tls_clients: dict[ssl.SSLContext, FastClient] = {}
        self._channels: dict[str, Any] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._failures = _Failures()
        self._redactor = redactor or Redactor()
        # OTLP/HTTP bodies: spans as protobuf (no library) unless http/json is asked for; metrics as
        # protobuf only through opentelemetry-proto (when installed), else JSON
        self._json_spans = _protocol("TRACES") == "http/json"
        #: decided at the first metrics export: asking imports opentelemetry-proto (~45 M machine
        #: instructions at start-up, callgrind, 2026-12-02), which a gateway exporting only spans never needs
        self._protobuf_metrics: bool | None = None
        self._start_ns = time.time_ns()
        #: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta (or lowmemory): each collector's
        #: last export, which its next one counts from
        self._deltas: dict[str, DeltaState] | None = {} if temporality_setting()[0] else None
        self.exported_spans = 0
        #: spans no template could write (an ill-typed value in a record): dropped, the batch sent
        self.dropped_spans = 0
        #: the buffer's drops (full: the collector slow or down) already said
        self._buffer_dropped = 0

    async def start(self) -> None:
        # its own kept request head: its posts do not write over the backends' (fastwire.request_head);
        # a collector's answer is a few bytes (an export response): a longer body fails the export
        # instead of being read into memory up to the backends' 64 MiB
        self._client = FastClient(ClientOptions(max_body=ANSWER_LIMIT), own_heads=True)
        self.buffer.on_full(self._wake.set)
        if any(t.traces for t in self.targets):
            self._tasks.append(spawn(self._span_loop()))
        if self.registry is not None:
            for target in self.targets:
                if target.metrics:
                    self._tasks.append(spawn(self._metric_loop(target)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        await self.flush()  # the last batch
        if self._client is not None:
            await self._client.close()
            self._client = None
        for client in self._tls_clients.values():
            await client.close()
        self._tls_clients.clear()
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def flush(self, whole: bool = False) -> None:
        """Export every span waiting now; with ``whole`` (a wake-up at ``BATCH`` spans), only whole
        batches, the rest left at the head of the buffer for the next one: woken at 512 spans, the
        loop found the few a request added meanwhile and posted them alone, a second request to the
        collector per wake (half the posts of a ``p1-traces`` count went so, 2026-12-02; the few
        spans' own post was too cheap for the count to show beyond its noise)."""
        spans = self.buffer.drain()
        dropped = self.buffer.dropped
        if dropped > self._buffer_dropped:  # counted on the request path, said here (once a minute)
            self._buffer_dropped = dropped
            limit = self.buffer.limit
            self._failures.once(_BUFFER, f"{dropped} span(s) dropped so far: the export buffer ({limit}) was full")
        size = self.batch
        if whole and len(spans) > size:
            cut = len(spans) - len(spans) % size
            if cut < len(spans):
                self.buffer.spans[:0] = spans[cut:]  # no await since the drain: nothing added between
                spans = spans[:cut]
        while spans:
            batch, spans = spans[:size], spans[size:]
            if self._cut is not None:
                batch = self._cut.batch(batch)
            targets = self._trace_targets
            # protobuf for gRPC and (unless http/json) OTLP/HTTP, JSON for OTLP/HTTP with http/json:
            # each written straight from the span records, once per batch
            json = self._json_spans and any(t.use_http for t in targets)
            proto = not self._json_spans or any(not t.use_http for t in targets)
            bodies: dict[bool, bytes] = {}
            for as_json in (True, False) if json and proto else (json,):
                written = self._body(batch, as_json)
                if written is None:  # no record of the batch writable
                    batch = []
                    break
                batch, bodies[as_json] = written
            if not batch:
                continue
            if len(targets) == 1:  # the usual one collector: no gather, no task per post
                await self._send_spans(targets[0], bodies)
            else:
                await asyncio.gather(*(self._send_spans(t, bodies) for t in targets))
            self.exported_spans += len(batch)

    def _body(self, batch: list[Record], json: bool) -> tuple[list[Record], bytes] | None:
        """The batch's body (JSON or protobuf) and the records it holds: those no template writes
        dropped and counted; None when none is left."""
        write = spans_body if json else spans_proto
        resource = self._resource_text if json else self._resource_proto
        try:
            return batch, write(batch, resource)  # type: ignore[arg-type]
        except Exception as exc:
            batch = self._drop_unwritable(batch, exc, json)
            if not batch:
                return None
            return batch, write(batch, resource)  # type: ignore[arg-type]

    async def _send_spans(self, target: OtlpTarget, bodies: dict[bool, bytes]) -> None:
        """Send a span batch: protobuf to a gRPC target, the exporter's body to an OTLP/HTTP one."""
        if target.use_http and self._json_spans:
            await self._send(target, "traces", bodies[True], "application/json")
        else:
            await self._send(target, "traces", bodies[False], "application/x-protobuf")

    def _drop_unwritable(self, batch: list[Record], exc: Exception, json: bool) -> list[Record]:
        """The records of ``batch`` a template writes; the others dropped, counted, logged (their
        values never: a record carries a client's texts)."""
        try:
            kept = [r for r in batch if _writable(r, json)]
        finally:
            end_batch()  # the trial writes cached the records' client texts: none outlives the batch
        dropped = len(batch) - len(kept)
        self.dropped_spans += dropped
        self._failures.once(_WRITER, f"{dropped} span(s) dropped: not writable as OTLP ({type(exc).__name__})")
        return kept

    async def _span_loop(self) -> None:
        while True:
            woken = False
            try:
                # a deadline on this task, not wait_for's task and future around the wait
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
                woken = True
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush(whole=woken)
            except Exception as exc:  # export goes on with the next batch
                self._failures.once(_WRITER, f"a span batch lost: {type(exc).__name__}")

    async def _metric_loop(self, target: OtlpTarget) -> None:
        assert self.registry is not None
        while True:
            await asyncio.sleep(target.metric_period)
            try:
                delta = None
                if self._deltas is not None:
                    delta = self._deltas.get(target.name) or self._deltas.setdefault(
                        target.name, DeltaState(self._start_ns)
                    )
                doc = metrics_json(self.registry, self.resource, self._start_ns, delta)
                if self._protobuf_metrics is None:
                    self._protobuf_metrics = _protocol("METRICS") != "http/json" and protobuf_available()
                if not target.use_http or self._protobuf_metrics:
                    body, ctype = to_protobuf(doc, "metrics"), "application/x-protobuf"
                else:
                    body, ctype = text_json(doc), "application/json"
            except Exception as exc:  # no opentelemetry-proto for gRPC, a value protobuf refuses: logged,
                # tried again next period (built outside _send's guard, it ended the loop in silence)
                self._failures.report(target.name, "metrics", partial(_reason, exc, target, self._redactor, "metrics"))
                continue
            await self._send(target, "metrics", body, ctype)

    async def _send(self, target: OtlpTarget, kind: str, body: bytes, ctype: str) -> None:
        """Send one export request: ``body`` of ``ctype`` (always protobuf to a gRPC target)."""
        try:
            if target.use_http:
                await self._http(target, kind, body, ctype)
            else:
                await self._grpc(target, kind, body)
        except Exception as exc:  # a collector problem never reaches requests
            self._failures.report(target.name, kind, partial(_reason, exc, target, self._redactor, kind))

    async def _http(self, target: OtlpTarget, kind: str, body: bytes, ctype: str) -> None:
        client = self._client
        assert client is not None
        context = target.tls_traces if kind == "traces" else target.tls_metrics
        if context is not None and target.tls:
            client = self._tls_clients.get(context) or self._tls_client(context)
        headers = list({"Content-Type": ctype, **dict(target.headers_for(kind))}.items())
        if target.gzip_traces if kind == "traces" else target.gzip_metrics:
            body = gzip.compress(body, compresslevel=6)
            headers.append(("Content-Encoding", "gzip"))
        async with asyncio.timeout(target.timeout_traces if kind == "traces" else target.timeout_metrics):
            response = await client.request("POST", f"{target.base_url}/v1/{kind}", headers, body)
        if response.status >= 300:
            raise RuntimeError(f"HTTP {response.status}")

    def _tls_client(self, context: ssl.SSLContext) -> FastClient:
        """The client of the exports made with ``context`` (https goes through its aiohttp fallback)."""
        client = self._tls_clients[context] = FastClient(
            ClientOptions(max_body=ANSWER_LIMIT, ssl_context=context), own_heads=True
        )
        return client

    async def _grpc(self, target: OtlpTarget, kind: str, body: bytes) -> None:
        import grpc

        secure = target.secure(kind)
        pem = (target.grpc_tls_traces if kind == "traces" else target.grpc_tls_metrics) if secure else None
        # one channel per target, and per transport and set of TLS files when the signals' differ
        key = f"{target.name}\x00{secure}" if pem is None else f"{target.name}\x00{hash(pem)}"
        channel = self._channels.get(key)
        if channel is None:
            address = f"{target.host}:{target.port}"
            channel = (
                grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(*(pem or ())))
                if secure
                else grpc.aio.insecure_channel(address)
            )
            self._channels[key] = channel
        call = channel.unary_unary(_GRPC_PATHS[kind], request_serializer=None, response_deserializer=None)
        # the protobuf bytes as they are (no serializer): spans as spans_proto wrote them
        gzipped = target.gzip_traces if kind == "traces" else target.gzip_metrics
        await call(
            body,
            timeout=target.timeout_traces if kind == "traces" else target.timeout_metrics,
            metadata=target.headers_for(kind) or None,
            compression=grpc.Compression.Gzip if gzipped else None,
        )


#: the gateway's exporter in its state, for tests and diagnostics
EXPORTER: Final = Key("otlp exporter", OtlpExporter)
