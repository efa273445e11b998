"""``luaList``: a live view of a JSON array, 0-based (``luaList.new()``, ``headerList``, nested arrays)."""

from __future__ import annotations

from typing import Any, Final

from krakenpy.lua.api.args import bad_arg, error, integer_arg
from krakenpy.lua.api.store import NEED_ARGS, Methods, Result, Store
from krakenpy.lua.convert import ConversionError, Kind, Mode, to_lua

__all__ = ["MAX_GROWTH", "methods"]

#: ``set`` past the end fills the gap with nulls: at most this many at once (a huge index would
#: otherwise allocate Python memory that ``max_memory`` does not cover)
MAX_GROWTH: Final = 65_536


def methods(store: Store) -> Methods:
    """``get``, ``set``, ``len``, ``del``."""
    objects, ref, converted = store.objects, store.ref, store.converted

    def get(id_: int, n: int, i: Any = None) -> Result:
        h: list[Any] = objects[id_]
        if n < 1:
            return NEED_ARGS
        at = integer_arg(i)
        if at is None:
            return bad_arg(store, 1, "get", "integer", i)
        return to_lua(h[at], ref) if 0 <= at < len(h) else None

    def set_(id_: int, n: int, i: Any = None, v: Any = None) -> Result:
        h: list[Any] = objects[id_]
        if n < 2:
            return NEED_ARGS
        at = integer_arg(i)
        if at is None:
            return bad_arg(store, 1, "set", "integer", i)
        if at < 0:  # out of range: a no-op, as KrakenD
            return None
        try:
            item, cost = converted(v, Mode.NESTED)
        except ConversionError as exc:
            return error(f"set: {exc}")
        size = len(h)
        if at >= size:  # grows with nulls (set(len, v) appends)
            if at - size >= MAX_GROWTH:
                return error(f"set: index {at} is too far past the end of the list (length {size})")
            h.extend([None] * (at + 1 - size))
        h[at] = item
        return (Kind.CHARGED, cost) if cost else None

    def len_(id_: int, n: int) -> Result:
        h: list[Any] = objects[id_]
        return Kind.PLAIN, len(h)

    def del_(id_: int, n: int, i: Any = None) -> Result:
        h: list[Any] = objects[id_]
        if n < 1:
            return NEED_ARGS
        at = integer_arg(i)
        if at is None:
            return bad_arg(store, 1, "del", "integer", i)
        if 0 <= at < len(h):
            del h[at]
        return None

    return {b"get": get, b"set": set_, b"len": len_, b"del": del_}
