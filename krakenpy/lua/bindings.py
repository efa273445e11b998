"""The Python side of the KrakenD Lua API, assembled for prelude.lua.

:meth:`Bindings.table` is the ``B`` table the prelude receives: one explicit name → accessor table
per Lua object (modules in :mod:`krakenpy.lua.api`), plus the helper functions and markers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from krakenpy.lua.api import batteries, ctx, http_response, lua_list, lua_table, request, response
from krakenpy.lua.api.args import error
from krakenpy.lua.api.headers import header_name, token_name
from krakenpy.lua.api.http_response import HttpResult
from krakenpy.lua.api.response import PostState, error_status, override
from krakenpy.lua.api.store import Result, Store
from krakenpy.lua.convert import Kind, Mode, lua_number, number
from krakenpy.lua.handles import Handles
from krakenpy.lua.http import exit_response

__all__ = ["Bindings", "HttpResult", "PostState", "error_status", "header_name", "replayer"]

#: Lua class name → the module whose ``methods(store)`` implements it
CLASSES = {
    b"luaTable": lua_table,
    b"luaList": lua_list,
    b"request": request,
    b"ctx": ctx,
    b"response": response,
    b"http_response": http_response,
}


#: what a deferred write (api.lua's defer) does: set a request/ctx header, a response header, a luaTable key
HEADER, RESPONSE_HEADER, TABLE_SET = 1, 2, 3


def replayer(objects: dict[int, Any]) -> Callable[[tuple[Any, ...], int], None]:
    """The function applying the writes api.lua deferred (``code, id, key, value`` each), in order.

    api.lua queued only writes that pass the accessors' checks (a token name, no control character
    in a header value; a string or number key, a scalar value), so each is applied as the accessor
    would, without its checks.
    """

    def replay(ops: tuple[Any, ...], start: int) -> None:
        for i in range(start, len(ops), 4):
            code, obj, k, v = ops[i], objects[ops[i + 1]], ops[i + 2], ops[i + 3]
            if code == TABLE_SET:
                key = k.decode("utf-8", "replace") if type(k) is bytes else lua_number(k)
                obj[key] = v.decode("utf-8", "replace") if type(v) is bytes else number(v) if type(v) is float else v
                continue
            name = token_name(k) or ""
            value = [v.decode("utf-8", "surrogateescape")]
            if code == HEADER:
                obj.headers[name] = value
            else:
                obj.response.headers[name] = value
                override(obj.response, name)

    return replay


class Bindings:
    """Accessors bound to one runtime (its handle table and object ids)."""

    def __init__(self, lua: Any, handles: Any, nil: Any, objects: Handles) -> None:
        self._lua = lua
        self.store = Store(lua, handles, nil, objects)

    def table(self) -> Any:
        """The ``B`` table of prelude.lua: ``B.<class>.<method>`` accessors and ``B.<function>`` helpers."""
        out: dict[bytes, Any] = batteries.functions(self.store)
        out[b"exit"] = self._exit
        replay = replayer(self.store.objects)
        out[b"replay"] = lambda *ops: replay(ops, 0)
        out[b"HEADER"], out[b"RESPONSE_HEADER"], out[b"TABLE_SET"] = HEADER, RESPONSE_HEADER, TABLE_SET
        for name, module in CLASSES.items():
            out[name] = self._lua.table_from(module.methods(self.store))
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
