"""krakenpy's batteries: ``json`` and ``base64``, and the ``print``/clock helpers the prelude uses."""

from __future__ import annotations

import base64
import binascii
import logging
import time
from typing import Any

import orjson

from krakenpy.lua.api.store import Result, Store
from krakenpy.lua.convert import ARRAY, NULL, OBJECT, Kind, Mode, text

__all__ = ["functions"]

log = logging.getLogger("krakenpy.lua")


def functions(store: Store) -> dict[bytes, Any]:
    """Plain functions (not methods) and markers the prelude reads by name."""
    value, lua, nil, mark = store.value, store.lua, store.nil, store.mark

    def json_encode(v: Any) -> Result:
        try:
            return Kind.PLAIN, orjson.dumps(value(v, Mode.JSON))
        except (TypeError, ValueError) as exc:
            return Kind.ERROR, f"json.encode: {exc}".encode()

    def json_decode(s: Any) -> Result:
        try:
            data = orjson.loads(s if isinstance(s, bytes) else text(s))
        except orjson.JSONDecodeError as exc:
            return Kind.ERROR, f"json.decode: {exc}".encode()
        return Kind.PLAIN, plain(data, 0)

    def plain(v: Any, depth: int) -> Any:
        """Decoded JSON as plain Lua tables (arrays 1-based and marked, so they encode back as arrays)."""
        if isinstance(v, str):
            return v.encode()
        if v is None:
            return nil
        if depth > 64:
            raise ValueError("json.decode: nested too deeply")
        if isinstance(v, dict):
            table = lua.table()
            for k, x in v.items():
                table[k.encode()] = plain(x, depth + 1)
            mark(table, OBJECT)
            return table
        if isinstance(v, list):
            table = lua.table()
            for i, x in enumerate(v, 1):
                table[i] = plain(x, depth + 1)
            mark(table, ARRAY)
            return table
        return v

    def b64encode(s: Any) -> bytes:
        return base64.b64encode(s if isinstance(s, bytes) else text(s).encode())

    def b64decode(s: Any) -> bytes | None:
        try:
            return base64.b64decode(s if isinstance(s, bytes) else text(s), validate=False)
        except (binascii.Error, ValueError):
            return None

    return {
        b"NULL": NULL,
        b"ARRAY": ARRAY,
        b"OBJECT": OBJECT,
        b"new_dict": lambda: store.ref({}),
        b"new_list": lambda: store.ref([]),
        b"print": lambda line: log.info("lua: %s", text(line)),
        b"now": time.monotonic,
        b"json_encode": json_encode,
        b"json_decode": json_decode,
        b"b64encode": b64encode,
        b"b64decode": b64decode,
    }
