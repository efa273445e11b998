"""Typed options of the namespaces the core itself reads: ``router``, ``proxy``, ``backend/http`` and
``backend/http/client``.

These types are the core's vocabulary; the component modules of those namespaces
(``krakenpy/components/router.py`` ...) own their ``parse``, and the assembly
(:mod:`krakenpy.gateway`) hands the parsed values to the server and the proxy factories, so no core
module digs in ``extra_config`` itself. An absent namespace is the default instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BackendProxyOptions",
    "EndpointProxyOptions",
    "HttpBackendOptions",
    "HttpClientOptions",
    "RouterOptions",
    "StaticOptions",
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
    #: ``None``: every peer is trusted (gin's default); otherwise CIDRs / addresses
    trusted_proxies: tuple[str, ...] | None = None
    #: ``router.error_body``: JSON bodies replacing gin's 404 / 405 texts
    error_body_404: Any = None
    error_body_405: Any = None

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
    no_redirect: bool = False
