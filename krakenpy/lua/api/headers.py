"""Header names and values, and the header accessors request, ctx and response share.

A header set from Lua must be a valid header line: the name an HTTP token, the value free of
control characters (CR and LF would split it into two headers, or end the head early). A bad
value on a request comes from the client in practice (a parameter or a header copied over), so
it is refused with a 400; on a response it is the backend's or the script's, so a 500.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from krakenpy.lua.api.args import CTL, TOKEN, bad_arg, error, string_arg
from krakenpy.lua.api.store import NEED_ARGS, Result, Store
from krakenpy.lua.convert import Kind, lua_number
from krakenpy.names import canonical_header
from krakenpy.proxy.types import Headers

__all__ = [
    "KNOWN_NAMES",
    "checked_value",
    "first",
    "get_or_set",
    "header_name",
    "list_get_or_set",
    "name_error",
    "refused",
    "token_name",
]

log = logging.getLogger("krakenpy.lua")

NOT_A_LIST: Final = (Kind.ERROR, b"invalid header value, must be a luaList")

#: header names as scripts write them (Lua strings) → canonical names; valid tokens only, short
#: ones only (scripts repeat the same few names), bounded and reset when full
_NAMES: dict[bytes, str] = {}
#: the same cache, for accessors that inline the common case (cleared in place, never replaced)
KNOWN_NAMES: Final = _NAMES
_NAMES_MAX: Final = 1024
_NAME_MAX_CACHED: Final = 64
#: an invalid header value was refused at least once (logged once at WARNING, then at DEBUG)
_refused: list[bool] = []


def header_name(k: Any) -> str | None:
    """The canonical header name of a string or number argument (for look-ups), else None."""
    name = _NAMES.get(k) if type(k) is bytes else None
    if name is not None:
        return name
    raw = string_arg(k)
    if raw is None:
        return None
    return _remember(k, raw) if TOKEN(raw) else canonical_header(raw)


def token_name(k: Any) -> str | None:
    """The canonical name of a header a script sets: a string that is an HTTP token, else None."""
    name = _NAMES.get(k) if type(k) is bytes else None
    if name is not None:
        return name
    raw = string_arg(k)
    return _remember(k, raw) if raw is not None and TOKEN(raw) else None


def _remember(k: Any, raw: str) -> str:
    name = canonical_header(raw)
    if type(k) is bytes and len(k) <= _NAME_MAX_CACHED:
        if len(_NAMES) >= _NAMES_MAX:
            _NAMES.clear()
        _NAMES[k] = name
    return name


def name_error(store: Store, k: Any, i: int, fname: str) -> Result:
    """The error for a header name argument that is not a string, or not a token."""
    if string_arg(k) is None:
        return bad_arg(store, i, fname, "string", k)
    return error(f"{fname}: invalid header name {_preview(k)}")


def checked_value(v: Any, name: str, fname: str, status: int) -> str | Result:
    """A header value as text; None when it is not a string; the error (with ``status``) when it has CR/LF."""
    value = v.decode("utf-8", "surrogateescape") if type(v) is bytes else string_arg(v)
    if value is not None and not value.isprintable() and CTL(value):  # isprintable: the fast path
        return refused(name, fname, status)
    return value


def refused(name: str, fname: str, status: int) -> Result:
    """The error for a header value with control characters (logged once at WARNING, then at DEBUG)."""
    log.log(
        logging.DEBUG if _refused else logging.WARNING,
        "lua: %s refused a value with control characters (CR, LF, NUL...) for header %s",
        fname,
        name,
    )
    _refused.append(True)
    del _refused[1:]
    return error(f"{fname}: invalid value for header {name}: control characters (CR, LF...) are not allowed", status)


def first(headers: Headers, name: str) -> bytes:
    """The first value of a header, or an empty string."""
    values = headers.get(name)
    return values[0].encode("utf-8", "surrogateescape") if values else b""


def get_or_set(store: Store, headers: Headers, n: int, k: Any, v: Any, status: int) -> Result:
    """``headers()`` / ``headers(k)`` / ``headers(k, v)`` / ``headers(k, nil)`` on one header map."""
    if n == 0:
        return Kind.TABLE, store.ref({name: list(values) for name, values in headers.items()})
    if n == 1:
        name = header_name(k)
        return bad_arg(store, 1, "headers", "string", k) if name is None else (Kind.PLAIN, first(headers, name))
    name = token_name(k)
    if name is None:
        return name_error(store, k, 1, "headers")
    if v is None:
        headers.pop(name, None)
        return None
    if type(v) is bytes:  # the common case, inline
        value = v.decode("utf-8", "surrogateescape")
        if not value.isprintable() and CTL(value):  # isprintable: the fast path of printable text
            return refused(name, "headers", status)
        headers[name] = [value]
        return None
    checked = checked_value(v, name, "headers", status)
    if not isinstance(checked, str):
        return checked if checked is not None else bad_arg(store, 2, "headers", "string", v)
    headers[name] = [checked]
    return None


def list_get_or_set(store: Store, headers: Headers, n: int, k: Any, v: Any, status: int) -> Result:
    """``headerList(k)`` / ``headerList(k, luaList)`` on one header map."""
    if n == 0:
        return NEED_ARGS
    if n == 1:
        name = header_name(k)
        if name is None:
            return bad_arg(store, 1, "headerList", "string", k)
        return Kind.LIST, store.ref(list(headers.get(name, [])))
    name = token_name(k)
    if name is None:
        return name_error(store, k, 1, "headerList")
    items = store.list_of(v)
    if items is None:
        return NOT_A_LIST
    values: list[str] = []
    for item in items:
        if type(item) is str:
            value = item
        elif type(item) is int or type(item) is float:
            value = lua_number(item)
        else:
            return error(f"headerList: the values of header {name} must be strings")
        if not value.isprintable() and CTL(value):
            return refused(name, "headerList", status)
        values.append(value)
    headers[name] = values
    return None


def _preview(k: Any) -> str:
    text = string_arg(k) or ""
    return repr(text[:40] + ("..." if len(text) > 40 else ""))
