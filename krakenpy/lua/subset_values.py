"""Lua's value rules for the scripts :mod:`krakenpy.lua.subset` runs in Python.

Values are what lupa hands Python: nil is None, booleans, integers, floats, strings as bytes. A
``luaTable`` or ``luaList`` a getter lifts (``data():get(k)`` of an object or array) is a fresh
:class:`LuaObject` per lift, as api.lua makes a fresh table per lift; ``luaNil`` (a JSON null) is
the one table every request shares (:data:`LUA_NIL`). The subset only tests such a value (truth,
``==``): it never passes one to an accessor.
"""

from __future__ import annotations

from typing import Any, Final

from krakenpy.lua.api.args import string_arg

__all__ = ["LUA_NIL", "Fault", "LuaObject", "lifted", "lua_eq", "lua_tostring", "table_key", "truthy"]


class LuaObject:
    """A table api.lua would make for a getter's container result (compared by identity)."""

    def __init__(self, value: Any) -> None:
        self.value = value


#: ``luaNil`` / ``json.null``: one shared table, so two nulls are equal
LUA_NIL: Final = LuaObject(None)
#: Lua's integers: what lupa can hand Lua without an OverflowError
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1


class Fault(Exception):
    """A run's error result, as prelude.lua describes it (``(b"error", message[, status])``, ``b"custom"``...)."""


def truthy(v: Any) -> bool:
    """Lua truth: only nil and false are false."""
    return v is not None and v is not False


def lua_eq(a: Any, b: Any) -> bool:
    """Lua's ``==`` without metamethods: no coercion between strings and numbers, booleans apart from numbers."""
    if a is b:
        return True
    ta, tb = type(a), type(b)
    if ta is bytes:
        return tb is bytes and a == b
    if ta is int or ta is float:
        return (tb is int or tb is float) and a == b
    return False  # nil, booleans and tables: identity only (checked above)


def lua_tostring(v: int | float) -> bytes:
    """A number as Lua's ``tostring`` writes it (``%d``; ``%.14g``, with ``.0`` when that looks integral)."""
    if type(v) is int:
        return str(v).encode()
    text = "%.14g" % v  # noqa: UP031 -- C's format, as lua_Number's LUAI_NUMFFORMAT
    if text.lstrip("-").isdigit():
        text += ".0"
    return text.encode()


def lifted(v: Any) -> Any:
    """A JSON value as a getter hands it to Lua (krakenpy.lua.convert.to_lua, then api.lua's ``lift``)."""
    t = type(v)
    if t is str:
        return v.encode("utf-8", "surrogateescape")
    if t is int:
        if _INT_MIN <= v <= _INT_MAX:
            return v
        raise OverflowError  # lupa cannot hand it to Lua: the caller refuses to decide (see subset)
    if v is None:
        return LUA_NIL
    if t is dict or t is list:
        return LuaObject(v)
    if t is bool or t is float or t is bytes:
        return v
    return str(v).encode("utf-8", "surrogateescape")


def table_key(k: Any) -> str | None:
    """``luaTable:get``'s key: a string (invalid UTF-8 replaced) or a number's text, else None."""
    return k.decode("utf-8", "replace") if type(k) is bytes else string_arg(k)
