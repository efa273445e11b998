"""The route map of a configuration: endpoints, their backends and the namespaces at each level."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from krakenpy.amqp.options import redact
from krakenpy.components import registry
from krakenpy.config import BackendConfig, EndpointConfig, ServiceConfig
from krakenpy.config.namespaces import namespace_issues
from krakenpy.telemetry.redact import Redactor

__all__ = ["BackendRoute", "EndpointRoute", "Namespace", "RouteMap", "format_duration", "route_map"]


@dataclass(frozen=True, slots=True)
class Namespace:
    """One ``extra_config`` namespace; ``active`` is false where krakenpy ignores it (with the reason)."""

    name: str
    active: bool
    note: str = ""

    def label(self) -> str:
        return self.name if self.active else f"{self.name} (ignored)"


@dataclass(frozen=True, slots=True)
class BackendRoute:
    method: str
    #: ``http://host/path`` (first host), or ``lambda:function`` / ``lambda:{Param}``
    target: str
    hosts: tuple[str, ...]
    encoding: str
    filters: Mapping[str, Any]
    namespaces: tuple[Namespace, ...]


@dataclass(frozen=True, slots=True)
class EndpointRoute:
    method: str
    path: str
    output_encoding: str
    timeout: str
    settings: Mapping[str, Any]
    namespaces: tuple[Namespace, ...]
    backends: tuple[BackendRoute, ...]


@dataclass(frozen=True, slots=True)
class RouteMap:
    name: str
    port: int
    listen_ip: str
    namespaces: tuple[Namespace, ...]
    endpoints: tuple[EndpointRoute, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``routes --format json``)."""

        def spaces(items: tuple[Namespace, ...]) -> list[dict[str, Any]]:
            return [{"name": n.name, "active": n.active, **({"note": n.note} if n.note else {})} for n in items]

        return {
            "name": self.name,
            "port": self.port,
            "listen_ip": self.listen_ip,
            "namespaces": spaces(self.namespaces),
            "endpoints": [
                {
                    "method": e.method,
                    "endpoint": e.path,
                    "output_encoding": e.output_encoding,
                    "timeout": e.timeout,
                    **dict(e.settings),
                    "namespaces": spaces(e.namespaces),
                    "backends": [
                        {
                            "method": b.method,
                            "target": b.target,
                            "hosts": list(b.hosts),
                            "encoding": b.encoding,
                            **dict(b.filters),
                            "namespaces": spaces(b.namespaces),
                        }
                        for b in e.backends
                    ],
                }
                for e in self.endpoints
            ],
        }


def format_duration(seconds: float) -> str:
    """``3.0`` → ``3s``, ``0.2`` → ``200ms`` (Go's spelling, largest whole unit)."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        count = seconds / size
        if count >= 1 and abs(count - round(count)) < 1e-9:
            return f"{round(count)}{unit}"
    return f"{seconds:g}s"


def _namespaces(extra: Mapping[str, Any], prefix: str, ignored: Mapping[str, str]) -> tuple[Namespace, ...]:
    out = []
    for name in extra:
        if not name or name[0] in "@$_#":
            continue
        note = ignored.get(f"{prefix}.{name}", "")
        out.append(Namespace(name, not note, note))
    return tuple(out)


def _raw_backend(service: ServiceConfig, endpoint: EndpointConfig, backend: BackendConfig) -> Mapping[str, Any]:
    try:
        raw = service.raw["endpoints"][endpoint.index]["backend"][backend.index]
    except (KeyError, IndexError, TypeError):
        return {}
    return raw if isinstance(raw, Mapping) else {}


def _target(service: ServiceConfig, endpoint: EndpointConfig, backend: BackendConfig) -> str:
    lam = backend.extra_config.get("backend/lambda")
    if isinstance(lam, Mapping):
        if lam.get("function_name"):
            return f"lambda:{lam['function_name']}"
        allowed = lam.get("allowed_functions")
        only = f" (allowed: {', '.join(map(str, allowed))})" if isinstance(allowed, list) and allowed else ""
        return f"lambda:{{{lam.get('function_param_name', '?')}}}{only}"
    pattern = str(_raw_backend(service, endpoint, backend).get("url_pattern", "") or "")
    pattern = pattern if pattern.startswith("/") else "/" + pattern
    path, mark, query = pattern.partition("?")
    if mark:  # a key written into the pattern (``?api_key=…``): masked as the logs mask it
        pattern = path + mark + _redactor(service).query(query)
    return (redact(backend.hosts[0]) if backend.hosts else "") + pattern


def _redactor(service: ServiceConfig) -> Redactor:
    """The service's redactor (its ``redact`` lists), or the default one when they do not parse."""
    from krakenpy.errors import ConfigError
    from krakenpy.telemetry.settings import parse_access_log

    try:
        options = parse_access_log(service.extra_config.get("telemetry/access_log"), "extra_config").redaction
    except (ConfigError, ValueError, TypeError):
        return Redactor()
    return Redactor(options)


def _filters(backend: BackendConfig, raw: Mapping[str, Any]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for key, value in (
        ("allow", list(backend.allow)),
        ("deny", list(backend.deny)),
        ("mapping", dict(backend.mapping)),
        ("target", backend.target),
        ("group", backend.group),
        ("is_collection", backend.is_collection),
        ("input_headers", list(backend.input_headers) if backend.input_headers is not None else None),
        ("input_query_strings", list(backend.input_query_strings) if backend.input_query_strings is not None else None),
    ):
        if value:
            filters[key] = value
    proxy = backend.extra_config.get("proxy")
    if isinstance(proxy, Mapping) and proxy.get("flatmap_filter"):
        filters["flatmap_filter"] = proxy["flatmap_filter"]
    if raw.get("sd"):
        filters["sd"] = raw["sd"]
    return filters


def route_map(service: ServiceConfig) -> RouteMap:
    """Every endpoint of ``service`` with its backends and namespaces, in file order."""
    ignored = {issue.path: issue.message for issue in namespace_issues(service.raw, registry.catalog())}
    endpoints = []
    for e in service.endpoints:
        prefix = f"{e.path}.extra_config"
        settings: dict[str, Any] = {}
        if e.cache_ttl:
            settings["cache_ttl"] = format_duration(e.cache_ttl)
        if e.concurrent_calls > 1:
            settings["concurrent_calls"] = e.concurrent_calls
        if e.input_headers != ("Content-Type",):
            settings["input_headers"] = list(e.input_headers)
        if e.input_query_strings:
            settings["input_query_strings"] = list(e.input_query_strings)
        backends = tuple(
            BackendRoute(
                method=b.method,
                target=_target(service, e, b),
                hosts=tuple(map(redact, b.hosts)),  # a broker URL carries its password
                encoding=b.encoding,
                filters=_filters(b, _raw_backend(service, e, b)),
                namespaces=_namespaces(b.extra_config, f"{b.path}.extra_config", ignored),
            )
            for b in e.backends
        )
        endpoints.append(
            EndpointRoute(
                method=e.method,
                path=e.endpoint,
                output_encoding=e.output_encoding,
                timeout=format_duration(e.timeout),
                settings=settings,
                namespaces=_namespaces(e.extra_config, prefix, ignored),
                backends=backends,
            )
        )
    return RouteMap(
        name=service.name,
        port=service.port,
        listen_ip=service.listen_ip,
        namespaces=_namespaces(service.extra_config, "extra_config", ignored),
        endpoints=tuple(endpoints),
    )
