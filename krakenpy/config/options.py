"""Typed options of the namespaces the core itself reads: ``router``, ``proxy``, ``backend/http`` and
``backend/http/client``.

As in lura, whose core reads these namespaces itself, they are parsed here by the model build
(:mod:`krakenpy.config.build`) into typed fields of the config objects (``service.router``,
``endpoint.proxy``, ``backend.proxy``, ``backend.http``, ``backend.http_client``), so no core module
digs in ``extra_config``. Their component modules (``krakenpy/components/router.py`` ...) register
them with the registry (levels, schema, documentation) and point at these parsers. An absent
namespace is the default instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from krakenpy.errors import ConfigError, ConfigIssue

__all__ = [
    "BackendProxyOptions",
    "EndpointProxyOptions",
    "HttpBackendOptions",
    "HttpClientOptions",
    "RouterOptions",
    "StaticOptions",
    "parse_backend_proxy",
    "parse_endpoint_proxy",
    "parse_http_backend",
    "parse_http_client",
    "parse_router",
]


@dataclass(frozen=True, slots=True)
class RouterOptions:
    """The service ``router`` namespace (gin engine options, lura ``router/gin/engine.go``)."""

    return_error_msg: bool = False
    hide_version_header: bool = False
    disable_path_decoding: bool = False
    disable_redirect_trailing_slash: bool = False
    disable_redirect_fixed_path: bool = False
    disable_handle_method_not_allowed: bool = False
    remove_extra_slash: bool = False
    auto_options: bool = False
    disable_health: bool = False
    health_path: str = "/__health"
    disable_access_log: bool = False
    logger_skip_paths: tuple[str, ...] = ()
    forwarded_by_client_ip: bool = True
    remote_ip_headers: tuple[str, ...] = ("X-Forwarded-For", "X-Real-Ip")
    #: ``None`` (also for ``[]``, as lura): every peer is trusted (gin's default); otherwise CIDRs / addresses
    trusted_proxies: tuple[str, ...] | None = None
    #: ``router.error_body``: JSON bodies replacing gin's 404 / 405 texts
    error_body_404: Any = None
    error_body_405: Any = None
    #: KrakenD Enterprise: largest request body in bytes (0: krakenpy's 10 MiB cap)
    max_payload: int = 0
    #: KrakenD Enterprise: gunzip request bodies sent with Content-Encoding gzip, up to this many bytes (0: off)
    decompress_gzip: int = 0

    @property
    def version_header(self) -> str:
        from krakenpy.names import VERSION_HEADER

        return "Version undefined" if self.hide_version_header else VERSION_HEADER


@dataclass(frozen=True, slots=True)
class StaticOptions:
    """``proxy.static``: data merged over the response under a strategy."""

    strategy: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EndpointProxyOptions:
    """The endpoint-level ``proxy`` namespace."""

    sequential: bool = False
    sequential_propagated_params: tuple[str, ...] = ()
    static: StaticOptions | None = None
    flatmap_filter: tuple[Mapping[str, Any], ...] = ()
    #: KrakenD Enterprise: the endpoint's own ``max_payload`` and ``decompress_gzip`` (0: the router's)
    max_payload: int = 0
    decompress_gzip: int = 0


@dataclass(frozen=True, slots=True)
class BackendProxyOptions:
    """The backend-level ``proxy`` namespace."""

    shadow: bool = False
    #: seconds; ``None`` = the endpoint timeout
    shadow_timeout: float | None = None
    flatmap_filter: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class HttpBackendOptions:
    """``backend/http``: how a failing HTTP backend's answer reaches the client."""

    return_error_code: bool = False
    #: ``return_error_details``: the alias of the ``error_<alias>`` data key ("" = off; wins over the code)
    return_error_details: str = ""


@dataclass(frozen=True, slots=True)
class HttpClientOptions:
    """``backend/http/client``: per-backend HTTP client behaviour."""

    send_body_on_redirect: bool = False
    #: KrakenD Enterprise: a 3xx is the backend's answer (Go's ``CheckRedirect`` returning
    #: ``http.ErrUseLastResponse``), so it fails the call unless the backend is ``no-op``
    no_redirect: bool = False
    #: KrakenD Enterprise: every call of this backend goes through this HTTP proxy ("" = none)
    proxy_address: str = ""


# parsing (run by the model build; the JSON Schema has already checked the types) -----------------

_STRATEGIES = frozenset({"always", "success", "complete", "errored", "incomplete"})


