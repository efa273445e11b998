"""Reading accessor arguments as Lua hands them over, with Lua's own rules and messages.

As in Lua's C API, a number is accepted where a string is expected and a numeric string where an
integer is; anything else is a ``bad argument #i to 'name' (string expected, got table)`` error
that prelude.lua raises at the script's line.
"""

from __future__ import annotations

import re
from typing import Any, Final

from krakenpy.lua.api.store import Result, Store
from krakenpy.lua.convert import Kind, lua_number

__all__ = ["CTL", "TOKEN", "bad_arg", "boolean_arg", "error", "integer_arg", "string_arg"]

#: an HTTP token (RFC 9110): a method or a header name
TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z").match
#: control characters: never allowed in a header value (HTAB is) or a request line
CTL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]").search
_INTEGER: Final = re.compile(rb"\s*[-+]?[0-9]{1,18}\s*\Z").match


def error(message: str, status: int | None = None) -> Result:
    """A Lua error raised at the script's line (with ``status``: the HTTP status it answers with)."""
    if status is None:
        return Kind.ERROR, message.encode("utf-8", "surrogateescape")
    return Kind.ERROR, message.encode("utf-8", "surrogateescape"), status


def bad_arg(store: Store, i: int, name: str, expected: str, got: Any) -> Result:
    """Lua's ``bad argument #i to 'name' (expected expected, got type)``."""
    if expected == "integer" and type(got) is float:
        return error(f"bad argument #{i} to '{name}' (number has no integer representation)")
    return error(f"bad argument #{i} to '{name}' ({expected} expected, got {store.typename(got)})")


def string_arg(v: Any) -> str | None:
    """A string argument (a number is accepted as its text), else None."""
    t = type(v)
    if t is bytes:
        return v.decode("utf-8", "surrogateescape")  # type: ignore[no-any-return]
    if t is int or t is float:
        return lua_number(v)
    return None


def integer_arg(v: Any) -> int | None:
    """An integer argument (an integral number or a numeric string), else None."""
    t = type(v)
    if t is int:
        return v  # type: ignore[no-any-return]
    if t is float:
        return int(v) if v.is_integer() and abs(v) < 2**63 else None
    if t is bytes and _INTEGER(v):
        return int(v)
    return None


def boolean_arg(v: Any) -> bool | None:
    """A boolean argument, else None."""
    return v if v is True or v is False else None
