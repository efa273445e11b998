"""The Python objects scripts work on (request, response, luaTable/luaList data, http_response
results), known to Lua by number only.

Lua never holds a Python object: a Lua reference would keep it, and everything it points to (a
whole response body), alive until Lua's garbage collector got round to it, many requests later,
and Python's collector would promote all of it through its generations, making full collections
more frequent for the whole gateway. Instead each object handed to a script gets an id in the
current request's *scope*; the middleware releases the scope when the request is done, and the
objects go as soon as Python drops them. An id that outlived its request (a script that stashed
an object somewhere shared, which only ``allow_open_libs`` code can do) is an error.
"""

from __future__ import annotations

import itertools
from typing import Any, NoReturn

__all__ = ["Handles", "Scope"]

#: the ids one request handed out
Scope = list[int]


class _Objects(dict[int, Any]):
    def __missing__(self, key: int) -> NoReturn:
        raise LookupError("lua: the object belongs to a request that has finished")


class Handles:
    """id → object for every object handed to Lua, grouped by request scope."""

    __slots__ = ("ids", "objects", "scope")

    def __init__(self) -> None:
        self.objects: dict[int, Any] = _Objects()
        #: where :meth:`ref` records ids: the scope of the run Lua is executing (set on every entry)
        self.scope: Scope = []
        #: the id counter (read by Runtime.phases, which hands ids out inline)
        self.ids = itertools.count(1)

    def ref(self, obj: Any) -> int:
        """The id Lua knows ``obj`` by, until the current scope is released."""
        i = next(self.ids)
        self.objects[i] = obj
        self.scope.append(i)
        return i

    def ref_two(self, first: Any, second: Any) -> int:
        """:meth:`ref` for two objects in one call: ``second``'s id is ``first``'s plus one."""
        i = next(self.ids)
        j = next(self.ids)
        objects = self.objects
        objects[i] = first
        objects[j] = second
        self.scope += (i, j)
        return i

    def release(self, scope: Scope) -> None:
        """Forget the objects of a finished request."""
        pop = self.objects.pop
        for i in scope:
            pop(i, None)
        scope.clear()
