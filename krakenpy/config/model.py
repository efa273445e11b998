"""Typed, frozen view of a KrakenD configuration: the service, its endpoints and their backends.

Built once by :func:`krakenpy.config.build.build_service` (lura ``config.Init``), which applies
KrakenD's defaults and init checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from krakenpy.config.options import (
    BackendProxyOptions,
    EndpointProxyOptions,
    HttpBackendOptions,
    HttpClientOptions,
    RouterOptions,
)

__all__ = ["AgentConfig", "BackendConfig", "EndpointConfig", "ServiceConfig"]


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """One backend of an endpoint (lura ``config.Backend``), after defaults and checks."""

    url_pattern: str
    hosts: tuple[str, ...]
    method: str
    encoding: str
    is_collection: bool
    target: str
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    mapping: Mapping[str, str]
    group: str
    sd: str
    disable_host_sanitize: bool
    input_headers: tuple[str, ...] | None
    input_query_strings: tuple[str, ...] | None
    extra_config: Mapping[str, Any]
    timeout: float
    concurrent_calls: int
    index: int
    path: str
    #: template keys found in url_pattern (``Id``, ``Resp0_x``, ``JWT.sub``) in order of appearance
    url_keys: tuple[str, ...] = ()
    #: template keys found in the hosts (dynamic routing: ``Input_headers.X-Tenant``, ``JWT.org``);
    #: with any, ``hosts`` hold ``{{.Key}}`` templates rendered per request
    host_keys: tuple[str, ...] = ()
    #: the core's own namespaces, parsed (``proxy``, ``backend/http``, ``backend/http/client``)
    proxy: BackendProxyOptions = BackendProxyOptions()
    http: HttpBackendOptions = HttpBackendOptions()
    http_client: HttpClientOptions = HttpClientOptions()
    #: the scheme of the hosts SRV records name (``"sd": "dns"``)
    sd_scheme: str = "http"


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """One endpoint (lura ``config.EndpointConfig``)."""

    endpoint: str
    method: str
    backends: tuple[BackendConfig, ...]
    timeout: float
    cache_ttl: float
    concurrent_calls: int
    input_query_strings: tuple[str, ...]
    input_headers: tuple[str, ...]
    output_encoding: str
    extra_config: Mapping[str, Any]
    #: placeholder names as declared in the path (``id`` for ``/users/{id}``)
    params: tuple[str, ...]
    index: int
    path: str
    #: the endpoint-level ``proxy`` namespace, parsed
    proxy: EndpointProxyOptions = EndpointProxyOptions()


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """One ``async_agent`` (lura ``config.AsyncAgent``): a queue consumer feeding its backends."""

    name: str
    index: int
    #: JSON path of the agent (``async_agent[0]``)
    path: str
    #: the pipe the messages go through, as lura builds it: named after the agent, the consumer's
    #: timeout, the agent's backends (their JSON paths under ``async_agent[i]``)
    endpoint: EndpointConfig
    #: routing-key pattern bound on the driver's exchange
    topic: str
    workers: int
    timeout: float
    #: messages per second; 0: no limit
    max_rate: float
    #: reconnections before the agent gives up; 0 or less: forever
    max_retries: int
    backoff_strategy: str
    health_interval: float
    extra_config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The whole service (lura ``config.ServiceConfig``)."""

    version: int
    name: str
    port: int
    listen_ip: str
    hosts: tuple[str, ...]
    timeout: float
    cache_ttl: float
    output_encoding: str
    endpoints: tuple[EndpointConfig, ...]
    extra_config: Mapping[str, Any]
    debug_endpoint: bool = False
    echo_endpoint: bool = False
    disable_rest: bool = False
    max_shutdown_wait_time: float = 0.0
    #: start the async agents, one after the other, before the HTTP listener (KrakenD's ``sequential_start``)
    sequential_start: bool = False
    read_timeout: float = 0.0
    write_timeout: float = 0.0
    read_header_timeout: float = 0.0
    idle_timeout: float = 0.0
    max_header_bytes: int = 0
    disable_keep_alives: bool = False
    disable_compression: bool = False
    max_idle_connections: int = 0
    max_idle_connections_per_host: int = 250
    idle_connection_timeout: float = 0.0
    response_header_timeout: float = 0.0
    dialer_timeout: float = 0.0
    dialer_keep_alive: float = 0.0
    #: how often ``"sd": "dns"`` lookups are refreshed (0: the default, 30 s)
    dns_cache_ttl: float = 0.0
    source: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)
    #: the ``router`` namespace, parsed
    router: RouterOptions = RouterOptions()
    #: ``KRAKEND_*`` variables that overrode top-level keys (key → variable name), for error messages
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    #: the ``async_agent`` list
    agents: tuple[AgentConfig, ...] = ()
