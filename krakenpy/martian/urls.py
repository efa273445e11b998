"""Martian's URL, query string, port and stash modifiers, and the conditions of their filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from krakenpy.martian.base import Compiled, Cond, fail, go_pattern, scoped, text
from krakenpy.martian.message import Message

__all__ = [
    "port_condition",
    "port_modifier",
    "querystring_condition",
    "querystring_modifier",
    "stash_modifier",
    "url_condition",
    "url_modifier",
    "url_regex_condition",
]

_URL_PARTS = ("scheme", "host", "path", "query")


def _query_pairs(m: Message) -> list[tuple[str, str]]:
    return parse_qsl(m.split().query, keep_blank_values=True)


def querystring_modifier(spec: Mapping[str, Any], path: str) -> Compiled:
    """Set query parameter ``name`` to ``value`` on the upstream request."""
    name, value = text(spec, "name", path), text(spec, "value", path, required=False)

    def set_query(m: Message) -> None:
        if not m.url:
            return
        pairs = [(k, v) for k, v in _query_pairs(m) if k != name] + [(name, value)]
        m.replace_url(m.split()._replace(query=urlencode(pairs)))

    return scoped(spec, path, set_query, None)


def querystring_condition(spec: Mapping[str, Any], path: str) -> Cond:
    """``querystring.Filter``: the parameter is present (with ``value``, when given)."""
    name, value = text(spec, "name", path), text(spec, "value", path, required=False)

    def cond(m: Message) -> bool:
        values = [v for k, v in _query_pairs(m) if k == name] if m.url else []
        return bool(values) and (not value or value in values)

    return cond


def url_modifier(spec: Mapping[str, Any], path: str) -> Compiled:
    """Replace the non-empty parts among ``scheme``, ``host``, ``path`` and ``query``."""
    wanted = {key: text(spec, key, path, required=False) for key in _URL_PARTS}
    changes = {"netloc" if k == "host" else k: v for k, v in wanted.items() if v}

    def change(m: Message) -> None:
        if m.url and changes:
            m.replace_url(m.split()._replace(**changes))

    return scoped(spec, path, change, None)


def url_condition(spec: Mapping[str, Any], path: str) -> Cond:
    """``url.Filter``: every non-empty part given equals the request's."""
    wanted = {key: text(spec, key, path, required=False) for key in _URL_PARTS}

    def cond(m: Message) -> bool:
        if not m.url:
            return False
        parts = m.split()
        actual = {"scheme": parts.scheme, "host": parts.netloc, "path": parts.path, "query": parts.query}
        return all(actual[k] == v for k, v in wanted.items() if v)

    return cond


def url_regex_condition(spec: Mapping[str, Any], path: str) -> Cond:
    """``url.RegexFilter``: the request URL matches ``regex``."""
    pattern = go_pattern(spec, path)
    return lambda m: bool(m.url) and pattern.search(m.url)


def port_modifier(spec: Mapping[str, Any], path: str) -> Compiled:
    port = spec.get("port")
    default = bool(spec.get("defaultForScheme"))
    remove = bool(spec.get("remove"))

    def change(m: Message) -> None:
        if not m.url:
            return
        parts = m.split()
        host = parts.hostname or ""
        if remove or (default and parts.scheme in ("http", "https")):
            netloc = host
        elif isinstance(port, int):
            netloc = f"{host}:{port}"
        else:
            return
        m.replace_url(parts._replace(netloc=netloc))

    return scoped(spec, path, change, None)


def stash_modifier(spec: Mapping[str, Any], path: str) -> Compiled:
    header = text(spec, "headerName", path)
    return scoped(spec, path, lambda m: m.set(header, m.url), None)


def port_condition(spec: Mapping[str, Any], path: str) -> Cond:
    """``port.Filter``: the request's port (default for its scheme when absent) is ``port``."""
    port = spec.get("port")
    if not isinstance(port, int):
        raise fail(f"{path}.port", "expected a port number")

    def cond(m: Message) -> bool:
        if not m.url:
            return False
        parts = m.split()
        return (parts.port or (443 if parts.scheme == "https" else 80)) == port

    return cond
