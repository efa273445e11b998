"""``telemetry/opentelemetry-security`` (KrakenD Enterprise): extra headers, usually credentials,
sent with every export of the named OTLP exporters of ``telemetry/opentelemetry`` (HTTP headers, or
gRPC metadata). The values are secrets: they never appear in a ``repr``, a log line or an error."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["NAMESPACE", "OtelSecurity", "env_headers", "parse_otel_security"]

NAMESPACE: Final = "telemetry/opentelemetry-security"
#: RFC 9110 token: a name that also works as gRPC metadata once lower-cased
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: printable ASCII and tabs: what gRPC metadata carries as text (and every HTTP client sends as is)
_BAD_VALUE: Final = re.compile(r"[^\t\x20-\x7e]")
_BINARY: Final = "a -bin name is binary gRPC metadata: not supported"
_NOT_TEXT: Final = "expected printable ASCII (no control characters)"


@dataclass(frozen=True, slots=True)
class OtelSecurity:
    """Exporter name → its extra headers (names lower-cased)."""

    headers: Mapping[str, tuple[tuple[str, str], ...]]
    #: exporters with a header whose value is empty (a credential the environment did not fill)
    empty: tuple[str, ...] = ()

    def __repr__(self) -> str:  # the values are credentials
        names = {name: [h for h, _ in pairs] for name, pairs in self.headers.items()}
        return f"OtelSecurity(headers={names})"


def parse_otel_security(raw: Any, path: str) -> OtelSecurity:
    """A value (at ``path``) → headers by exporter; bad header names and values (which no HTTP
    client could send) are :class:`ConfigError` s, quoting the name only."""
    raw = raw if isinstance(raw, Mapping) else {}
    issues: list[ConfigIssue] = []
    found: dict[str, tuple[tuple[str, str], ...]] = {}
    empty: list[str] = []
    items = raw.get("otlp")
    for i, item in enumerate(items if isinstance(items, list) else []):
        item = item if isinstance(item, Mapping) else {}
        where = f"{path}.otlp[{i}]"
        name = item.get("name")
        if not isinstance(name, str) or not name:
            issues.append(ConfigIssue(f"{where}.name", "name an exporter of telemetry/opentelemetry"))
            continue
        if name in found:
            issues.append(ConfigIssue(f"{where}.name", f"exporter {name!r} is listed twice"))
        headers = item.get("headers")
        pairs: list[tuple[str, str]] = []
        for header, value in (headers if isinstance(headers, Mapping) else {}).items():
            if not _TOKEN.fullmatch(header):
                issues.append(ConfigIssue(f"{where}.headers", f"{header!r} is not a valid header name"))
            elif header.lower().endswith("-bin"):
                # gRPC sends a -bin name's value base64-encoded as bytes: a text credential there is mangled
                issues.append(ConfigIssue(f"{where}.headers.{header}", _BINARY))
            elif not isinstance(value, str) or _BAD_VALUE.search(value):
                issues.append(ConfigIssue(f"{where}.headers.{header}", _NOT_TEXT))
            else:
                pairs.append((header.lower(), value.strip()))
                if not value.strip() and name not in empty:
                    empty.append(name)
        found[name] = tuple(pairs)
    if issues:
        raise ConfigError(issues)
    return OtelSecurity(found, tuple(empty))


#: the headers an export writes itself (otel-go's exporters set them over the user's)
_EXPORT_OWN: Final = frozenset({"content-type", "content-length", "content-encoding", "host"})
#: a ``%`` that does not start an escape (Go's ``url.PathUnescape`` refuses the value)
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def env_headers(signal: str, environ: Mapping[str, str] | None = None) -> tuple[str, tuple[tuple[str, str], ...], str]:
    """``(variable, headers, problem)`` of the OTLP export headers the environment gives ``signal``
    ("TRACES", "METRICS"): ``OTEL_EXPORTER_OTLP_{signal}_HEADERS`` when set and not empty, else
    ``OTEL_EXPORTER_OTLP_HEADERS`` (the OTel specification; otel-go's exporters, KrakenD's, read them
    under their explicit options). ``name=value`` entries, comma-separated, blanks around both
    trimmed, the value percent-decoded; names lower-cased (gRPC metadata's rule). An entry otel-go
    skips (no ``=``, a name that is no token, a bad escape) is skipped, and so is one no client could
    send; ``problem`` numbers them (never a value: they are credentials). Empty variable: ``""``."""
    env = os.environ if environ is None else environ
    variable = f"OTEL_EXPORTER_OTLP_{signal}_HEADERS"
    if not env.get(variable, "").strip():
        variable = "OTEL_EXPORTER_OTLP_HEADERS"
    raw = env.get(variable, "")
    if not raw.strip():
        return "", (), ""
    found: dict[str, str] = {}
    bad: list[str] = []
    for i, entry in enumerate(raw.split(","), 1):
        name, eq, value = entry.partition("=")
        name = name.strip()
        if not eq and not name:  # an empty entry (a trailing comma)
            continue
        if not eq or not _TOKEN.fullmatch(name) or _BAD_ESCAPE.search(value):
            bad.append(str(i))
            continue
        text = unquote(value).strip()
        if _BAD_VALUE.search(text) or name.lower().endswith("-bin") or name.lower() in _EXPORT_OWN:
            bad.append(str(i))
            continue
        found[name.lower()] = text
    problem = f"{variable}: entries {', '.join(bad)} ignored (not name=value with a header name and a printable value)"
    return variable, tuple(found.items()), problem if bad else ""
