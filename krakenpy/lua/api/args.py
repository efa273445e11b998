"""Reading accessor arguments as Lua hands them over."""

from __future__ import annotations

from typing import Any

__all__ = ["index"]


def index(value: Any) -> int | None:
    """An integer argument (a number or a numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bytes) and value.strip().lstrip(b"-").isdigit():
        return int(value)
    return None
