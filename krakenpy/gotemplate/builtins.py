"""Go's predefined template functions: ``and or not len index slice print printf println eq ne lt le gt
ge html js urlquery`` (``and``/``or`` are evaluated lazily by the executor)."""

from __future__ import annotations

import html as _html
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

from krakenpy.gotemplate.exec import FuncError
from krakenpy.gotemplate.gofmt import sprint, sprintf
from krakenpy.gotemplate.values import go_str, is_true, type_name

__all__ = ["BUILTINS"]


def _len(value: Any) -> int:
    if value is None:
        raise FuncError("len of nil pointer")
    if isinstance(value, str):
        return len(value.encode())  # Go counts bytes
    if isinstance(value, list | tuple | Mapping):
        return len(value)
    raise FuncError(f"len of type {type_name(value)}")


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if item is None:
            raise FuncError("index of untyped nil")
        if isinstance(item, Mapping):
            item = item.get(key, None) if isinstance(key, str) else None
        elif isinstance(item, list | tuple | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise FuncError(f"cannot index slice/array with type {type_name(key)}")
            if not 0 <= key < len(item):
                raise FuncError(f"index out of range: {key}")
            item = item[key] if not isinstance(item, str) else item.encode()[key]
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def _slice(item: Any, *bounds: Any) -> Any:
    if not isinstance(item, list | tuple | str):
        raise FuncError(f"can't slice item of type {type_name(item)}")
    if len(bounds) > 2:
        raise FuncError("too many slice indexes")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(item)
    if not 0 <= start <= end <= len(item):
        raise FuncError(f"slice index out of range: {start}:{end}")
    return item[start:end]


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    return type(a) is type(b) or a is None or b is None


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    for other in others:
        if isinstance(first, Mapping | list) or isinstance(other, Mapping | list):
            raise FuncError("non-comparable type")
        if _comparable(first, other) and first == other:
            return True
    return False


def _ordered(name: str, test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        ok = (isinstance(a, int | float) and isinstance(b, int | float)) or (isinstance(a, str) and isinstance(b, str))
        if not ok or isinstance(a, bool) or isinstance(b, bool):
            raise FuncError(f"incompatible types for comparison: {type_name(a)} and {type_name(b)}")
        return test(a, b)

    compare.__name__ = name
    return compare


def _js(*args: Any) -> str:
    text = sprint(*args)
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}
    return "".join(table.get(ch, ch if ch.isprintable() else f"\\u{ord(ch):04X}") for ch in text)


BUILTINS: Mapping[str, Callable[..., Any]] = {
    # and/or are special forms in the executor; listed here so the parser knows them
    "and": lambda *a: a[-1],
    "or": lambda *a: a[-1],
    "not": lambda value: not is_true(value),
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": sprint,
    "printf": sprintf,
    "println": lambda *a: " ".join(go_str(v, top=False) for v in a) + "\n",
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _ordered("lt", lambda a, b: a < b),
    "le": _ordered("le", lambda a, b: a <= b),
    "gt": _ordered("gt", lambda a, b: a > b),
    "ge": _ordered("ge", lambda a, b: a >= b),
    "html": lambda *a: _html.escape(sprint(*a)).replace("&#x27;", "&#39;"),
    "js": _js,
    "urlquery": lambda *a: quote_plus(sprint(*a)),
}
