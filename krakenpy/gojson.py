"""JSON as Go's ``encoding/json`` writes it, for any value krakenpy may hold (a leaf module).

orjson does the work; what it refuses takes an iterative path: nesting deeper than orjson's 254
levels (Go has no such limit), and text holding surrogate escapes (bytes that were not UTF-8 in a
client's header or query), written as U+FFFD as Go does for invalid UTF-8. A cycle (a Lua table put
into itself) raises ``ValueError``, as Go's encoder refuses one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["go_json", "lenient_json", "text_json", "valid_text"]

_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _go_str(text: str) -> str:
    """Text as Go's encoder sees it: each byte that was not UTF-8 (a surrogate escape) is U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return _go_str(key)
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _slow_json(value: Any) -> bytes:
    """What orjson refuses (nesting deeper than 254, surrogates): iteratively, cycles refused."""
    out: list[bytes] = []
    active: set[int] = set()
    todo: list[tuple[int, Any]] = [(0, value)]  # (0, value to encode) | (1, raw bytes) | (2, id done)
    while todo:
        kind, item = todo.pop()
        if kind == 1:
            out.append(item)
        elif kind == 2:
            active.discard(item)
        elif isinstance(item, dict | list | tuple):
            ident = id(item)
            if ident in active:
                raise ValueError("json: unsupported value: encountered a cycle")
            active.add(ident)
            todo.append((2, ident))
            if isinstance(item, dict):
                pairs = sorted(((_key(k), v) for k, v in item.items()), key=lambda kv: kv[0])
                todo.append((1, b"}"))
                for i in range(len(pairs) - 1, -1, -1):
                    todo.append((0, pairs[i][1]))
                    todo.append((1, (b"," if i else b"") + orjson.dumps(pairs[i][0]) + b":"))
                todo.append((1, b"{"))
            else:
                todo.append((1, b"]"))
                for i in range(len(item) - 1, -1, -1):
                    todo.append((0, item[i]))
                    if i:
                        todo.append((1, b","))
                todo.append((1, b"["))
        elif isinstance(item, str):
            out.append(orjson.dumps(_go_str(item)))
        else:
            out.append(orjson.dumps(item, option=_OPTS))
    return b"".join(out)


def valid_text(value: Any) -> Any:
    """A copy of ``value`` whose strings (keys too) hold no surrogate escape: each is U+FFFD, as Go's
    encoder writes invalid UTF-8; mappings become dicts, tuples lists. Iterative (any depth); an object
    met twice is copied once. For outputs that need valid text (orjson, cel-cpp), on their slow path."""
    if isinstance(value, str):
        return _go_str(value)
    if not isinstance(value, Mapping | list | tuple):
        return value
    copies: dict[int, Any] = {}

    def shell(item: Any) -> Any:
        found = copies.get(id(item))
        if found is None:
            found = copies[id(item)] = {} if isinstance(item, Mapping) else [None] * len(item)
            todo.append((item, found))
        return found

    todo: list[tuple[Any, Any]] = []
    root = shell(value)
    while todo:
        source, target = todo.pop()
        pairs = source.items() if isinstance(source, Mapping) else enumerate(source)
        for key, item in pairs:
            if isinstance(item, str):
                item = _go_str(item)
            elif isinstance(item, Mapping | list | tuple):
                item = shell(item)
            target[_go_str(key) if isinstance(key, str) else key] = item
    return root


def text_json(value: Any, option: int = 0) -> bytes:
    """``orjson.dumps(value, option=option)``; text holding surrogate escapes (a client's bytes that
    were not UTF-8) written as U+FFFD instead of refused. Costs nothing more when there is none."""
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError:
        return orjson.dumps(valid_text(value), option=option)


def lenient_json(value: Any) -> bytes:
    """``orjson.dumps(value)``, or the iterative path for what orjson refuses (keys then sorted)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _slow_json(value)


def go_json(value: Any) -> bytes:
    """Serialise like Go's ``encoding/json`` (sorted keys, HTML-safe escapes); ``ValueError`` for a cycle."""
    try:
        out = orjson.dumps(value, option=_OPTS)
    except orjson.JSONEncodeError:
        out = _slow_json(value)
    # replace() without an ``in`` test first: ``bytes in bytes`` tries the needle as an int and
    # builds a TypeError each time (~1.8 k instructions; 4 per P1 request, callgrind 2026-12-01), and
    # replace() hands back the same object when there is nothing to replace
    out = out.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
    if out.find(b"\xe2\x80") >= 0:
        out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return out
