"""What every accessor module shares: object ids, the Lua table → Python object lookup, conversion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from krakenpy.lua.convert import ARRAY, OBJECT, Kind, Mode, class_name, from_lua, lua_type
from krakenpy.lua.handles import Handles

__all__ = ["ENTRY_COST", "NEED_ARGS", "Accessor", "Methods", "Result", "Store"]

Result = tuple[int, Any] | tuple[int, Any, Any] | None
Accessor = Callable[..., Result]
#: Lua method name → accessor
Methods = dict[bytes, Accessor]

NEED_ARGS: Final = (Kind.ERROR, b"need arguments")
#: instructions charged per table entry converted between Lua and Python: ~4 us each through lupa,
#: what ~1,000 VM instructions take; charged at 256 (conversions are the cheap kind of work to be
#: wrong about, and scripts that set a few fields should not feel it), still bounding a loop that
#: converts a huge table over and over
ENTRY_COST: Final = 256


class Store:
    """One runtime's object table and the Lua helpers the accessors need."""

    def __init__(self, lua: Any, handles: Any, nil: Any, objects: Handles) -> None:
        self.lua = lua
        #: the shared ``luaNil`` / ``json.null`` table
        self.nil = nil
        #: id → object, and the function that hands out a new id for an object
        self.objects = objects.objects
        self.ref = objects.ref
        #: the handles, whose ``scope`` holds the ids of the run Lua is executing (:meth:`in_scope`)
        self.handles = objects
        # lookups go through Lua functions: lupa 2.8 mis-reads ``table[lua_object]`` from Python
        # while a coroutine is running (it returns the thread along with the value)
        self._lookup, self.mark = lua.eval(
            b"function(H) return function(k) return H[k] end, function(t, tag) H[t] = tag end end"
        )(handles)

    def in_scope(self) -> list[Any]:
        """The objects handed to the run Lua is executing (its request's, its response's)."""
        objects = self.objects
        return [objects[i] for i in self.handles.scope if i in objects]

    def use_lookup(self, lookup: Any) -> None:
        """Look Lua tables up with ``lookup`` (the prelude's, which also knows the running request's objects)."""
        self._lookup = lookup

    def handle(self, t: Any) -> Any:
        """The object behind a Lua table: a luaTable/luaList's dict or list, a marker, or None."""
        h = self._lookup(t)
        return self.objects[h] if type(h) is int else h

    def value(self, v: Any, mode: Mode = Mode.TOP) -> Any:
        """A Lua value as JSON-able Python data (API objects by reference)."""
        return from_lua(v, self.handle, mode)

    def converted(self, v: Any, mode: Mode = Mode.TOP) -> tuple[Any, int]:
        """:meth:`value`, and what converting it costs in instructions (charged to the script)."""
        tally = [0]
        return from_lua(v, self.handle, mode, 0, tally), tally[0] * ENTRY_COST

    def typename(self, v: Any) -> str:
        """A value's type for an error message: the class of an API object, else its Lua type."""
        kind = lua_type(v)
        if kind == "table":
            obj = self.handle(v)
            if obj is not None and obj is not ARRAY and obj is not OBJECT:
                return class_name(obj)
        return kind

    def list_of(self, v: Any) -> list[Any] | None:
        """The list behind a luaList argument, else None."""
        handle = self.handle(v) if v is not None and not isinstance(v, bytes | int | float | bool) else None
        return handle if isinstance(handle, list) else None
