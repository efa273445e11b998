"""Martian's header, cookie and body modifiers, and the conditions of their filters."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from typing import Any

from krakenpy.martian.base import Compiled, Cond, both, fail, go_pattern, header_name, header_value, scoped, text
from krakenpy.martian.message import Message

__all__ = [
    "body_modifier",
    "cookie_condition",
    "cookie_modifier",
    "header_append",
    "header_blacklist",
    "header_condition",
    "header_copy",
    "header_id",
    "header_modifier",
    "header_regex_condition",
]


def header_modifier(spec: Mapping[str, Any], path: str) -> Compiled:
    name, value = header_name(spec, "name", path), header_value(spec, "value", path)
    return scoped(spec, path, *both(lambda m: m.set(name, value)))


def header_append(spec: Mapping[str, Any], path: str) -> Compiled:
    name, value = header_name(spec, "name", path), header_value(spec, "value", path)
    return scoped(spec, path, *both(lambda m: m.add(name, value)))


def header_copy(spec: Mapping[str, Any], path: str) -> Compiled:
    source, target = text(spec, "from", path), header_name(spec, "to", path)

    def copy(m: Message) -> None:
        values = m.values(source)
        if values:
            m.remove(target)
            for value in values:
                m.add(target, value)

    return scoped(spec, path, *both(copy))


def header_blacklist(spec: Mapping[str, Any], path: str) -> Compiled:
    names = spec.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise fail(f"{path}.names", "expected a list of header names")

    def drop(m: Message) -> None:
        for name in names:
            m.remove(name)

    return scoped(spec, path, *both(drop))


def header_id(spec: Mapping[str, Any], path: str) -> Compiled:
    def stamp(m: Message) -> None:
        if not m.values("X-Martian-Id"):
            m.set("X-Martian-Id", uuid.uuid4().hex)

    return scoped(spec, path, stamp, None)


def cookie_modifier(spec: Mapping[str, Any], path: str) -> Compiled:
    name, value = text(spec, "name", path), text(spec, "value", path, required=False)
    attributes = "".join(
        f"; {label}={spec[key]}"
        for key, label in (("path", "Path"), ("domain", "Domain"), ("expires", "Expires"), ("maxAge", "Max-Age"))
        if spec.get(key)
    )
    attributes += "; HttpOnly" if spec.get("httpOnly") else ""
    attributes += "; Secure" if spec.get("secure") else ""

    def request(m: Message) -> None:
        existing = m.values("Cookie")
        m.set("Cookie", "; ".join([*existing, f"{name}={value}"]))

    return scoped(spec, path, request, lambda m: m.add("Set-Cookie", f"{name}={value}{attributes}"))


def body_modifier(spec: Mapping[str, Any], path: str) -> Compiled:
    try:
        body = base64.b64decode(text(spec, "body", path, required=False), validate=True)
    except (binascii.Error, ValueError):
        raise fail(f"{path}.body", "expected base64 (the body must be base64-encoded)") from None
    content_type = text(spec, "contentType", path, required=False)

    def replace(m: Message) -> None:
        m.body = body
        m.remove("Content-Length")
        m.remove("Content-Encoding")
        if content_type:
            m.set("Content-Type", content_type)

    return scoped(spec, path, *both(replace))


def header_condition(spec: Mapping[str, Any], path: str) -> Cond:
    """``header.Filter``: the header is present (with ``value`` among its values, when given)."""
    name, value = text(spec, "name", path), text(spec, "value", path, required=False)
    return lambda m: bool(m.values(name)) and (not value or value in m.values(name))


def header_regex_condition(spec: Mapping[str, Any], path: str) -> Cond:
    """``header.RegexFilter``: a value of ``header`` matches ``regex`` (unanchored, as Go's MatchString)."""
    name = text(spec, "header", path)
    pattern = go_pattern(spec, path)
    return lambda m: any(pattern.search(v) for v in m.values(name))


def cookie_condition(spec: Mapping[str, Any], path: str) -> Cond:
    """``cookie.Filter``: the request cookie (or response ``Set-Cookie``) ``name`` [with ``value``]."""
    name, value = text(spec, "name", path), text(spec, "value", path, required=False)

    def cond(m: Message) -> bool:
        request = bool(m.url)
        for line in m.values("Cookie" if request else "Set-Cookie"):
            parts = line.split(";") if request else [line.split(";", 1)[0]]
            for part in parts:
                key, _, found = part.strip().partition("=")
                if key == name and (not value or found == value):
                    return True
        return False

    return cond
