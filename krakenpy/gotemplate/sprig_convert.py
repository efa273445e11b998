"""Sprig's value conversions (``strval``, spf13/cast's ``toInt64``...), shared by the function sets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from krakenpy.gotemplate.exec import FuncError
from krakenpy.gotemplate.values import go_str, type_name

__all__ = ["as_dict", "as_list", "strval", "strvals", "to_float", "to_int"]


def strval(value: Any) -> str:
    """Sprig's ``strval``: nil becomes an empty string."""
    return "" if value is None else go_str(value, top=False)


def strvals(items: Any) -> list[str]:
    """A list as strings (nil items dropped)."""
    if items is None:
        return []
    if isinstance(items, list | tuple):
        return [strval(v) for v in items if v is not None]
    return [strval(items)]


def to_int(value: Any) -> int:
    """Sprig's ``toInt64`` (spf13/cast): numbers truncate, numeric strings parse, anything else is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            try:
                return int(float(value))
            except ValueError:
                return 0
    return 0


def to_float(value: Any) -> float:
    """spf13/cast's ``ToFloat64``: anything unparsable is 0."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return 0.0
    return 0.0


def as_list(value: Any, name: str) -> list[Any]:
    """The list argument of a list function (nil is empty)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise FuncError(f"cannot {name} on type {type_name(value)}")
    return list(value)


def as_dict(value: Any, name: str) -> Mapping[str, Any]:
    """The map argument of a dict function."""
    if not isinstance(value, Mapping):
        raise FuncError(f"{name} expects a map, got {type_name(value)}")
    return value
