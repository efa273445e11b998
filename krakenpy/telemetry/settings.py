"""Typed options of the ``telemetry/*`` namespaces and their pure parsers (run by ``check``).

The JSON Schemas own types and enums; these functions apply KrakenD's defaults, its lenient
fallbacks (an unknown ``format`` is ``default``, a facility outside local0–7 is local3) and the
cross-field rules, raising :class:`~krakenpy.errors.ConfigError` at the field's JSON path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.names import canonical_header
from krakenpy.telemetry.logfmt import LEVELS, PatternError, PatternFormatter
from krakenpy.telemetry.redact import RedactionOptions
from krakenpy.telemetry.syslog import FACILITIES

__all__ = [
    "AccessLogOptions",
    "GelfOptions",
    "LoggingOptions",
    "MetricsOptions",
    "parse_access_log",
    "parse_gelf",
    "parse_logging",
    "parse_logstash",
    "parse_metrics",
]


def _obj(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _fail(path: str, field: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(f"{path}.{field}" if field else path, message)])


@dataclass(frozen=True, slots=True)
class LoggingOptions:
    """``telemetry/logging``."""

    level: int = logging.DEBUG
    prefix: str = ""
    stdout: bool = False
    syslog: bool = False
    syslog_facility: str = "local3"
    format: Literal["default", "logstash", "custom"] = "default"
    custom_format: str = ""


def parse_logging(raw: Any, path: str) -> LoggingOptions:
    o = _obj(raw)
    level_name = str(o.get("level", "")).upper()
    if level_name not in LEVELS:
        raise _fail(path, "level", f"unknown level {o.get('level')!r}: DEBUG, INFO, NOTICE, WARNING, ERROR or CRITICAL")
    fmt = str(o.get("format") or "default")
    if fmt not in ("default", "logstash", "custom"):
        fmt = "default"  # go-logging falls back to its default pattern
    custom = str(o.get("custom_format") or "")
    if fmt == "custom":
        if not custom:
            raise _fail(path, "custom_format", "format 'custom' needs a custom_format")
        try:
            PatternFormatter(custom)
        except PatternError as exc:
            raise _fail(path, "custom_format", str(exc)) from None
    facility = str(o.get("syslog_facility") or "local3")
    return LoggingOptions(
        level=LEVELS[level_name],
        prefix=str(o.get("prefix") or ""),
        stdout=bool(o.get("stdout", False)),
        syslog=bool(o.get("syslog", False)),
        syslog_facility=facility if facility in FACILITIES else "local3",
        format=fmt,  # type: ignore[arg-type]
        custom_format=custom,
    )


def parse_logstash(raw: Any, path: str) -> bool:
    """``telemetry/logstash``: enabled or not."""
    return bool(_obj(raw).get("enabled", False))


@dataclass(frozen=True, slots=True)
class GelfOptions:
    """``telemetry/gelf``."""

    host: str
    port: int
    tcp: bool = False


def parse_gelf(raw: Any, path: str) -> GelfOptions:
    o = _obj(raw)
    address = str(o.get("address") or "")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise _fail(path, "address", f"address {address!r} must be host:port")
    return GelfOptions(host=host.strip("[]") or "127.0.0.1", port=int(port), tcp=bool(o.get("enable_tcp", False)))


@dataclass(frozen=True, slots=True)
class AccessLogOptions:
    """``telemetry/access_log`` (krakenpy): access-log format and destinations, request ids, redaction."""

    format: Literal["gin", "json", "common", "combined"] = "gin"
    stdout: bool = True
    file: str = ""
    request_id_header: str = "X-Request-Id"
    trust_request_id: bool = True
    return_request_id: bool = True
    forward_request_id: bool = True
    redaction: RedactionOptions = RedactionOptions()


def parse_access_log(raw: Any, path: str) -> AccessLogOptions:
    o = _obj(raw)
    r = _obj(o.get("redact"))
    header = o.get("request_id_header", "X-Request-Id")
    body_paths = tuple(str(p) for p in r.get("body_paths", ()))
    from krakenpy.telemetry.jsonpath import compile_selector

    for i, selector in enumerate(body_paths):
        try:
            compile_selector(selector)
        except ValueError as exc:
            raise _fail(path, f"redact.body_paths[{i}]", str(exc)) from None
    redaction = RedactionOptions(
        headers=tuple(str(h) for h in r.get("headers", ())),
        query_keys=tuple(str(k) for k in r.get("query_keys", ())),
        path_params=tuple(str(k) for k in r.get("path_params", ())),
        body_paths=body_paths,
        body_mode=str(r.get("body_mode", "mask")),  # type: ignore[arg-type]
        replace_defaults=bool(r.get("replace_defaults", False)),
        hash_key=str(r.get("hash_key", "")).encode(),
    )
    return AccessLogOptions(
        format=str(o.get("format", "gin")),  # type: ignore[arg-type]
        stdout=bool(o.get("stdout", True)),
        file=str(o.get("file") or ""),
        # Go's canonical spelling, as the header maps to backends are keyed: the id then replaces a
        # client's copy whatever case the config and the client used, instead of going beside it
        request_id_header=canonical_header(str(header)) if header else "",
        trust_request_id=bool(o.get("trust_request_id", True)),
        return_request_id=bool(o.get("return_request_id", True)),
        forward_request_id=bool(o.get("forward_request_id", True)),
        redaction=redaction,
    )


@dataclass(frozen=True, slots=True)
class MetricsOptions:
    """``telemetry/metrics`` (krakend-metrics, ``/__stats``)."""

    collection_time: float = 60.0
    listen_address: str = ":8090"
    proxy_disabled: bool = False
    backend_disabled: bool = False
    router_disabled: bool = False
    endpoint_disabled: bool = False

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen_address.rpartition(":")
        return host.strip("[]"), int(port)


def parse_metrics(raw: Any, path: str) -> MetricsOptions:
    o = _obj(raw)
    try:
        collection = parse_duration(o.get("collection_time", "60s"))
    except ValueError as exc:
        raise _fail(path, "collection_time", str(exc)) from None
    if collection <= 0:
        collection = 60.0
    address = str(o.get("listen_address") or ":8090")
    _, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise _fail(path, "listen_address", f"listen_address {address!r} must be [host]:port")
    return MetricsOptions(
        collection_time=collection,
        listen_address=address,
        proxy_disabled=bool(o.get("proxy_disabled", False)),
        backend_disabled=bool(o.get("backend_disabled", False)),
        router_disabled=bool(o.get("router_disabled", False)),
        endpoint_disabled=bool(o.get("endpoint_disabled", False)),
    )
