"""Build the typed model from a validated document: KrakenD's defaults and init checks (lura
``config.Init``). Every semantic error is collected (not only the first) as a
:class:`~krakenpy.errors.ConfigIssue` located by JSON path."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from krakenpy.config.durations import parse_duration
from krakenpy.config.model import BackendConfig, EndpointConfig, ServiceConfig
from krakenpy.config.namespaces import plugin_names
from krakenpy.config.options import (
    HttpClientOptions,
    parse_backend_proxy,
    parse_endpoint_proxy,
    parse_http_backend,
    parse_http_client,
    parse_router,
)
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.names import capitalize
from krakenpy.userinfo import mask_url

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "MAX_CONCURRENT_CALLS",
    "build_endpoint",
    "build_service",
    "endpoint_params",
    "sanitize_host",
]

DEFAULT_PORT = 8080
DEFAULT_TIMEOUT = 2.0
#: ``concurrent_calls`` above this is a config error: each call is one task and one upstream request
#: per client request, started at once (2**64 kept a worker busy creating tasks until it ran out of
#: memory, answering nothing meanwhile). KrakenD has no bound at run time (a goroutine per call)
MAX_CONCURRENT_CALLS = 100
ROUTER_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

_REST_PARAM = re.compile(r"/\{([a-zA-Z\-_0-9]+)\}")
_LOOSE_PARAM = re.compile(r"\{([\w\-\.:/]+)\}")
_INVALID_ENDPOINT = re.compile(r"^[^/]|\*.|/__(debug|echo|health)(/.*)?$")
#: bytes no client request line carries raw (Go's url parser refuses them); percent-encoded they would
#: reach the route, and the backend URL, the logs and the metric labels would carry them
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPECIAL_OUTPUT = re.compile(r"^(resp\d+_.+)?(JWT\.([\w\-\.:/]+))?$")
#: KrakenD Enterprise's dynamic routing keys: filled from the client's headers and query strings
_DYNAMIC_OUTPUT = re.compile(r"^(input_headers|input_query_strings)\.[\w\-\.:/]+$")
_HOST = re.compile(r"(https?://)?([a-zA-Z0-9._\-]+)(:[0-9]{2,6})?/?")
T = TypeVar("T")
_SERVICE_DURATIONS = (
    "max_shutdown_wait_time",
    "read_timeout",
    "write_timeout",
    "read_header_timeout",
    "idle_timeout",
    "idle_connection_timeout",
    "response_header_timeout",
    "dialer_timeout",
    "dialer_keep_alive",
    "dns_cache_ttl",
)
_ENCODINGS_OUT = frozenset({"json", "json-collection", "negotiate", "no-op", "string", "xml", "yaml"})


class _Collector:
    def __init__(self) -> None:
        self.issues: list[ConfigIssue] = []

    def error(self, path: str, message: str) -> None:
        self.issues.append(ConfigIssue(path, message))

    def duration(self, obj: Mapping[str, Any], key: str, path: str, default: float = 0.0) -> float:
        if key not in obj or obj[key] is None:
            return default
        where = f"{path}.{key}" if path else key
        try:
            value = parse_duration(obj[key])
        except ValueError as exc:
            self.error(where, str(exc))
            return default
        if value < 0:  # Go accepts it, and then every request of the endpoint fails at once
            self.error(where, f"{obj[key]!r} is negative: a duration here must be 0 or more")
            return default
        return value

    def integer(self, obj: Mapping[str, Any], key: str, path: str, default: int) -> int:
        value = obj.get(key, default)
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        self.error(f"{path}.{key}" if path else key, f"expected an integer, got {value!r}")
        return default

    def namespace(self, extra: Mapping[str, Any], namespace: str, owner: str, parse: Callable[[Any, str], T]) -> T:
        """Parse a core namespace (absent: its defaults); a ``ValueError`` becomes an issue at its path."""
        path = f"{owner}.extra_config.{namespace}" if owner else f"extra_config.{namespace}"
        try:
            return parse(extra.get(namespace), path)
        except ConfigError as exc:
            self.issues.extend(exc.issues)
            return parse(None, path)

    def strings(self, obj: Mapping[str, Any], key: str, path: str) -> tuple[str, ...] | None:
        if key not in obj or obj[key] is None:
            return None
        value = obj[key]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.error(f"{path}.{key}" if path else key, f"expected a list of strings, got {value!r}")
        return None


def sanitize_host(host: str) -> str | None:
    """lura's ``CleanHost``: the host pattern must match exactly once; adds ``http://``, drops ``/``."""
    matches = list(_HOST.finditer(host))
    if len(matches) != 1:
        return None
    scheme, name, port = matches[0].groups()
    return f"{scheme or 'http://'}{name}{port or ''}"


