"""Shared pieces of the Martian compiler: step types, field readers and the ``scope`` rule."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.goregex import GoRegex, GoRegexError, compile_go
from krakenpy.martian.message import Message
from krakenpy.names import valid_header_name

__all__ = ["Compiled", "Cond", "Step", "both", "fail", "go_pattern", "header_name", "header_value", "scoped", "text"]

Step: TypeAlias = Callable[[Message], None]
#: (request step, response step); ``None`` where the scope leaves the phase alone
Compiled: TypeAlias = tuple[Step | None, Step | None]
#: a filter's condition
Cond: TypeAlias = Callable[[Message], bool]
_SCOPES = frozenset({"request", "response"})
#: control bytes a header value cannot carry (horizontal tab aside), as httpguts.ValidHeaderFieldValue
_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def fail(path: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(path, message)])


def text(spec: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str:
    """A string field; ``required`` ones must be non-empty."""
    value = spec.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise fail(f"{path}.{key}", "expected a non-empty string" if required else "expected a string")
    return value


def header_name(spec: Mapping[str, Any], key: str, path: str) -> str:
    """A header name a modifier sets: Go's client refuses a request carrying an invalid one (every
    request would fail with "net/http: invalid header field name"), so it is a configuration error."""
    name = text(spec, key, path)
    if not valid_header_name(name):
        raise fail(f"{path}.{key}", f"invalid header field name {name!r}")
    return name


def header_value(spec: Mapping[str, Any], key: str, path: str) -> str:
    """A header value a modifier sets: no control bytes but the tab (CR/LF would split the message)."""
    value = text(spec, key, path, required=False)
    if _VALUE_CONTROL.search(value) is not None:
        raise fail(f"{path}.{key}", "invalid header field value: control characters are not allowed")
    return value


def scoped(spec: Mapping[str, Any], path: str, request: Step | None, response: Step | None) -> Compiled:
    """Keep the steps of the phases ``scope`` names (default: both)."""
    scope = spec.get("scope") or ["request", "response"]
    if not isinstance(scope, list) or not set(scope) <= _SCOPES:
        raise fail(f"{path}.scope", 'expected a list of "request" and/or "response"')
    return (request if "request" in scope else None, response if "response" in scope else None)


def both(step: Step) -> tuple[Step, Step]:
    return step, step


def go_pattern(spec: Mapping[str, Any], path: str) -> GoRegex:
    """The ``regex`` field, compiled as Go's ``regexp`` does (RE2 syntax, linear-time matching:
    a header or URL a client chooses cannot make a match take long)."""
    try:
        return compile_go(text(spec, "regex", path))
    except GoRegexError as exc:
        raise fail(f"{path}.regex", f"invalid regular expression: {exc}") from None
