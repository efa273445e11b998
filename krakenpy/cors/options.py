"""``security/cors`` options: KrakenD's effective defaults, applied once.

krakend-cors fills an empty ``allow_origins`` and ``allow_headers`` with ``["*"]``; rs/cors fills an
empty ``allow_methods`` with GET, POST, HEAD and a zero ``options_success_status`` with 204;
``max_age`` is a Go duration truncated to whole seconds (negative means ``"0"``, zero means no
header). Where KrakenD ignores a bad value (an unparsable ``max_age``, a non-string list item),
krakenpy reports it at its JSON path instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from krakenpy.config.durations import parse_duration
from krakenpy.errors import ConfigError, ConfigIssue

__all__ = ["CorsOptions", "parse_cors"]

_BOOLS: Final = ("allow_credentials", "allow_private_network", "options_passthrough", "debug", "reflect_origin")
_LISTS: Final = ("allow_origins", "allow_methods", "allow_headers", "expose_headers")


@dataclass(frozen=True, slots=True)
class CorsOptions:
    """One ``security/cors`` value with KrakenD's defaults applied."""

    allow_origins: tuple[str, ...] = ("*",)
    allow_methods: tuple[str, ...] = ("GET", "POST", "HEAD")
    allow_headers: tuple[str, ...] = ("*",)
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    #: whole seconds; 0 sends no ``Access-Control-Max-Age``, a negative value sends ``0``
    max_age: int = 0
    allow_private_network: bool = False
    options_passthrough: bool = False
    options_success_status: int = 204
    debug: bool = False
    #: krakenpy: answer with the request's Origin instead of ``*`` when every origin is allowed
    reflect_origin: bool = False


def parse_cors(raw: Any, path: str) -> CorsOptions:
    """Options from the namespace value at JSON path ``path``; raises :class:`ConfigError`."""
    if not isinstance(raw, Mapping):
        raise ConfigError([ConfigIssue(path, "must be an object")])
    issues: list[ConfigIssue] = []
    lists: dict[str, tuple[str, ...]] = {}
    for key in _LISTS:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            issues.append(ConfigIssue(f"{path}.{key}", "must be a list of strings"))
            value = []
        lists[key] = tuple(value)
    flags: dict[str, bool] = {}
    for key in _BOOLS:
        flag = raw.get(key, False)
        if not isinstance(flag, bool):
            issues.append(ConfigIssue(f"{path}.{key}", "must be true or false"))
            flag = False
        flags[key] = flag
    max_age = _max_age(raw.get("max_age"), f"{path}.max_age", issues)
    status = _status(raw.get("options_success_status", 0), f"{path}.options_success_status", issues)
    if issues:
        raise ConfigError(issues)
    return CorsOptions(
        allow_origins=lists["allow_origins"] or ("*",),
        allow_methods=lists["allow_methods"] or ("GET", "POST", "HEAD"),
        allow_headers=lists["allow_headers"] or ("*",),
        expose_headers=lists["expose_headers"],
        allow_credentials=flags["allow_credentials"],
        max_age=max_age,
        allow_private_network=flags["allow_private_network"],
        options_passthrough=flags["options_passthrough"],
        options_success_status=status,
        debug=flags["debug"],
        reflect_origin=flags["reflect_origin"],
    )


def _max_age(value: Any, path: str, issues: list[ConfigIssue]) -> int:
    if value is None:
        return 0
    if not isinstance(value, str):
        # KrakenD's unchecked type assertion panics at start-up here
        issues.append(ConfigIssue(path, 'must be a Go duration string such as "12h"'))
        return 0
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        # Go's time.Duration is an int64 of nanoseconds: about 292 years at most
        why = "is longer than Go's maximum duration" if "maximum" in str(exc) else "is not a Go duration"
        issues.append(ConfigIssue(path, f'{value!r} {why} (expected e.g. "12h", "90s")'))
        return 0
    return int(seconds)  # Go's int(d.Seconds()) truncates towards zero


def _status(value: Any, path: str, issues: list[ConfigIssue]) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # a 1xx is not a final answer (Go would send it as an informational response, then 200)
    if isinstance(value, bool) or not isinstance(value, int) or not (value == 0 or 200 <= value <= 599):
        issues.append(ConfigIssue(path, "must be an HTTP status (200-599), or 0 for the default 204"))
        return 204
    return value or 204