#: a dynamic-routing placeholder in a host (``http://{input_headers.X-Tenant}.example.com``)
_DYNAMIC_HOST = re.compile(r"\{((?:input_headers|input_query_strings|JWT)\.[\w\-\.:/]+)\}")


def _host_templates(hosts: list[str]) -> tuple[list[str], list[str]]:
    """Hosts with their placeholders turned into template keys (``{{.Input_headers.X-Tenant}}``)."""
    keys: list[str] = []

    def key(match: re.Match[str]) -> str:
        name = capitalize(match.group(1))
        if name not in keys:
            keys.append(name)
        return "{{." + name + "}}"

    return [_DYNAMIC_HOST.sub(key, host) for host in hosts], keys


def endpoint_params(path: str, disable_rest: bool) -> list[str]:
    """Placeholder names of an endpoint path, in order."""
    pattern = _LOOSE_PARAM if disable_rest else _REST_PARAM
    return pattern.findall(path)


def _clean_path(path: str) -> str:
    return "/" + path.lstrip("/") if not path.startswith("/") else path


def _build_backend(
    raw: Mapping[str, Any],
    *,
    index: int,
    path: str,
    endpoint_raw: Mapping[str, Any],
    inputs: list[str],
    service_hosts: tuple[str, ...],
    timeout: float,
    concurrent: int,
    noop_output: bool,
    c: _Collector,
) -> BackendConfig:
    url_pattern = _clean_path(str(raw.get("url_pattern", "") or ""))
    control = _CONTROL.search(url_pattern)
    if control is not None:  # Go's url parser refuses it: every call would fail (the pattern is not quoted: a key?)
        c.error(
            f"{path}.url_pattern",
            f"control character {control.group()!r} at offset {control.start()} not allowed in a backend URL",
        )
    input_set = set(inputs)
    outputs: list[str] = []
    for name in _LOOSE_PARAM.findall(url_pattern):
        if name not in outputs:
            outputs.append(name)
    # lura also refuses more plain outputs than inputs ("input and output params do not match"): with
    # the outputs unique, that is always an undefined output below, said there by name (once, not twice)
    keys: list[str] = []
    for name in outputs:
        if not _SPECIAL_OUTPUT.fullmatch(name) and not _DYNAMIC_OUTPUT.fullmatch(name) and name not in input_set:
            c.error(f"{path}.url_pattern", f"undefined output param '{name}'")
        key = capitalize(name)
        url_pattern = url_pattern.replace("{" + name + "}", "{{." + key + "}}")
        keys.append(key)

    disable_sanitize = bool(raw.get("disable_host_sanitize", False))
    hosts_raw = c.strings(raw, "host", path)
    hosts: list[str] = list(hosts_raw) if hosts_raw else list(service_hosts)
    sd = str(raw.get("sd", "") or "")
    host_keys: list[str] = []
    if disable_sanitize or sd in ("dns", "dns-shared"):  # else sanitize_host refuses them below
        for i, host in enumerate(hosts):
            control = _CONTROL.search(host)
            if control is not None:  # the host is not quoted: it may hold a password
                where = f"{path}.host[{i}]" if hosts_raw else f"host[{i}]"
                c.error(where, f"control character {control.group()!r} not allowed in a backend host")
    if hosts_raw and any(_DYNAMIC_HOST.search(h) for h in hosts):
        if not disable_sanitize:
            c.error(f"{path}.host", "dynamic routing in host needs disable_host_sanitize: true")
        hosts, host_keys = _host_templates(hosts)
    elif not disable_sanitize and sd not in ("dns", "dns-shared"):
        clean: list[str] = []
        for i, host in enumerate(hosts):
            fixed = sanitize_host(host)
            if fixed is None:
                where = f"{path}.host[{i}]" if hosts_raw else f"host[{i}]"
                c.error(where, f"host {mask_url(host)!r} not valid: invalid host")
            else:
                clean.append(fixed)
        hosts = clean

    method = str(raw.get("method") or endpoint_raw.get("method") or "GET").upper()
    encoding = "no-op" if noop_output else str(raw.get("encoding") or "json")
    mapping_raw = raw.get("mapping") or {}
    if not isinstance(mapping_raw, Mapping):
        c.error(f"{path}.mapping", "expected an object")
        mapping_raw = {}
    extra = raw.get("extra_config") or {}
    extra = extra if isinstance(extra, Mapping) else {}
    return BackendConfig(
        url_pattern=url_pattern,
        hosts=tuple(hosts),
        method=method,
        encoding=encoding,
        is_collection=bool(raw.get("is_collection", False)),
        target=str(raw.get("target", "") or ""),
        allow=c.strings(raw, "allow", path) or (),
        deny=c.strings(raw, "deny", path) or (),
        mapping={str(k): str(v) for k, v in mapping_raw.items()},
        group=str(raw.get("group", "") or ""),
        sd=sd,
        disable_host_sanitize=disable_sanitize,
        input_headers=c.strings(raw, "input_headers", path),
        input_query_strings=c.strings(raw, "input_query_strings", path),
        extra_config=dict(extra),
        timeout=timeout,
        concurrent_calls=concurrent,
        index=index,
        path=path,
        url_keys=tuple(keys),
        host_keys=tuple(host_keys),
        proxy=c.namespace(extra, "proxy", path, parse_backend_proxy),
        http=c.namespace(extra, "backend/http", path, parse_http_backend),
        http_client=_no_redirect_plugin(extra, c.namespace(extra, "backend/http/client", path, parse_http_client)),
        sd_scheme=str(raw.get("sd_scheme", "") or "http"),
    )


