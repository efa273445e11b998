"""The ``max_memory`` guard on the strings accessors hand to Lua, compiled (``krakenpy.compiled.HOT_MODULES``).

Why a guard: lupa copies a returned string into Lua inside its Python-callback section; an allocation
the cap refuses there unwinds past lupa's GIL release, and the worker's next GIL take waits forever.
:class:`Guard` refuses such a string before lupa copies it. Lua calls :func:`guarded` accessors; the
subset (:mod:`krakenpy.lua.subset_ops`) calls the bare accessors and asks the guard itself, so that
its scripts fail where the VM would, without a wrapper's call and argument tuple per getter (its own
module so that mypyc compiles it: ``bindings.py``, which imports the VM-only parts, stays Python).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from krakenpy.lua.convert import Kind

__all__ = ["MEMERR", "STRING_OVERHEAD", "Guard", "guarded"]

#: what a Lua string costs beyond its bytes (its header and terminator), with room to spare
STRING_OVERHEAD: Final = 64
#: Lua's own out-of-memory message (interned by prelude.lua: handing it over allocates nothing)
MEMERR: Final = b"not enough memory"


class Guard:
    """Whether a string still fits one runtime's memory cap."""

    def __init__(self, used: Callable[[], int], cap: int, collect: Callable[[], object]) -> None:
        #: lupa's ``get_memory_used``, the cap, and a full collection (a Lua function bound once)
        self.used = used
        self.cap = cap
        self.collect = collect

    def refuses(self, value: bytes, held: int = 0) -> bool:
        """True when ``value`` would not fit the memory left, even after a full collection (``held``:
        bytes the VM would hold beside it that Lua's count does not see: the subset's Python strings).

        ``used()`` counts uncollected garbage too, which Lua's allocator would collect (an emergency
        GC) before failing: only when the string does not fit is a collection run and the check made
        again, so only memory that is really held refuses it."""
        need = len(value) + STRING_OVERHEAD + held
        if need <= self.cap - self.used():
            return False
        self.collect()
        return need > self.cap - self.used()


def guarded(accessor: Callable[..., Any], guard: Guard) -> Callable[..., Any]:
    """``accessor`` as Lua calls it: a string result the guard refuses becomes Lua's memory error."""

    def call(*args: Any) -> Any:
        result = accessor(*args)
        if type(result) is tuple and len(result) > 1:  # the prelude's helpers return bare values
            value = result[1]
            if type(value) is bytes and guard.refuses(value):
                return Kind.ERROR, MEMERR
        return result

    return call
