"""The per-request starts of a script's ``pre`` and ``post`` runs in the Lua VM, compiled
(``krakenpy.compiled.HOT_MODULES``): what :meth:`krakenpy.lua.runtime.Runtime.phases` hands the proxy
middleware (:mod:`krakenpy.lua.modifier`, compiled too). A script the subset cannot run still pays a
Python frame per phase here and the middleware's own; compiled, neither is interpreted bytecode.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa

from krakenpy.lua.api.response import PostState
from krakenpy.lua.errors import LuaError, map_message
from krakenpy.lua.handles import Handles, Scope

if TYPE_CHECKING:
    from krakenpy.proxy.types import Request

__all__ = ["mapped", "phases", "text"]


def phases(objects: Handles, timeout: float) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``pre(scope, request, run)`` and ``post(scope, kept, request, state, run)`` with the handle
    bookkeeping (:meth:`Handles.ref`) inline: one frame per phase. A result is what the runner returned
    (see Runtime.pre/post); a lupa error raised outside the script's coroutine is a :class:`LuaError`."""
    table, ids = objects.objects, objects.ids

    def pre(scope: Scope, request: Request, run: Any) -> Any:
        objects.scope = scope
        i: int = next(ids)
        table[i] = request
        scope.append(i)
        try:
            return run(i) if not timeout else run(i, time.monotonic() + timeout)
        except lupa.LuaError as exc:
            raise mapped(exc) from None

    def post(scope: Scope, kept: int | None, request: Request, state: PostState, run: Any) -> Any:
        objects.scope = scope
        if kept is None:
            kept = next(ids)
            table[kept] = request
            scope.append(kept)
        # the data dict's id is the state's plus one (as Handles.ref_two hands them out)
        i: int = next(ids)
        table[i] = state
        table[i + 1] = state.response.data
        next(ids)
        scope.append(i)
        scope.append(i + 1)
        try:
            return run(kept, i) if not timeout else run(kept, i, time.monotonic() + timeout)
        except lupa.LuaError as exc:
            raise mapped(exc) from None

    return pre, post


def mapped(exc: BaseException) -> LuaError:
    """A lupa error raised outside the script's coroutine (the runner's own allocations)."""
    if isinstance(exc, lupa.LuaMemoryError):
        return LuaError("lua: not enough memory")
    return LuaError(map_message(text(exc.args[0] if exc.args else exc)))


def text(value: Any) -> str:
    """A Lua string (bytes) or any other value as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
