"""Values between Lua and Python (krakend-lua ``types.go`` rules, plus krakenpy's JSON markers).

Lua strings cross as ``bytes`` (the runtime has no implicit encoding, so binary bodies survive).
Plain Lua tables are converted recursively: the top-level table given to ``luaTable:set`` stays an
object, nested tables whose keys are all integers become arrays (sorted by key; an empty one becomes
``null``, as in KrakenD). ``json.array(t)`` / ``json.object(t)`` force the shape, ``luaNil``/``json.null``
is ``null``. API objects (luaTable/luaList) are passed by reference, as KrakenD does.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any, Final

import lupa.lua54 as lupa

__all__ = [
    "ARRAY",
    "NULL",
    "OBJECT",
    "ConversionError",
    "Kind",
    "Mode",
    "class_name",
    "from_lua",
    "key_str",
    "lua_number",
    "lua_type",
    "to_lua",
]

MAX_DEPTH: Final = 64


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: handle of ``luaNil``/``json.null``; of tables marked with ``json.array`` / ``json.object``
NULL: Final = _Marker("NULL")
ARRAY: Final = _Marker("ARRAY")
OBJECT: Final = _Marker("OBJECT")


class Kind:
    """How the Lua side lifts a value a Python accessor returns (see api.lua ``lift``).

    Plain ints, not an IntEnum: lupa converts an int subclass through a slower path (~0.1 µs per
    accessor call).
    """

    PLAIN: Final = 0
    TABLE: Final = 1
    LIST: Final = 2
    NULL: Final = 3
    MULTI: Final = 4
    #: no value; the accessor did work the budget must count: ``(CHARGED, instructions)``
    CHARGED: Final = 5
    ERROR: Final = 9


class Mode(IntEnum):
    TOP = 0  # luaTable:set value: a plain table stays an object
    NESTED = 1  # inside a converted table: integer keys make an array
    JSON = 2  # json.encode: a sequence is an array, anything else (and {}) an object


class ConversionError(ValueError):
    """A Lua value that has no Python/JSON equivalent (a function, a cycle, a table as a key...)."""


def lua_number(value: int | float) -> str:
    """A number as text: integral values without a fraction (``5.0`` → ``5``), others as Lua's ``%.14g``."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return f"{value:.14g}"


def key_str(value: Any) -> str:
    """A Lua table key (a string or a number) as a JSON object key."""
    if type(value) is bytes:
        return value.decode("utf-8", "replace")  # a JSON key: valid UTF-8, as Go's encoding/json makes it
    if value is True or value is False:  # as KrakenD (Go's LBool.String())
        return "true" if value else "false"
    if isinstance(value, int | float):
        return lua_number(value)
    raise ConversionError(f"a {lua_type(value)} cannot be an object key (strings and numbers can)")


#: the Lua class of an API object, by the type of the Python object behind it
_CLASS_NAMES: Final = {
    "dict": "luaTable",
    "list": "luaList",
    "Request": "request",
    "PostState": "response",
    "HttpResult": "http_response",
}


def class_name(obj: Any) -> str:
    """The Lua class name of the object behind an API object (``request``, ``luaTable``...)."""
    if type(obj) is bytes:  # a request, ctx or response object: the prelude hands over its class name
        return obj.decode()
    return "luaNil" if obj is NULL else _CLASS_NAMES.get(type(obj).__name__, "table")


def lua_type(value: Any) -> str:
    """The Lua type name of a value as lupa hands it over."""
    if value is None:
        return "nil"
    if value is True or value is False:
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, bytes):
        return "string"
    return lupa.lua_type(value) or "userdata"  # a Python object (a caught Python error)


def _number(value: float) -> int | float:
    # Go prints an integral float64 without a fraction; keep JSON output identical
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _int_key(key: Any) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, float) and key.is_integer():
        return int(key)
    if isinstance(key, bytes) and len(key) <= 18 and key.lstrip(b"-").isdigit():
        return int(key)
    return None


def from_lua(
    value: Any, lookup: Callable[[Any], Any], mode: Mode = Mode.TOP, depth: int = 0, tally: list[int] | None = None
) -> Any:
    """Convert one Lua value (as lupa hands it over) to JSON-able Python data.

    ``tally[0]`` grows by the number of table entries converted (the work, for the budget).
    """
    if value is None or value is True or value is False or isinstance(value, int):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, bytes):
        # pipeline data is JSON: bytes that are not UTF-8 become U+FFFD, as Go's encoding/json does
        return value.decode("utf-8", "replace")
    if lupa.lua_type(value) != "table":
        raise ConversionError(f"cannot convert a {lua_type(value)} value")
    if depth > MAX_DEPTH:
        raise ConversionError("table nested too deeply (or cyclic)")
    handle = lookup(value)
    if handle is not None:
        if handle is NULL:
            return None
        if isinstance(handle, dict | list):
            return handle
        if handle is not ARRAY and handle is not OBJECT:
            raise ConversionError(f"cannot convert a {class_name(handle)} object")
    if tally is None:
        tally = [0]
    nested = Mode.JSON if mode is Mode.JSON else Mode.NESTED
    items = list(value.items())
    tally[0] += len(items)
    deeper = depth + 1
    if handle is OBJECT or (handle is not ARRAY and mode is Mode.TOP):
        return {key_str(k): from_lua(v, lookup, nested, deeper, tally) for k, v in items}
    keyed = [(_int_key(k), v) for k, v in items]
    ints = sorted((k, i) for i, (k, _) in enumerate(keyed) if k is not None)
    all_int = len(ints) == len(keyed)
    if handle is ARRAY or (all_int and mode is Mode.NESTED):
        if not items and handle is not ARRAY:
            return None  # KrakenD: an empty nested table is a nil slice, JSON null
        return [from_lua(keyed[i][1], lookup, nested, deeper, tally) for _, i in ints]
    if mode is Mode.JSON and items and all_int and [k for k, _ in ints] == list(range(1, len(ints) + 1)):
        return [from_lua(keyed[i][1], lookup, nested, deeper, tally) for _, i in ints]
    return {key_str(k): from_lua(v, lookup, nested, deeper, tally) for k, v in items}


def to_lua(value: Any, ref: Callable[[Any], int]) -> tuple[int, Any]:
    """A Python value as (kind, value) for the Lua side: containers stay live references (by ``ref`` id)."""
    if isinstance(value, str):
        return Kind.PLAIN, value.encode("utf-8", "surrogateescape")
    if value is None:
        return Kind.NULL, None
    if isinstance(value, dict):
        return Kind.TABLE, ref(value)
    if isinstance(value, list):
        return Kind.LIST, ref(value)
    if isinstance(value, bool | int | float | bytes):
        return Kind.PLAIN, value
    return Kind.PLAIN, str(value).encode("utf-8", "surrogateescape")
