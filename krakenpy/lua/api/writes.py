"""The writes a run logged Lua-side (api.lua's write log), applied in one go.

An entry is ``(handle, key, value)``: a header set on a request or ctx object (a ``Request``), a
header set on a response object (a ``PostState``), or a key set on a luaTable (a ``dict``). api.lua
logs only writes it has checked (a header name of letters, digits, ``-`` and ``_``, a value of
printable ASCII; a string key and a boolean, integer or string value), so applying one cannot fail
and nothing is checked again: each does what the accessor's own path does with that value.
"""

from __future__ import annotations

from typing import Any

from krakenpy.lua.api.headers import KNOWN_NAMES, token_name
from krakenpy.lua.api.response import PostState, override

__all__ = ["apply_writes"]


def apply_writes(objects: dict[int, Any], entries: tuple[Any, ...], start: int) -> None:
    """Apply the entries of ``entries`` from index ``start`` on, in order."""
    known = KNOWN_NAMES
    for i in range(start, len(entries), 3):
        target = objects[entries[i]]
        key: bytes = entries[i + 1]
        value = entries[i + 2]
        if type(target) is dict:
            # luaTable.set: keys and string values decoded as a crossing set decodes them
            target[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace") if type(value) is bytes else value
            continue
        name = known.get(key) or token_name(key) or ""  # always a token here (api.lua checked it)
        if type(target) is PostState:
            target.response.headers[name] = [value.decode("ascii")]
            override(target.response, name)
        else:
            target.headers[name] = [value.decode("ascii")]