def _no_redirect_plugin(extra: Mapping[str, Any], options: HttpClientOptions) -> HttpClientOptions:
    """KrakenD Enterprise's ``no-redirect`` client plugin is ``no_redirect``: one switch, one code path."""
    if options.no_redirect or not {"no-redirect", "krakend-redirect"} & set(
        plugin_names(extra.get("plugin/http-client"))
    ):
        return options
    return replace(options, no_redirect=True)


def _build_endpoint(
    raw: Mapping[str, Any],
    *,
    index: int,
    svc: Mapping[str, Any],
    service_defaults: dict[str, Any],
    c: _Collector,
    path: str = "",
) -> EndpointConfig | None:
    path = path or f"endpoints[{index}]"
    endpoint = raw.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        c.error(f"{path}.endpoint", "missing endpoint path")
        return None
    endpoint = _clean_path(endpoint)
    method = str(raw.get("method") or "GET").upper()
    control = _CONTROL.search(endpoint)
    if control is not None:
        c.error(
            f"{path}.endpoint",
            f"{endpoint!r}: control character {control.group()!r} not allowed in endpoint paths",
        )
    if _INVALID_ENDPOINT.search(endpoint):
        c.error(f"{path}.endpoint", f"ignoring the '{method} {endpoint}' endpoint, since it is invalid")
    if ":" in endpoint and not service_defaults["disable_rest"]:
        c.error(f"{path}.endpoint", f"'{endpoint}': colons are not allowed in endpoint paths")
    if method not in ROUTER_METHODS:
        c.error(
            f"{path}.method",
            f"unsupported method {method!r} (the router serves GET, POST, PUT, PATCH, DELETE)",
        )
    timeout = c.duration(raw, "timeout", path) or service_defaults["timeout"]
    cache_ttl = c.duration(raw, "cache_ttl", path) or service_defaults["cache_ttl"]
    concurrent = c.integer(raw, "concurrent_calls", path, 1) or 1
    if concurrent > MAX_CONCURRENT_CALLS:
        c.error(
            f"{path}.concurrent_calls",
            f"{concurrent} is more than {MAX_CONCURRENT_CALLS}: each call is a request to every backend"
            " of the endpoint, per client request",
        )
        concurrent = 1
    output = str(raw.get("output_encoding") or service_defaults["output_encoding"])
    backends_raw = raw.get("backend")
    if not isinstance(backends_raw, list) or not backends_raw:
        c.error(f"{path}.backend", f"ignoring the '{method} {endpoint}' endpoint, since it has 0 backends defined")
        backends_raw = []
    if output == "no-op" and len(backends_raw) > 1:
        c.error(
            f"{path}.output_encoding",
            "can not use NoOp encoding with more than one backends connected to the same endpoint",
        )
    params = endpoint_params(endpoint, service_defaults["disable_rest"])
    if len(set(params)) != len(params):
        c.error(f"{path}.endpoint", f"'{endpoint}' repeats a parameter name")
    backends: list[BackendConfig] = []
    for i, b in enumerate(backends_raw):
        bpath = f"{path}.backend[{i}]"
        if not isinstance(b, Mapping):
            c.error(bpath, "expected an object")
            continue
        backends.append(
            _build_backend(
                b,
                index=i,
                path=bpath,
                endpoint_raw=raw,
                inputs=params,
                service_hosts=service_defaults["hosts"],
                timeout=timeout,
                concurrent=concurrent,
                noop_output=output == "no-op",
                c=c,
            )
        )
    headers = c.strings(raw, "input_headers", path)
    extra = raw.get("extra_config") or {}
    extra = extra if isinstance(extra, Mapping) else {}
    return EndpointConfig(
        endpoint=endpoint,
        method=method,
        backends=tuple(backends),
        timeout=timeout,
        cache_ttl=cache_ttl,
        concurrent_calls=concurrent,
        input_query_strings=c.strings(raw, "input_query_strings", path) or (),
        input_headers=headers if headers else ("Content-Type",),
        output_encoding=output if output in _ENCODINGS_OUT else output,
        extra_config=dict(extra),
        params=tuple(params),
        index=index,
        path=path,
        proxy=c.namespace(extra, "proxy", path, parse_endpoint_proxy),
    )


