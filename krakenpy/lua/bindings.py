"""The Python side of the KrakenD Lua API, assembled for prelude.lua.

:meth:`Bindings.table` is the ``B`` table the prelude receives: one explicit name → accessor table
per Lua object (modules in :mod:`krakenpy.lua.api`), plus the helper functions and markers.
"""

from __future__ import annotations

from typing import Any

from krakenpy.lua.api import batteries, ctx, http_response, lua_list, lua_table, request, response
from krakenpy.lua.api.args import error
from krakenpy.lua.api.headers import header_name
from krakenpy.lua.api.http_response import HttpResult
from krakenpy.lua.api.response import PostState, error_status
from krakenpy.lua.api.store import Methods, Result, Store
from krakenpy.lua.convert import Kind, Mode
from krakenpy.lua.handles import Handles
from krakenpy.lua.http import exit_response

__all__ = ["Bindings", "HttpResult", "PostState", "error_status", "header_name"]

#: Lua class name → the module whose ``methods(store)`` implements it
CLASSES = {
    b"luaTable": lua_table,
    b"luaList": lua_list,
    b"request": request,
    b"ctx": ctx,
    b"response": response,
    b"http_response": http_response,
}


class Bindings:
    """Accessors bound to one runtime (its handle table and object ids)."""

    def __init__(self, lua: Any, handles: Any, nil: Any, objects: Handles) -> None:
        self._lua = lua
        self.store = Store(lua, handles, nil, objects)
        #: class name → method name → accessor (what Lua calls; setter plans call them directly)
        self.accessors: dict[bytes, Methods] = {}

    def table(self) -> Any:
        """The ``B`` table of prelude.lua: ``B.<class>.<method>`` accessors and ``B.<function>`` helpers."""
        out: dict[bytes, Any] = batteries.functions(self.store)
        out[b"exit"] = self._exit
        for name, module in CLASSES.items():
            self.accessors[name] = module.methods(self.store)
            out[name] = self._lua.table_from(self.accessors[name])
        return self._lua.table_from(out)

    def _exit(self, n: int, *args: Any) -> Result:
        """``exit(status, body[, headers])``: the answer is checked and built while the script runs."""
        try:
            answer = exit_response(self.store, n, *args[:3])
        except ValueError as exc:
            return error(str(exc))
        return Kind.PLAIN, self.store.ref(answer)

    def value(self, v: Any, mode: Mode = Mode.TOP) -> Any:
        """A Lua value as JSON-able Python data."""
        return self.store.value(v, mode)
