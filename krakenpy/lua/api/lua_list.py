"""``luaList``: a live view of a JSON array, 0-based (``luaList.new()``, ``headerList``, nested arrays)."""

from __future__ import annotations

from typing import Any

from krakenpy.lua.api.args import index
from krakenpy.lua.api.store import NEED_ARGS, Methods, Result, Store
from krakenpy.lua.convert import Kind, Mode, to_lua

__all__ = ["methods"]


def methods(store: Store) -> Methods:
    """``get``, ``set``, ``len``, ``del``."""
    objects, ref, value = store.objects, store.ref, store.value

    def get(id_: int, n: int, i: Any = None) -> Result:
        h: list[Any] = objects[id_]
        if n < 1:
            return NEED_ARGS
        at = index(i)
        return to_lua(h[at], ref) if at is not None and 0 <= at < len(h) else None

    def set_(id_: int, n: int, i: Any = None, v: Any = None) -> Result:
        h: list[Any] = objects[id_]
        if n < 2:
            return NEED_ARGS
        at = index(i)
        if at is None or at < 0:
            return None
        if at >= len(h):  # grows with nulls (set(len, v) appends)
            h.extend([None] * (at + 1 - len(h)))
        h[at] = value(v, Mode.NESTED)
        return None

    def len_(id_: int, n: int) -> Result:
        h: list[Any] = objects[id_]
        return Kind.PLAIN, len(h)

    def del_(id_: int, n: int, i: Any = None) -> Result:
        h: list[Any] = objects[id_]
        at = index(i)
        if at is not None and 0 <= at < len(h):
            del h[at]
        return None

    return {b"get": get, b"set": set_, b"len": len_, b"del": del_}