def build_endpoint(raw: Mapping[str, Any], *, path: str, service: ServiceConfig) -> EndpointConfig:
    """One endpoint-shaped object found elsewhere than ``endpoints`` (a workflow), with the service's
    defaults and the same checks, its issues located under ``path``; raises :class:`ConfigError`."""
    c = _Collector()
    defaults: dict[str, Any] = {
        "timeout": service.timeout,
        "cache_ttl": service.cache_ttl,
        "output_encoding": service.output_encoding,
        "disable_rest": service.disable_rest,
        "hosts": service.hosts,
    }
    built = _build_endpoint(raw, index=0, svc=service.raw, service_defaults=defaults, c=c, path=path)
    if c.issues or built is None:
        raise ConfigError(c.issues or [ConfigIssue(path, "not an endpoint")], service.source)
    return built


def _route_shape(endpoint: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", endpoint)


def build_service(
    doc: Mapping[str, Any], *, source: str = "", env_overrides: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Apply defaults and KrakenD's init checks; raise :class:`ConfigError` with every issue found."""
    service, issues = build_service_anyway(doc, source=source, env_overrides=env_overrides)
    if issues:
        raise ConfigError(issues, source)
    return service


def build_service_anyway(
    doc: Mapping[str, Any], *, source: str = "", env_overrides: Mapping[str, str] | None = None
) -> tuple[ServiceConfig, list[ConfigIssue]]:
    """:func:`build_service`, its issues returned beside the service built despite them (``check``
    going on to its later steps): what an error names keeps its default, and an endpoint that
    repeats or conflicts with an earlier one is left out. Never served."""
    c = _Collector()
    version = doc.get("version")
    if version != 3:
        c.error("version", f"unsupported version: {version} (want: 3)")
    hosts = c.strings(doc, "host", "") or ()
    defaults: dict[str, Any] = {
        "timeout": c.duration(doc, "timeout", "") or DEFAULT_TIMEOUT,
        "cache_ttl": c.duration(doc, "cache_ttl", ""),
        "output_encoding": str(doc.get("output_encoding") or "json"),
        "disable_rest": bool(doc.get("disable_rest", False)),
        "hosts": hosts,
    }
    listen_ip = str(doc.get("listen_ip", "") or "")
    if listen_ip:
        import ipaddress

        try:
            ipaddress.ip_address(listen_ip)
        except ValueError:
            c.error("listen_ip", f"invalid ip address {listen_ip!r}")
            listen_ip = ""
    endpoints: list[EndpointConfig] = []
    raw_endpoints = doc.get("endpoints") or []
    if not isinstance(raw_endpoints, list):
        c.error("endpoints", "expected a list")
        raw_endpoints = []
    seen: dict[tuple[str, str], int] = {}
    shapes: dict[tuple[str, str], tuple[str, int]] = {}
    for i, e in enumerate(raw_endpoints):
        if not isinstance(e, Mapping):
            c.error(f"endpoints[{i}]", "expected an object")
            continue
        built = _build_endpoint(e, index=i, svc=doc, service_defaults=defaults, c=c)
        if built is None:
            continue
        key = (built.method, built.endpoint)
        clash = False
        if key in seen:
            c.error(
                f"endpoints[{i}].endpoint",
                f"duplicate endpoint '{built.method} {built.endpoint}' (first declared at endpoints[{seen[key]}])",
            )
            clash = True
        else:
            seen[key] = i
        # gin keeps one tree per method: the same path with other parameter names only
        # conflicts within a method (different methods may name them differently)
        shape = (built.method, _route_shape(built.endpoint))
        if shape in shapes and shapes[shape][0] != built.endpoint:
            other, j = shapes[shape]
            c.error(
                f"endpoints[{i}].endpoint",
                f"'{built.endpoint}' conflicts with '{other}' (endpoints[{j}]): same path, other parameter names",
            )
            clash = True
        shapes.setdefault(shape, (built.endpoint, i))
        if not clash:  # (an error either way: left out of the service ``check`` goes on with)
            endpoints.append(built)
    from krakenpy.config.agents import build_agents  # it builds its backends with this module

    agents = build_agents(doc, defaults, c)
    service_extra = doc.get("extra_config") or {}
    service_extra = service_extra if isinstance(service_extra, Mapping) else {}
    router = c.namespace(service_extra, "router", "", parse_router)
    # the server and transport durations, read before the verdict so a bad one is reported too
    durations = {key: c.duration(doc, key, "") for key in _SERVICE_DURATIONS}
    max_header_bytes = c.integer(doc, "max_header_bytes", "", 0)
    port = c.integer(doc, "port", "", DEFAULT_PORT) or DEFAULT_PORT
    if not 0 < port < 65536:
        c.error("port", f"invalid port {port}")
        port = DEFAULT_PORT
    # what the fields below find is not said (as before: they were read after the verdict)
    issues = list(c.issues)
    service = ServiceConfig(
        version=3,
        name=str(doc.get("name", "") or ""),
        port=port,
        listen_ip=listen_ip,
        hosts=tuple(hosts),
        timeout=defaults["timeout"],
        cache_ttl=defaults["cache_ttl"],
        output_encoding=defaults["output_encoding"],
        endpoints=tuple(endpoints),
        extra_config=dict(service_extra),
        debug_endpoint=bool(doc.get("debug_endpoint", False)),
        echo_endpoint=bool(doc.get("echo_endpoint", False)),
        disable_rest=defaults["disable_rest"],
        max_shutdown_wait_time=durations["max_shutdown_wait_time"],
        read_timeout=durations["read_timeout"],
        write_timeout=durations["write_timeout"],
        read_header_timeout=durations["read_header_timeout"],
        idle_timeout=durations["idle_timeout"],
        max_header_bytes=max_header_bytes,
        disable_keep_alives=bool(doc.get("disable_keep_alives", False)),
        sequential_start=doc.get("sequential_start") is True,
        disable_compression=bool(doc.get("disable_compression", False)),
        max_idle_connections=c.integer(doc, "max_idle_connections", "", 0),
        max_idle_connections_per_host=c.integer(doc, "max_idle_connections_per_host", "", 250) or 250,
        idle_connection_timeout=durations["idle_connection_timeout"],
        response_header_timeout=durations["response_header_timeout"],
        dialer_timeout=durations["dialer_timeout"],
        dialer_keep_alive=durations["dialer_keep_alive"],
        dns_cache_ttl=durations["dns_cache_ttl"],
        source=source,
        raw=doc,
        router=router,
        env_overrides=dict(env_overrides or {}),
        agents=agents,
    )
    return service, issues