def _obj(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _flatmap(value: Any, path: str) -> tuple[Mapping[str, Any], ...]:
    from krakenpy.proxy.flatmap import FlatmapError, compile_flatmap

    specs = tuple(s for s in value or () if isinstance(s, Mapping)) if isinstance(value, list) else ()
    issues: list[ConfigIssue] = []
    for i, spec in enumerate(value if isinstance(value, list) else ()):
        try:
            compile_flatmap([spec])  # unknown or malformed operations are config errors
        except FlatmapError as exc:
            where = f"{path}.flatmap_filter[{i}]" + (f".{exc.field}" if exc.field else "")
            issues.append(ConfigIssue(where, str(exc)))
    if issues:
        raise ConfigError(issues)
    return specs


def parse_router(raw: Any, path: str) -> RouterOptions:
    """The service ``router`` namespace."""
    o = _obj(raw)
    error_body = _obj(o.get("error_body"))
    trusted = o.get("trusted_proxies")
    headers = o.get("remote_ip_headers")
    if isinstance(trusted, list):
        from krakenpy.server.clientip import trusted_proxy_problem

        # gin ignores a bad list and trusts everyone (spoofable): here it is an error
        issues = [
            ConfigIssue(f"{path}.trusted_proxies[{i}]", problem)
            for i, entry in enumerate(trusted)
            if (problem := trusted_proxy_problem(str(entry))) is not None
        ]
        if issues:
            raise ConfigError(issues)
    return RouterOptions(
        return_error_msg=bool(o.get("return_error_msg", False)),
        hide_version_header=bool(o.get("hide_version_header", False)),
        disable_path_decoding=bool(o.get("disable_path_decoding", False)),
        disable_redirect_trailing_slash=bool(o.get("disable_redirect_trailing_slash", False)),
        disable_redirect_fixed_path=bool(o.get("disable_redirect_fixed_path", False)),
        disable_handle_method_not_allowed=bool(o.get("disable_handle_method_not_allowed", False)),
        remove_extra_slash=bool(o.get("remove_extra_slash", False)),
        auto_options=bool(o.get("auto_options", False)),
        disable_health=bool(o.get("disable_health", False)),
        health_path=str(o.get("health_path") or "/__health"),
        disable_access_log=bool(o.get("disable_access_log", False)),
        logger_skip_paths=_strings(o.get("logger_skip_paths")),
        forwarded_by_client_ip=bool(o.get("forwarded_by_client_ip", True)),
        # lura applies both lists only when non-empty (router/gin/engine.go): ``[]`` keeps gin's defaults
        remote_ip_headers=(
            _strings(headers) if isinstance(headers, list) and headers else ("X-Forwarded-For", "X-Real-Ip")
        ),
        trusted_proxies=_strings(trusted) if isinstance(trusted, list) and trusted else None,
        error_body_404=error_body.get("404"),
        error_body_405=error_body.get("405"),
        max_payload=_bytes(o, "max_payload", path),
        decompress_gzip=_bytes(o, "decompress_gzip", path),
    )


def _bytes(o: Mapping[str, Any], key: str, path: str) -> int:
    """A byte count of KrakenD Enterprise's (``max_payload``, ``decompress_gzip``); 0 when absent."""
    value = o.get(key, 0)
    if value is None or value is False:
        return 0
    if value is True and key == "decompress_gzip":  # on, bounded by max_payload or the 10 MiB cap
        return 10 * 1024 * 1024
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError([ConfigIssue(f"{path}.{key}", "expected a number of bytes (0: off)")])
    return value


def parse_endpoint_proxy(raw: Any, path: str) -> EndpointProxyOptions:
    """The endpoint-level ``proxy`` namespace."""
    o = _obj(raw)
    static_raw = o.get("static")
    static: StaticOptions | None = None
    if isinstance(static_raw, Mapping):
        strategy = str(static_raw.get("strategy") or "always")
        if strategy not in _STRATEGIES:
            raise ConfigError([ConfigIssue(f"{path}.static.strategy", f"unknown static strategy {strategy!r}")])
        static = StaticOptions(strategy=strategy, data=dict(_obj(static_raw.get("data"))))
    flatmap = _flatmap(o.get("flatmap_filter"), path)
    return EndpointProxyOptions(
        sequential=bool(o.get("sequential", False)),
        sequential_propagated_params=_strings(o.get("sequential_propagated_params")),
        static=static,
        flatmap_filter=flatmap,
        max_payload=_bytes(o, "max_payload", path),
        decompress_gzip=_bytes(o, "decompress_gzip", path),
    )


def _duration(value: Any, path: str) -> float:
    from krakenpy.config.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError([ConfigIssue(path, str(exc))]) from None


def parse_backend_proxy(raw: Any, path: str) -> BackendProxyOptions:
    """The backend-level ``proxy`` namespace."""
    o = _obj(raw)
    timeout = o.get("shadow_timeout")
    flatmap = _flatmap(o.get("flatmap_filter"), path)
    return BackendProxyOptions(
        shadow=bool(o.get("shadow", False)),
        shadow_timeout=_duration(timeout, f"{path}.shadow_timeout") if timeout else None,
        flatmap_filter=flatmap,
    )


def parse_http_backend(raw: Any, path: str) -> HttpBackendOptions:
    """``backend/http``: ``return_error_details`` wins over ``return_error_code`` when both are set."""
    o = _obj(raw)
    details = str(o.get("return_error_details") or "")
    return HttpBackendOptions(
        return_error_code=bool(o.get("return_error_code")) and not details, return_error_details=details
    )


def parse_http_client(raw: Any, path: str) -> HttpClientOptions:
    """``backend/http/client``: ``send_body_on_redirect`` (CE) and ``no_redirect`` (EE)."""
    o = _obj(raw)
    return HttpClientOptions(
        send_body_on_redirect=bool(o.get("send_body_on_redirect", False)),
        no_redirect=bool(o.get("no_redirect", False)),
        proxy_address=str(o.get("proxy_address", "") or ""),
    )
