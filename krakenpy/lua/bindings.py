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
from krakenpy.lua.api.store import Accessor, Methods, Result, Store
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


#: what a Lua string costs beyond its bytes (its header and terminator), with room to spare
STRING_OVERHEAD: Final = 64
#: Lua's own out-of-memory message (interned by prelude.lua: handing it over allocates nothing)
MEMERR: Final = b"not enough memory"
#: accessors that take no argument and never return a string (a number only): nothing of theirs can
#: outgrow the memory cap, so Lua calls them unguarded. An accessor that takes arguments may answer an
#: error message (a string: bad_arg, NEED_ARGS...) even when its value is a number or a boolean
#: (``response:statusCode(v)``, ``luaTable:keyExists(k)``): those stay guarded
NO_STRING: Final[dict[bytes, frozenset[bytes]]] = {
    b"http_response": frozenset({b"statusCode"}),
    b"luaTable": frozenset({b"len"}),
    b"luaList": frozenset({b"len"}),
}


def guarded(accessor: Accessor, used: Any, cap: int, collect: Any) -> Accessor:
    """``accessor`` whose string result is refused (Lua's memory error) when it would not fit the memory left.

    Why: lupa copies a returned string into Lua inside its Python-callback section; an allocation the
    cap refuses there unwinds past lupa's GIL release, and the worker's next GIL take waits forever.
    ``used()`` counts uncollected garbage too, which Lua's allocator would collect (an emergency GC)
    before failing: when the string does not fit, ``collect()`` runs a full collection and the check is
    made again, so only memory that is really held refuses it.
    """

    def call(*args: Any) -> Result:
        result = accessor(*args)
        if type(result) is tuple and len(result) > 1:  # the prelude's helpers return bare values
            value = result[1]
            if type(value) is bytes and len(value) + STRING_OVERHEAD > cap - used():
                collect()
                if len(value) + STRING_OVERHEAD > cap - used():
                    return Kind.ERROR, MEMERR
        return result

    return call


class Bindings:
    """Accessors bound to one runtime (its handle table and object ids)."""

    def __init__(self, lua: Any, handles: Any, nil: Any, objects: Handles, max_memory: int = 0) -> None:
        self._lua = lua
        self._max_memory = max_memory
        #: a full collection, bound once: its option string is a constant of the chunk, so a call from
        #: an accessor near the cap allocates no new Lua string
        self._collect: Any = lua.eval('function() collectgarbage("collect") end') if max_memory else None
        self.store = Store(lua, handles, nil, objects)
        #: class name → method name → accessor, bare (setter plans and the subset's setter calls make
        #: them directly: nothing they return is copied into Lua)
        self.accessors: dict[bytes, Methods] = {}
        #: the same as Lua calls them: guarded (:func:`guarded`) unless :data:`NO_STRING` (the subset's
        #: getter calls use these, so that a result beyond the cap fails there as in the VM)
        self.getters: dict[bytes, Methods] = {}

    def table(self) -> Any:
        """The ``B`` table of prelude.lua: ``B.<class>.<method>`` accessors and ``B.<function>`` helpers."""
        out: dict[bytes, Any] = {k: self._guard(f) for k, f in batteries.functions(self.store).items()}
        out[b"exit"] = self._exit
        for name, module in CLASSES.items():
            bare = self.accessors[name] = module.methods(self.store)
            never = NO_STRING.get(name, frozenset())
            self.getters[name] = {k: f if k in never else self._guard(f) for k, f in bare.items()}
            out[name] = self._lua.table_from(self.getters[name])
        return self._lua.table_from(out)

    def _guard(self, f: Any) -> Any:
        # only Python functions return strings; markers and tables of batteries.functions pass as they are
        # (the guard costs a Python call per accessor call: +13.5 % on p3-general's pair, run in the subset,
        # counted through the middleware; see bench/README.md § "Lua on the compiled path")
        if not self._max_memory or not callable(f) or isinstance(f, type):
            return f
        return guarded(f, self._lua.get_memory_used, self._max_memory, self._collect)

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
