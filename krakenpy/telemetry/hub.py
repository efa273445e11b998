"""The telemetry of one gateway, shared by the ``telemetry/*`` components through
``resources.state[HUB]``: each component configures its part at build time; the middlewares read
the finished hub when the pipeline is composed (after every build), so a feature that is off costs
nothing per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from krakenpy.edge import HttpRequest
from krakenpy.server.census import Tenure
from krakenpy.state import Key
from krakenpy.telemetry.accesslog import AccessEntry
from krakenpy.telemetry.audit import AuditTrail
from krakenpy.telemetry.clientip import client_ip_resolver
from krakenpy.telemetry.ginline import GinRender
from krakenpy.telemetry.metrics.instruments import (
    BackendMetrics,
    ClientMetrics,
    ProxyMetrics,
    ReadMetrics,
    ServerMetrics,
)
from krakenpy.telemetry.metrics.registry import Registry
from krakenpy.telemetry.metrics.slots import Slots
from krakenpy.telemetry.metrics.stats import StatsRegistry
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.writer import LineWriter, stdout_writer

if TYPE_CHECKING:  # the tracer: imported by the OTel and OpenCensus set-ups that make one
    from krakenpy.telemetry.trace.tracer import Tracer

__all__ = ["FOLD_EVERY", "HUB", "AccessLog", "Service", "Telemetry"]

#: requests between two :meth:`Telemetry.fold_metrics` calls of the edge (a request queues at most a
#: few values per histogram it touches, so no queue outgrows a small multiple of this). Not ``Final``:
#: mypyc would write its value into the compiled edge layers, where tests lower it
FOLD_EVERY = 1024


@dataclass(eq=False)
class AccessLog:
    """Where and how access lines are written."""

    format: Callable[[AccessEntry], bytes]
    writers: tuple[LineWriter, ...]
    skip_paths: frozenset[str] = frozenset()
    #: also send each line to GELF (KrakenD's code does when telemetry/gelf is on), with the request
    #: id as ``_request_id`` (as the application log's messages carry it) when there is one
    gelf: Callable[[bytes, str | None], None] | None = None
    #: gin's batch renderer (set for the gin format: the edge queues a tuple, not an entry object)
    gin: GinRender | None = None


@dataclass(eq=False)
class Service:
    """A background part started once the gateway serves (exporters, stats servers)."""

    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]
    #: started in one worker of ``krakenpy run`` only, with the async agents (a listener on its own
    #: port: a second worker could not bind it, and logged so at each start and reload)
    one_worker: bool = False


@dataclass(eq=False)
class Telemetry:
    """Everything the telemetry middlewares need, configured by the components."""

    redactor: Redactor = field(default_factory=Redactor)
    #: header carrying the request id in and out (``None``: no request ids)
    request_id_header: str | None = "X-Request-Id"
    #: honour a well-formed incoming id (else always generate)
    trust_request_id: bool = True
    return_request_id: bool = True
    forward_request_id: bool = True
    client_ip: Callable[[HttpRequest], str] = field(default_factory=client_ip_resolver)
    access: AccessLog | None = None
    #: the access log reports upstream time (JSON format): the client layer measures it
    upstream_time: bool = False
    #: OTel metrics (Prometheus / OTLP)
    registry: Registry | None = None
    server_metrics: ServerMetrics | None = None
    proxy_metrics: ProxyMetrics | None = None
    backend_metrics: BackendMetrics | None = None
    client_metrics: ClientMetrics | None = None
    #: ``read_payload`` body-read instruments of the backend HTTP client
    read_metrics: ReadMetrics | None = None
    #: paths the OTel global layer leaves alone (metrics and traces)
    otel_skip_paths: frozenset[str] = frozenset()
    #: krakend-metrics (``/__stats``)
    stats: StatsRegistry | None = None
    stats_router: bool = True
    stats_proxy: bool = True
    stats_backend: bool = True
    #: routes ``/__stats`` leaves out: the built-ins (health, ``/__debug``, ``/__echo``), which KrakenD
    #: registers on the engine, outside krakend-metrics' handler factory
    stats_skip_routes: frozenset[str] = frozenset()
    tracer: Tracer | None = None
    audit: AuditTrail | None = None
    services: list[Service] = field(default_factory=list)
    #: this gateway's share of the process's client connections (``/__stats``, Prometheus), if counted
    tenure: Tenure | None = None
    _stdout: LineWriter | None = None
    _slots: Slots | None = None
    #: ``Slots.moved`` when :meth:`fold_metrics` last folded (-1: never)
    _folded: int = -1

    def stdout(self) -> LineWriter:
        """The one standard-output writer (access log, application log, audit on stdout)."""
        if self._stdout is None:
            self._stdout = stdout_writer()
        return self._stdout

    def metric_slots(self) -> Slots:
        """The per-request metric slots of this gateway, drained before every read of a registry
        (made by the first layer that records; the registries exist by then)."""
        if self._slots is None:
            self._slots = Slots()
            for reader in (self.registry, self.stats):
                if reader is not None:
                    reader.feeders.append(self._slots.drain)
                    reader.feed_steps.append(self._slots.steps)
        return self._slots

    def fold_metrics(self, least: int = 1) -> None:
        """Count the values the request path queued on the histograms (their readers fold too); with
        ``least``, only the slots and histograms holding at least that many.

        With ``least`` above 1 (the folder's tick), nothing is done when no slot holds that many
        rows and no slot was drained since the last such fold: the histograms' queues grow only by
        slot drains, so every one still holds fewer than ``least`` (under valgrind the tick came
        every ~30 requests of ``p1-metrics`` and walked every slot, family and series: ~0.4 k
        instructions a request of the slots' sizes and the feeds, plus the interpreted walk,
        2026-12-02, branch ``timing2``; at real speed a tick a second is noise)."""
        slots = self._slots
        if least > 1 and slots is not None and slots.moved == self._folded and slots.below(least):
            return
        if self.registry is not None:
            self.registry.fold(least)
        if slots is not None:
            # read between the two folds: a drain by the second (none is expected: the first
            # drained every slot holding ``least``) leaves the next tick to fold again
            self._folded = slots.moved
        if self.stats is not None:
            self.stats.fold(least)

    @property
    def per_request(self) -> bool:
        """Whether the edge middleware has anything to do."""
        return bool(
            self.access is not None
            or self.request_id_header
            or self.server_metrics is not None
            or self.stats is not None
            or self.tracer is not None
            or self.audit is not None
        )


HUB: Final = Key("telemetry", Telemetry)
