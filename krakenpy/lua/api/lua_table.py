"""``luaTable``: a live view of a JSON object (``luaTable.new()``, ``data()``, nested objects)."""

from __future__ import annotations

from typing import Any

from krakenpy.lua.api.store import NEED_ARGS, Methods, Result, Store
from krakenpy.lua.convert import Kind, key_str, to_lua

__all__ = ["methods"]


def methods(store: Store) -> Methods:
    """``get``, ``set``, ``len``, ``del``, ``keys``, ``keyExists``."""
    objects, ref, value = store.objects, store.ref, store.value

    def get(id_: int, n: int, k: Any = None) -> Result:
        h: dict[str, Any] = objects[id_]
        if n < 1:
            return NEED_ARGS
        key = key_str(k)
        return to_lua(h[key], ref) if key in h else None

    def set_(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: dict[str, Any] = objects[id_]
        if n < 2:
            return NEED_ARGS
        if v is not None:  # KrakenD ignores a nil value
            key = k.decode("utf-8", "replace") if type(k) is bytes else key_str(k)
            h[key] = v if v is True or v is False or type(v) is int else value(v)  # fast path for scalars
        return None

    def len_(id_: int, n: int) -> Result:
        h: dict[str, Any] = objects[id_]
        return Kind.PLAIN, len(h)

    def del_(id_: int, n: int, k: Any = None) -> Result:
        h: dict[str, Any] = objects[id_]
        if n < 1:
            return NEED_ARGS
        h.pop(key_str(k), None)
        return None

    def keys(id_: int, n: int) -> Result:
        h: dict[str, Any] = objects[id_]
        return Kind.LIST, ref(sorted(h))

    def key_exists(id_: int, n: int, k: Any = None) -> Result:
        h: dict[str, Any] = objects[id_]
        if n < 1:
            return NEED_ARGS
        return Kind.PLAIN, key_str(k) in h

    return {b"get": get, b"set": set_, b"len": len_, b"del": del_, b"keys": keys, b"keyExists": key_exists}
