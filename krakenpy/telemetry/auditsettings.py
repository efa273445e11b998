"""``telemetry/audit`` (krakenpy) options: the sink and queue at service level; ``sensitive`` and
``sample`` (allows recorded) at service or endpoint level."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.fingerprint import env_key
from krakenpy.names import valid_header_name, valid_header_value
from krakenpy.tlsfiles import unreadable

__all__ = ["AuditOptions", "parse_audit"]


@dataclass(frozen=True, slots=True)
class AuditOptions:
    sink: Literal["stdout", "file", "http", "syslog"] = "stdout"
    path: str = ""
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    queue_size: int = 10_000
    #: what a full queue does: ``drop`` new records (counted, logged), or ``block`` audited requests
    #: (refused 503 until the sink takes records again: no decision without its record)
    on_failure: Literal["drop", "block"] = "drop"
    #: record allows on every route (service level) / on this route (endpoint level)
    sensitive: bool = False
    #: fraction of allowed requests recorded where not sensitive
    sample: float = 0.0
    #: HMAC key of credential fingerprints (hex or text; from the environment variable it names);
    #: never in the options' repr (a traceback's locals, a debugger, a failed test's output)
    fingerprint_key: bytes = field(default=b"", repr=False)
    #: sink syslog: the RFC 5424 facility, and the files of a ``tls://`` collector's CA and client
    facility: int = 10
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    #: seconds between the trail's anchors in the application log while records flow (0: no anchors)
    anchor_interval: float = 0.0


def _collector_problem(url: str) -> str | None:
    """Why the collector URL could never take a batch (every record would be retried, then dropped)."""
    if not url.startswith(("http://", "https://")):
        return "sink 'http' needs an http(s) url"
    from yarl import URL

    from krakenpy.userinfo import mask_url

    try:
        host = URL(url).host
    except ValueError as exc:
        return f"url {mask_url(url)!r} not valid: {exc}"
    if not host or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return f"url {mask_url(url)!r} not valid: no host, or a space or control character"
    try:
        host.encode("idna")  # what the client's resolver does first: every batch would fail there
    except UnicodeError:
        return f"url {mask_url(url)!r} not valid: host {host!r} has an empty label or one over 63 characters"
    return None


def parse_audit(raw: Any, path: str) -> AuditOptions:
    o: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    sink = str(o.get("sink", "stdout"))
    if sink == "file" and not o.get("path"):
        raise ConfigError([ConfigIssue(f"{path}.path", "sink 'file' needs a path")])
    if sink == "http":
        problem = _collector_problem(str(o.get("url", "")))
        if problem is not None:
            raise ConfigError([ConfigIssue(f"{path}.url", problem)])
    facility = _syslog_options(o, sink, path)
    anchor_interval = _anchor_interval(o, path)
    key_env = str(o.get("fingerprint_key_env") or "")
    raw_headers = o.get("headers") or {}
    headers = tuple((str(k), str(v)) for k, v in (raw_headers.items() if isinstance(raw_headers, Mapping) else ()))
    issues: list[ConfigIssue] = []
    for name, value in headers:  # what no client would send (aiohttp's raises or writes it): every batch lost
        if not valid_header_name(name):
            issues.append(ConfigIssue(f"{path}.headers", f"invalid header field name {name!r}"))
        elif not valid_header_value(value):  # the value is not quoted: a credential
            message = "invalid header field value: control characters are not allowed"
            issues.append(ConfigIssue(f"{path}.headers.{name}", message))
    if issues:
        raise ConfigError(issues)
    return AuditOptions(
        sink=sink,  # type: ignore[arg-type]
        path=str(o.get("path") or ""),
        url=str(o.get("url") or ""),
        headers=headers,
        queue_size=int(o.get("queue_size", 10_000)),
        on_failure="block" if o.get("on_failure") == "block" else "drop",
        sensitive=bool(o.get("sensitive", False)),
        sample=float(o.get("sample", 0.0)),
        fingerprint_key=env_key(key_env) if key_env else b"",
        facility=facility,
        ca_file=str(o.get("ca_file") or ""),
        cert_file=str(o.get("cert_file") or ""),
        key_file=str(o.get("key_file") or ""),
        anchor_interval=anchor_interval,
    )


def _anchor_interval(o: Mapping[str, Any], path: str) -> float:
    """``anchor_interval``, a Go duration: at least a second ("0" or absent: no anchors)."""
    from krakenpy.config.durations import parse_duration

    raw = o.get("anchor_interval", "0")
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise ConfigError([ConfigIssue(f"{path}.anchor_interval", str(exc))]) from None
    if seconds != 0 and seconds < 1:
        message = f"{raw!r}: at least 1s (the trail's head is logged at most that often), or 0 for no anchors"
        raise ConfigError([ConfigIssue(f"{path}.anchor_interval", message)])
    return seconds


def _syslog_options(o: Mapping[str, Any], sink: str, path: str) -> int:
    """The facility of sink ``syslog`` after its url, facility and TLS files are looked at (every
    problem reported at once)."""
    from krakenpy.telemetry.auditsyslog import FACILITIES, parse_target

    issues: list[ConfigIssue] = []
    tls_keys = [key for key in ("ca_file", "cert_file", "key_file") if o.get(key)]
    if sink != "syslog":
        issues.extend(ConfigIssue(f"{path}.{key}", "applies to sink 'syslog' only") for key in tls_keys)
        if "facility" in o:
            issues.append(ConfigIssue(f"{path}.facility", "applies to sink 'syslog' only"))
        if issues:
            raise ConfigError(issues)
        return FACILITIES["authpriv"]
    url = str(o.get("url") or "")
    target = parse_target(url)
    if isinstance(target, str):
        issues.append(ConfigIssue(f"{path}.url", target))
    elif target.network != "tls":
        issues.extend(ConfigIssue(f"{path}.{key}", "applies to a tls:// syslog url only") for key in tls_keys)
    if bool(o.get("cert_file")) != bool(o.get("key_file")):
        missing = "key_file" if o.get("cert_file") else "cert_file"
        issues.append(ConfigIssue(f"{path}.{missing}", "cert_file and key_file go together (a client certificate)"))
    for key in tls_keys:
        file = str(o[key])
        if reason := unreadable(file):  # a regular file (a FIFO without a writer blocked check and run for ever)
            issues.append(ConfigIssue(f"{path}.{key}", f"cannot read {file}: {reason}"))
    name = str(o.get("facility", "authpriv"))
    if name not in FACILITIES:
        issues.append(ConfigIssue(f"{path}.facility", f"unknown syslog facility {name!r}"))
    if issues:
        raise ConfigError(issues)
    return FACILITIES[name]
