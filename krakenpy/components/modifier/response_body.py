"""``modifier/response-body`` (endpoint and backend, KrakenD Enterprise field names): a list of
``modifiers`` edits string fields of the answer in order: ``regexp`` (Go's ``ReplaceAllString``,
``${1}``), ``literal`` (every occurrence), ``upper``, ``lower`` and ``trim`` (the characters of
``find`` off both ends; whitespace without ``find``). A ``field`` is a dotted path through objects
and arrays: ``*`` is every element of an array or every value of an object, a number an array's
index. A field that is absent or not a string is left alone. At an endpoint it edits the merged
answer (after the Lua ``post`` scripts and ``modifier/jmespath``), at a backend that backend's answer
before the merge; ``no-op`` answers are not edited. The patterns compile at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from krakenpy.components.base import Component, Site
from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.proxy.types import Middleware, Proxy, Request, Response
from krakenpy.resources import Resources

__all__ = ["COMPONENT", "NAMESPACE", "Edit", "apply_edit"]

NAMESPACE: Final = "modifier/response-body"
KINDS: Final = ("regexp", "literal", "upper", "lower", "trim")
#: Go's unicode.IsSpace (what TrimSpace trims); Python's strip() also trims U+001C..U+001F
_SPACE: Final = (
    " \t\n\v\f\r\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True, slots=True)
class Edit:
    """One modifier: the path it walks and what it does to the string at its end."""

    path: tuple[str, ...]
    change: Callable[[str], str]


@cache
def _special_runes(method: Callable[[str], str]) -> dict[str, str]:
    """The runes ``method`` does not map to one rune, each to what Go gives: itself (``ß``: Python's
    upper() writes ``SS``), and ``Σ`` to ``σ`` for lower() (Python writes a final ``ς``). Python's
    unconditional multi-rune mappings are all in the BMP: scanned once per process (~40 ms)."""
    special = {c: c for c in map(chr, range(0x10000)) if len(method(c)) != 1}
    if method is str.lower:
        special["\u03a3"] = "\u03c3"
    return special


def _per_rune(method: Callable[[str], str]) -> Callable[[str], str]:
    """Go's rune-by-rune mapping at C speed: ``method`` on the whole text when that is the same (ASCII,
    or no special rune); else the special runes are split out and mapped by a table, the runs
    between them by one ``method`` call (no per-character Python loop on the event loop)."""
    special = _special_runes(method)
    table = str.maketrans(special)
    runs = re.compile("([" + "".join(map(re.escape, special)) + "]+)")

    def change(text: str) -> str:
        if text.isascii():
            return method(text)
        result = method(text)
        # every rune mapped to one rune and no final-sigma context: what Go gives
        sigmas = 0 if method is str.upper else text.count("\u03a3")
        if len(result) == len(text) and not sigmas:
            return result
        if "\0" in text:  # the separator below would be ambiguous: rune by rune
            return "".join(c2 if len(c2 := method(c)) == 1 else special.get(c, c) for c in text)
        parts = runs.split(text)
        # even parts hold no special rune, odd ones only special runes: each kind mapped in one call
        parts[0::2] = method("\0".join(parts[0::2])).split("\0")
        parts[1::2] = "\0".join(parts[1::2]).translate(table).split("\0")
        return "".join(parts)

    return change


def _change(kind: str, spec: Mapping[str, Any], where: str) -> Callable[[str], str]:
    find = str(spec.get("find", ""))
    replacement = str(spec.get("replace", ""))
    if kind == "regexp":
        from krakenpy.goregex import GoRegexError, compile_go

        try:
            regex = compile_go(find)
        except GoRegexError as exc:
            raise ConfigError([ConfigIssue(f"{where}.find", f"invalid regular expression: {exc}")]) from None
        return lambda text: regex.replace_all(text, replacement)
    if kind == "literal":
        if not find:  # Go's ReplaceAll with "" inserts between every rune: never what is meant
            raise ConfigError([ConfigIssue(f"{where}.find", "a literal replacement needs a non-empty find")])
        return lambda text: text.replace(find, replacement)
    if kind == "upper":
        return _per_rune(str.upper)
    if kind == "lower":
        return _per_rune(str.lower)
    cutset = find or _SPACE
    return lambda text: text.strip(cutset)


def _parse(raw: Mapping[str, Any], site: Site) -> tuple[Edit, ...]:
    edits: list[Edit] = []
    issues: list[ConfigIssue] = []
    for index, item in enumerate(raw.get("modifiers", ())):
        kinds = [k for k in item if k in KINDS]
        if len(kinds) != 1:
            issues.append(ConfigIssue(site.at("modifiers", index), f"one modifier per item: one of {', '.join(KINDS)}"))
            continue
        kind = kinds[0]
        spec = item[kind]
        where = site.at("modifiers", index, kind)
        field = spec.get("field", "")
        if not field or "" in field.split("."):
            issues.append(ConfigIssue(f"{where}.field", f"not a dotted field path: {field!r}"))
            continue
        try:
            edits.append(Edit(tuple(field.split(".")), _change(kind, spec, where)))
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return tuple(edits)


def _walk(node: Any, path: tuple[str, ...], depth: int, change: Callable[[str], str]) -> Any:
    """``node`` with ``change`` applied at ``path[depth:]``; the same object when nothing changed, a
    copy along the changed branches otherwise (an answer may be shared: a cache, a static backend)."""
    if depth == len(path):
        return change(node) if isinstance(node, str) else node
    key = path[depth]
    if isinstance(node, dict):
        keys = node.keys() if key == "*" else (key,) if key in node else ()
        changed = {k: new for k in keys if (new := _walk(node[k], path, depth + 1, change)) is not node[k]}
        return {**node, **changed} if changed else node
    if isinstance(node, list):
        if key == "*":
            indexes: range | tuple[int, ...] = range(len(node))
        elif key.isascii() and key.isdigit() and int(key) < len(node):  # "²" is a digit int() refuses
            indexes = (int(key),)
        else:
            return node
        copy: list[Any] | None = None
        for i in indexes:
            new = _walk(node[i], path, depth + 1, change)
            if new is not node[i]:
                copy = copy if copy is not None else list(node)
                copy[i] = new
        return copy if copy is not None else node
    return node


def apply_edit(data: dict[str, Any], edit: Edit) -> dict[str, Any]:
    """``data`` with one modifier applied."""
    result: dict[str, Any] = _walk(data, edit.path, 0, edit.change)
    return result


def _middleware(edits: tuple[Edit, ...]) -> Middleware:
    def middleware(next_proxy: Proxy) -> Proxy:
        async def modified(request: Request) -> Response:
            response = await next_proxy(request)
            if response.body is None and response.data:  # a no-op answer is the backend's bytes
                data = response.data
                for edit in edits:
                    data = apply_edit(data, edit)
                response.data = data
            return response

        return modified

    return middleware


async def _build_proxy(edits: tuple[Edit, ...], site: Site, resources: Resources) -> Middleware | None:
    return _middleware(edits) if site.level == "endpoint" and edits else None


async def _build_backend(edits: tuple[Edit, ...], site: Site, resources: Resources) -> Middleware | None:
    return _middleware(edits) if site.level == "backend" and edits else None


COMPONENT: Final = Component(
    namespace=NAMESPACE,
    levels=frozenset({"endpoint", "backend"}),
    parse=_parse,
    summary="regexp, literal, upper, lower and trim edits of string fields of the answer (paths with * and indexes)",
    proxy=_build_proxy,
    backend=_build_backend,
    edition="ee",
)
