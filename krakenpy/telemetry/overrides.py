"""Endpoint- and backend-level ``telemetry/opentelemetry`` overrides (observability §1.8), decided
when the layers are built.

- an endpoint's ``proxy`` object replaces the service's ``layers.proxy`` for that endpoint (no merge:
  an unset switch is off, an unset list empty);
- a backend's ``backend`` object replaces the service's ``layers.backend`` for that backend (its
  ``metrics`` / ``traces`` parsed as the service's: absent, every stage on; present, unset switches off).

Each returns the hub the layer is built from: the gateway's own when there is no override (nothing
changes for a configuration without one), else a shallow view of it whose instruments and layer
trace options are the override's. The view shares everything else (registry, slots, span buffer,
redactor, audit) with the gateway's hub.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Final

from krakenpy.config.model import BackendConfig, EndpointConfig
from krakenpy.resources import Resources
from krakenpy.state import Key
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.metrics.instruments import BackendMetrics, ClientMetrics, ProxyMetrics, ReadMetrics, Static

if TYPE_CHECKING:
    from krakenpy.telemetry.otelsettings import OtelOptions

__all__ = ["backend_hub", "backend_options", "proxy_hub"]

NAMESPACE: Final = "telemetry/opentelemetry"


class _Views(dict[str, Telemetry]):
    """The backend views by backend path (its backend and client layers share one)."""


_VIEWS: Final = Key("opentelemetry backend views", _Views)


def _options(resources: Resources, owner: str) -> OtelOptions | None:
    found = resources.options(owner, NAMESPACE)
    if found is None:  # the usual case: nothing imported (a plain config's start-up never loads otelsettings)
        return None
    from krakenpy.telemetry.otelsettings import OtelOptions

    return found if isinstance(found, OtelOptions) else None


def _view(hub: Telemetry) -> Telemetry:
    view = copy.copy(hub)
    if hub.registry is not None or hub.stats is not None:
        # one set of slots for the gateway: the view's layers append where the readers drain
        view._slots = hub.metric_slots()
    return view


def _static_or_service(
    resources: Resources, where: str, make: type[ProxyMetrics] | type[BackendMetrics], static: Static, service: Static
) -> Static:
    """``static`` when the metric's family can take it (the same keys as the service's, whose labels
    the family was registered with), else the service's with a warning: krakenpy keeps one label set
    per metric name (a Prometheus family with two label sets is refused by most scrapers)."""
    if tuple(k for k, _ in static) == tuple(k for k, _ in service):
        return static
    resources.warnings.append(
        f"{where}: static attribute keys differ from the service's ({', '.join(k for k, _ in service) or 'none'}); "
        f"krakenpy keeps one label set per {make.__name__} metric: the service's values are used"
    )
    return service


def proxy_hub(hub: Telemetry, resources: Resources, endpoint: EndpointConfig) -> Telemetry:
    """The hub the proxy layer of ``endpoint`` is built from (its ``proxy`` override applied)."""
    local = _options(resources, endpoint.path)
    service = _options(resources, "")
    if local is None or not local.has_proxy or service is None:
        return hub
    view = _view(hub)
    where = f"{endpoint.path}.extra_config.{NAMESPACE}.proxy.metrics_static_attributes"
    if hub.registry is None or not local.proxy_metrics:
        view.proxy_metrics = None
    else:
        static = _static_or_service(
            resources, where, ProxyMetrics, local.proxy_metrics_static, service.proxy_metrics_static
        )
        view.proxy_metrics = ProxyMetrics(hub.registry, static=static)
    tracer = hub.tracer
    if tracer is not None:
        view.tracer = copy.copy(tracer)
        view.tracer.proxy_layer = dataclasses.replace(
            tracer.proxy_layer,
            enabled=local.proxy_traces,
            report_headers=local.proxy_report_headers,
            skip_headers=local.proxy_skip_headers,
            static=local.proxy_traces_static,
        )
    return view


def backend_options(resources: Resources, backend: BackendConfig) -> OtelOptions | None:
    """The backend's own options when it overrides the service's ``layers.backend``."""
    local = _options(resources, backend.path)
    if local is None or not local.has_backend or _options(resources, "") is None:
        return None
    return local


def backend_hub(hub: Telemetry, resources: Resources, backend: BackendConfig) -> Telemetry:
    """The hub the backend and client layers of ``backend`` are built from (its ``backend``
    override applied); the same view for both layers of one backend."""
    local = backend_options(resources, backend)
    if local is None:
        return hub
    views = resources.state.setdefault(_VIEWS, _Views)
    found = views.get(backend.path)
    if found is not None:
        return found
    service = _options(resources, "")
    assert service is not None
    view = views[backend.path] = _view(hub)
    stage = local.backend_metrics
    registry = hub.registry
    view.backend_metrics = view.client_metrics = view.read_metrics = None
    if registry is not None:
        where = f"{backend.path}.extra_config.{NAMESPACE}.backend.metrics.static_attributes"
        static = _static_or_service(resources, where, BackendMetrics, stage.static, service.backend_metrics.static)
        if not stage.disable_stage:
            view.backend_metrics = BackendMetrics(registry, static=static)
        if stage.round_trip:
            view.client_metrics = ClientMetrics(
                registry, static=static, semconv=service.semconv, detailed=stage.detailed_connection
            )
        if stage.read_payload:
            view.read_metrics = ReadMetrics(registry, static=static)
    tracer = hub.tracer
    if tracer is not None:
        traces = local.backend_traces
        view.tracer = copy.copy(tracer)
        view.tracer.backend_layer = dataclasses.replace(
            tracer.backend_layer,
            enabled=not traces.disable_stage,
            report_headers=traces.report_headers,
            skip_headers=traces.skip_headers,
            static=traces.static,
            round_trip=traces.round_trip,
            read_payload=traces.read_payload,
            detailed_connection=traces.detailed_connection,
        )
    return view
