"""The Python side of the KrakenD Lua API, assembled for prelude.lua.

:meth:`Bindings.table` is the ``B`` table the prelude receives: one explicit name → accessor table
per Lua object (modules in :mod:`krakenpy.lua.api`), plus the helper functions and markers.
"""

from __future__ import annotations

from typing import Any, Final

from krakenpy.lua.api import batteries, ctx, http_response, lua_list, lua_table, request, response
from krakenpy.lua.api.args import error
from krakenpy.lua.api.headers import header_name
from krakenpy.lua.api.http_response import HttpResult
from krakenpy.lua.api.response import PostState, error_status
from krakenpy.lua.api.store import Methods, Result, Store
from krakenpy.lua.convert import Kind, Mode
from krakenpy.lua.guard import MEMERR, STRING_OVERHEAD, Guard, guarded
from krakenpy.lua.handles import Handles
from krakenpy.lua.http import exit_response

__all__ = [
    "MEMERR",
    "NO_STRING",
    "STRING_OVERHEAD",
    "Bindings",
    "HttpResult",
    "PostState",
    "error_status",
    "header_name",
]

#: Lua class name → the module whose ``methods(store)`` implements it
CLASSES = {
    b"luaTable": lua_table,
    b"luaList": lua_list,
    b"request": request,
    b"ctx": ctx,
    b"response": response,
    b"http_response": http_response,
}


#: accessors that take no argument and never return a string (a number only): nothing of theirs can
#: outgrow the memory cap, so Lua calls them unguarded. An accessor that takes arguments may answer an
#: error message (a string: bad_arg, NEED_ARGS...) even when its value is a number or a boolean
#: (``response:statusCode(v)``, ``luaTable:keyExists(k)``): those stay guarded
NO_STRING: Final[dict[bytes, frozenset[bytes]]] = {
    b"http_response": frozenset({b"statusCode"}),
    b"luaTable": frozenset({b"len"}),
    b"luaList": frozenset({b"len"}),
}


class Bindings:
    """Accessors bound to one runtime (its handle table and object ids)."""

    def __init__(self, lua: Any, handles: Any, nil: Any, objects: Handles, max_memory: int = 0) -> None:
        self._lua = lua
        #: the memory guard (None without a cap); its full collection is bound once: its option string
        #: is a constant of the chunk, so a call from an accessor near the cap allocates no new Lua string
        self.guard: Guard | None = (
            Guard(lua.get_memory_used, max_memory, lua.eval('function() collectgarbage("collect") end'))
            if max_memory
            else None
        )
        self.store = Store(lua, handles, nil, objects)
        #: class name → method name → accessor, bare (setter plans and the subset's setter calls make
        #: them directly: nothing they return is copied into Lua)
        self.accessors: dict[bytes, Methods] = {}
        #: the same as Lua calls them: guarded (:func:`~krakenpy.lua.guard.guarded`) unless :data:`NO_STRING`
        #: (the subset's getter calls make the bare ones and ask :attr:`guard` themselves, so that a result
        #: beyond the cap fails there as in the VM)
        self.getters: dict[bytes, Methods] = {}

    def table(self) -> Any:
        """The ``B`` table of prelude.lua: ``B.<class>.<method>`` accessors and ``B.<function>`` helpers."""
        out: dict[bytes, Any] = {k: self._guard(f) for k, f in batteries.functions(self.store).items()}
        # guarded too: its error message names the offending header, which a script may build from
        # request data (a body as a header name): copied into Lua near the cap, it hung the worker
        out[b"exit"] = self._guard(self._exit)
        for name, module in CLASSES.items():
            bare = self.accessors[name] = module.methods(self.store)
            never = NO_STRING.get(name, frozenset())
            self.getters[name] = {k: f if k in never else self._guard(f) for k, f in bare.items()}
            out[name] = self._lua.table_from(self.getters[name])
        return self._lua.table_from(out)

    def _guard(self, f: Any) -> Any:
        # only Python functions return strings; markers and tables of batteries.functions pass as they are
        # (a compiled wrapper call per accessor call from Lua; see bench/README.md § "Lua on the compiled
        # path" and its round 9 section)
        if self.guard is None or not callable(f) or isinstance(f, type):
            return f
        return guarded(f, self.guard)

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
