"""The options of ``grpc`` (service) and ``backend/grpc`` (backend), parsed without I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from krakenpy.components.base import Site
    from krakenpy.config.model import EndpointConfig
    from krakenpy.grpc.server_options import ServerOptions

__all__ = [
    "BackendOptions",
    "INT32_MAX",
    "CatalogOptions",
    "TlsOptions",
    "parse_backend_options",
    "parse_catalog_options",
    "split_method",
]

#: ``/package.Service/Method``: the fully-qualified service, then the method
_METHOD: Final = re.compile(r"^/([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)/([A-Za-z_][A-Za-z0-9_]*)$")
#: grpc-go's default limit of a received message
DEFAULT_MAX_RECV: Final = 4 * 1024 * 1024
#: grpcio's channel options are C ints: a larger size or idle time (ms) is taken as this, which is
#: no limit in practice (a protobuf message cannot exceed 2 GiB; ~24.8 days idle)
INT32_MAX: Final = 2**31 - 1


@dataclass(frozen=True, slots=True)
class CatalogOptions:
    """``grpc`` at the service root: the descriptor files and folders."""

    catalog: tuple[str, ...]
    #: ``server``: the methods krakenpy publishes over gRPC (``None`` without it)
    server: ServerOptions | None = None

    @property
    def workflows(self) -> tuple[EndpointConfig, ...]:
        """Every published method's workflow: the gateway parses their components as an endpoint's."""
        return tuple(m.workflow for m in self.server.methods) if self.server is not None else ()


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """``client_tls`` of a gRPC backend, as far as grpcio can apply it."""

    #: plaintext HTTP/2 (grpc-go's "insecure" credentials), whatever the host's scheme
    allow_insecure: bool = False
    ca_certs: tuple[str, ...] = ()
    client_cert: str = ""
    client_key: str = ""
    #: some TLS setting is present (without allow_insecure_connections): the channel uses TLS
    configured: bool = False


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """``backend/grpc``: how the request message is filled and the answer rendered."""

    service: str
    method: str
    use_request_body: bool = False
    disable_query_params: bool = False
    input_mapping: Mapping[str, str] = field(default_factory=dict)
    header_mapping: Mapping[str, str] = field(default_factory=dict)
    camel_case_response: bool = False
    enum_as_string: bool = False
    timestamp_as_string: bool = False
    duration_as_string: bool = False
    remove_unset: bool = False
    #: strings for ``bytes`` fields are the bytes themselves (UTF-8), not base64
    assume_bytes: bool = False
    max_recv: int = DEFAULT_MAX_RECV
    #: seconds an idle channel stays open (0: grpcio's default)
    idle_timeout: float = 0.0
    tls: TlsOptions = TlsOptions()


def split_method(url_pattern: str) -> tuple[str, str] | None:
    """``/pkg.Service/Method`` → ``("pkg.Service", "Method")``; ``None`` when it is not one."""
    match = _METHOD.match(url_pattern)
    return (match.group(1), match.group(2)) if match else None


def parse_catalog_options(raw: Mapping[str, Any], path: str, site: Site | None = None) -> CatalogOptions:
    """``grpc``: the schema checked the types; empty entries are errors (they would name the cwd)."""
    catalog = tuple(str(entry) for entry in raw.get("catalog") or ())
    issues = [ConfigIssue(f"{path}.catalog[{i}]", "an empty path") for i, entry in enumerate(catalog) if not entry]
    server = None
    if isinstance(raw.get("server"), Mapping) and site is not None:
        from krakenpy.grpc.server_options import parse_server_options

        try:
            server = parse_server_options(raw["server"], f"{path}.server", site)
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return CatalogOptions(catalog=catalog, server=server)


def _strings(raw: object) -> dict[str, str]:
    # only "@" keys are comments here: "_id" or "$filter" may well be parameter and header names
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items() if not str(k).startswith("@") and isinstance(v, str)}


def _tls(raw: object) -> TlsOptions:
    if not isinstance(raw, Mapping):
        return TlsOptions()
    insecure = bool(raw.get("allow_insecure_connections", False))
    cas = tuple(str(c) for c in raw.get("ca_certs") or ())
    certs = [c for c in raw.get("client_certs") or () if isinstance(c, Mapping)]
    cert = str(certs[0].get("certificate", "")) if certs else ""
    key = str(certs[0].get("private_key", "")) if certs else ""
    configured = not insecure and bool(cas or cert)
    return TlsOptions(insecure, cas, cert, key, configured)


def parse_backend_options(raw: Mapping[str, Any], *, url_pattern: str, path: str, owner: str) -> BackendOptions:
    """``backend/grpc``: the method named by the backend's ``url_pattern``, and the options."""
    method = split_method(url_pattern)
    if method is None:
        message = f"a gRPC backend's url_pattern names the method as /package.Service/Method, not {url_pattern!r}"
        raise ConfigError([ConfigIssue(f"{owner}.url_pattern", message)])
    idle = 0.0
    if raw.get("idle_connection_timeout") is not None:
        try:
            idle = parse_duration(raw["idle_connection_timeout"])
        except ValueError as exc:
            raise ConfigError([ConfigIssue(f"{path}.idle_connection_timeout", str(exc))]) from None
    tls_raw = raw.get("client_tls")
    return BackendOptions(
        service=method[0],
        method=method[1],
        use_request_body=bool(raw.get("use_request_body", False)),
        disable_query_params=bool(raw.get("disable_query_params", False)),
        input_mapping=_strings(raw.get("input_mapping")),
        header_mapping={k.lower(): v.lower() for k, v in _strings(raw.get("header_mapping")).items()},
        camel_case_response=raw.get("response_naming_convention") == "camelCase",
        enum_as_string=bool(raw.get("output_enum_as_string", False)),
        timestamp_as_string=bool(raw.get("output_timestamp_as_string", False)),
        duration_as_string=bool(raw.get("output_duration_as_string", False)),
        remove_unset=bool(raw.get("output_remove_unset_values", False)),
        assume_bytes=bool(raw.get("input_assume_bytes", False)),
        max_recv=min(int(raw.get("max_call_recv_msg_size") or DEFAULT_MAX_RECV), INT32_MAX),
        idle_timeout=min(idle, INT32_MAX / 1000),
        tls=_tls(tls_raw),
    )
