"""``security/http`` options (krakend-httpsecure over unrolled/secure v1.15), with the *code's*
defaults: every check and header is off unless configured, whatever the schema's ``default`` says.

Host regexes are Go regexps wrapped as ``^…$`` (so ``a|b`` reads ``^a`` or ``b$``, as in KrakenD);
a bad one is a config error here, where unrolled/secure panics at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.goregex import GoRegex, GoRegexError, compile_go

__all__ = ["SecureOptions", "parse_secure"]

_BOOLS: Final = (
    "allowed_hosts_are_regex",
    "ssl_redirect",
    "sts_include_subdomains",
    "force_sts_header",
    "frame_deny",
    "content_type_nosniff",
    "browser_xss_filter",
    "is_development",
)
_STRINGS: Final = (
    "ssl_host",
    "custom_frame_options_value",
    "content_security_policy",
    "referrer_policy",
    "hpkp_public_key",
)
_LISTS: Final = ("allowed_hosts", "host_proxy_headers")


@dataclass(frozen=True, slots=True)
class SecureOptions:
    """One ``security/http`` value."""

    allowed_hosts: tuple[str, ...] = ()
    allowed_hosts_are_regex: bool = False
    #: the compiled ``^host$`` patterns when ``allowed_hosts_are_regex``
    host_patterns: tuple[GoRegex, ...] = ()
    host_proxy_headers: tuple[str, ...] = ()
    ssl_redirect: bool = False
    ssl_host: str = ""
    ssl_proxy_headers: tuple[tuple[str, str], ...] = ()
    sts_seconds: int = 0
    sts_include_subdomains: bool = False
    force_sts_header: bool = False
    frame_deny: bool = False
    custom_frame_options_value: str = ""
    content_type_nosniff: bool = False
    browser_xss_filter: bool = False
    content_security_policy: str = ""
    referrer_policy: str = ""
    is_development: bool = False
    #: read but ignored, as unrolled/secure v1.15 no longer sends Public-Key-Pins
    hpkp_public_key: str = ""


def parse_secure(raw: Any, path: str) -> SecureOptions:
    """Options from the namespace value at JSON path ``path``; raises :class:`ConfigError`."""
    if not isinstance(raw, Mapping):
        raise ConfigError([ConfigIssue(path, "must be an object")])
    issues: list[ConfigIssue] = []
    values: dict[str, Any] = {}
    for key in _LISTS:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            issues.append(ConfigIssue(f"{path}.{key}", "must be a list of strings"))
            value = []
        values[key] = tuple(value)
    for key in _BOOLS:
        flag = raw.get(key, False)
        if not isinstance(flag, bool):
            issues.append(ConfigIssue(f"{path}.{key}", "must be true or false"))
            flag = False
        values[key] = flag
    for key in _STRINGS:
        text = raw.get(key, "")
        if not isinstance(text, str):
            issues.append(ConfigIssue(f"{path}.{key}", "must be a string"))
            text = ""
        values[key] = text
    proxy = raw.get("ssl_proxy_headers", {})
    if not isinstance(proxy, Mapping) or not all(isinstance(v, str) for v in proxy.values()):
        issues.append(ConfigIssue(f"{path}.ssl_proxy_headers", "must map header names to the values that mean https"))
        proxy = {}
    sts = raw.get("sts_seconds", 0)
    if isinstance(sts, float) and sts.is_integer():
        sts = int(sts)
    if isinstance(sts, bool) or not isinstance(sts, int) or sts < 0:
        issues.append(ConfigIssue(f"{path}.sts_seconds", "must be a whole number of seconds (0 = no HSTS)"))
        sts = 0
    patterns: list[GoRegex] = []
    if values["allowed_hosts_are_regex"]:
        for i, host in enumerate(values["allowed_hosts"]):
            try:
                patterns.append(compile_go(f"^{host}$"))
            except GoRegexError as exc:
                issues.append(ConfigIssue(f"{path}.allowed_hosts[{i}]", f"not a Go regular expression: {exc}"))
    if issues:
        raise ConfigError(issues)
    return SecureOptions(
        host_patterns=tuple(patterns),
        ssl_proxy_headers=tuple(proxy.items()),
        sts_seconds=sts,
        **values,
    )
