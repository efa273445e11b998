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
#: what prelude.lua's ``fail`` allocates beside the two copies of a message: ``where``'s getinfo tables
#: and position strings, the status table and its weak set's entry (measured: the VM's turn from 400 to
#: 500 came ~1.1 KB of body before the subset's without it, cap 1 MiB)
FAIL_ROOM: Final = 3392
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

    def refuses_failure(self, message: bytes, where: bytes, held: int = 0) -> bool:
        """True when a setter's error ``message`` ends in Lua's memory error in the VM: the guarded call
        hands it over (:meth:`refuses`), then prelude.lua's ``fail`` prefixes it with the script's
        position, ``where(nil, 3) .. msg``, a second copy made while the first is alive (and, with a
        status, a small table: within :data:`STRING_OVERHEAD`'s room). Counting the message once left a
        band of bodies (~310-450 KB under a 1 MiB cap) where the subset answered 400 and the VM 500."""
        return self.refuses(message, held + len(where) + len(message) + STRING_OVERHEAD + FAIL_ROOM)


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
