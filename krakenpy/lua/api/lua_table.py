"""``luaTable``: a live view of a JSON object (``luaTable.new()``, ``data()``, nested objects)."""

from __future__ import annotations

from typing import Any

from krakenpy.lua.api.args import bad_arg, error, string_arg
from krakenpy.lua.api.store import NEED_ARGS, Methods, Result, Store
from krakenpy.lua.convert import ConversionError, Kind, to_lua

__all__ = ["methods"]


def methods(store: Store) -> Methods:
    """``get``, ``set``, ``len``, ``del``, ``keys``, ``keyExists``."""
    objects, ref, converted = store.objects, store.ref, store.converted

    def get(id_: int, n: int, k: Any = None) -> Result:
        h: dict[str, Any] = objects[id_]
        if n < 1:
            return NEED_ARGS
        key = k.decode("utf-8", "replace") if type(k) is bytes else string_arg(k)
        if key is None:
            return bad_arg(store, 1, "get", "string", k)
        return to_lua(h[key], ref) if key in h else None

    def set_(id_: int, n: int, k: Any = None, v: Any = None) -> Result:
        h: dict[str, Any] = objects[id_]
        if n < 2:
            return NEED_ARGS
        # a str key was decoded once at start-up, by a setter plan or the subset (krakenpy.lua.setters,
        # subset_expr) from a literal: Lua hands its strings over as bytes, never as str
        t = type(k)
        key = k if t is str else k.decode("utf-8", "replace") if t is bytes else string_arg(k)
        if key is None:
            return bad_arg(store, 1, "set", "string", k)
        if v is None:  # KrakenD ignores a nil value
            return None
        # fast paths for scalars; a boolean apart: compiled by mypyc, a value narrowed to ``bool | int``
        # is an ``int`` and would be stored as 1 (a test of the compiled build caught ``true`` as 1)
        if v is True or v is False:
            h[key] = v
            return None
        if type(v) is int:
            h[key] = v
            return None
        try:
            h[key], cost = converted(v)
        except ConversionError as exc:
            return error(f"set: {exc}")
        return (Kind.CHARGED, cost) if cost else None

    def len_(id_: int, n: int) -> Result:
        h: dict[str, Any] = objects[id_]
        return Kind.PLAIN, len(h)

    def del_(id_: int, n: int, k: Any = None) -> Result:
        h: dict[str, Any] = objects[id_]
        if n < 1:
            return NEED_ARGS
        key = string_arg(k)
        if key is None:
            return bad_arg(store, 1, "del", "string", k)
        h.pop(key, None)
        return None

    def keys(id_: int, n: int) -> Result:
        h: dict[str, Any] = objects[id_]
        return Kind.LIST, ref(sorted(h)), len(h)  # charged: one instruction a key

    def key_exists(id_: int, n: int, k: Any = None) -> Result:
        h: dict[str, Any] = objects[id_]
        if n < 1:
            return NEED_ARGS
        key = string_arg(k)
        if key is None:
            return bad_arg(store, 1, "keyExists", "string", k)
        return Kind.PLAIN, key in h

    return {b"get": get, b"set": set_, b"len": len_, b"del": del_, b"keys": keys, b"keyExists": key_exists}
