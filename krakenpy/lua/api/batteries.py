"""krakenpy's batteries: ``json`` and ``base64``, and the ``print``/clock helpers the prelude uses."""

from __future__ import annotations

import base64
import binascii
import logging
import time
from typing import Any

import lupa.lua54 as lupa
import orjson

from krakenpy.backends.conntiming import EXCHANGE_VAR
from krakenpy.lua.api.args import bad_arg, error, string_arg
from krakenpy.lua.api.response import PostState
from krakenpy.lua.api.store import ENTRY_COST, Result, Store
from krakenpy.lua.convert import ARRAY, MAX_DEPTH, NULL, OBJECT, ConversionError, Kind, Mode

__all__ = ["MEMORY_ERROR", "functions"]

#: Lua's own message for a failed allocation: the prelude re-raises it so that pcall cannot catch it
MEMORY_ERROR = "not enough memory"

log = logging.getLogger("krakenpy.lua")


def functions(store: Store) -> dict[bytes, Any]:
    """Plain functions (not methods) and markers the prelude reads by name."""
    converted, lua, nil, mark = store.converted, store.lua, store.nil, store.mark

    def json_encode(n: int, v: Any = None) -> Result:
        try:
            data, cost = converted(v, Mode.JSON)
            return Kind.PLAIN, orjson.dumps(data), cost
        except (TypeError, ValueError) as exc:  # a conversion error, an integer beyond 64 bits
            return error(f"json.encode: {exc}")

    def json_decode(n: int, s: Any = None) -> Result:
        source = s if type(s) is bytes else string_arg(s)
        if source is None:
            return bad_arg(store, 1, "decode", "string", s)
        tally[0] = 0
        try:
            return Kind.PLAIN, plain(orjson.loads(source), 0), tally[0] * ENTRY_COST
        except orjson.JSONDecodeError as exc:
            return error(f"json.decode: {exc}")
        except ConversionError as exc:
            return error(f"json.decode: {exc}")
        except lupa.LuaMemoryError:
            return error(MEMORY_ERROR)

    tally = [0]  # entries json.decode built (charged like conversions)

    def plain(v: Any, depth: int) -> Any:
        """Decoded JSON as plain Lua tables (arrays 1-based and marked, so they encode back as arrays)."""
        if isinstance(v, str):
            return v.encode("utf-8", "surrogateescape")
        if v is None:
            return nil
        if depth > MAX_DEPTH:
            raise ConversionError("nested too deeply")
        if isinstance(v, dict):
            tally[0] += len(v)
            table = lua.table()
            for k, x in v.items():
                table[k.encode("utf-8", "surrogateescape")] = plain(x, depth + 1)
            mark(table, OBJECT)
            return table
        if isinstance(v, list):
            tally[0] += len(v)
            table = lua.table()
            for i, x in enumerate(v, 1):
                table[i] = plain(x, depth + 1)
            mark(table, ARRAY)
            return table
        return v

    def b64encode(n: int, s: Any = None) -> Result:
        source = s if type(s) is bytes else string_arg(s)
        if source is None:
            return bad_arg(store, 1, "encode", "string", s)
        return Kind.PLAIN, base64.b64encode(
            source if isinstance(source, bytes) else source.encode("utf-8", "surrogateescape")
        )

    def b64decode(n: int, s: Any = None) -> Result:
        source = s if type(s) is bytes else string_arg(s)
        if source is None:
            return bad_arg(store, 1, "decode", "string", s)
        try:
            return Kind.PLAIN, base64.b64decode(source, validate=False)
        except (binascii.Error, ValueError):  # nil, as documented: not an error
            return None

    def print_(line: bytes) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        # README (Redaction): what the script may print of the answers it handles (a token in the
        # backend's data) is masked in the line, as the request's credentials are; worked out here
        # only, when a script prints
        exchange = EXCHANGE_VAR.get()
        if exchange is not None:
            shown = _shown(store)
            if shown:
                exchange.note_shown(shown)
        log.info("lua: %s", _one_line(line.decode("utf-8", "replace")))

    return {
        b"NULL": NULL,
        b"ARRAY": ARRAY,
        b"OBJECT": OBJECT,
        b"new_dict": lambda: store.ref({}),
        b"new_list": lambda: store.ref([]),
        b"print": print_,
        b"now": time.monotonic,
        b"json_encode": json_encode,
        b"json_decode": json_decode,
        b"b64encode": b64encode,
        b"b64decode": b64decode,
    }


def _shown(store: Store) -> tuple[Any, ...]:
    """The answers the running script handles (a ``post`` script's response: its data, its body)."""
    found: list[Any] = []
    for obj in store.in_scope():
        if isinstance(obj, PostState):
            response = obj.response
            if response.data:
                found.append(response.data)
            if response.body:
                found.append(response.body)
    return tuple(found)


def _one_line(text: str) -> str:
    """A printed line as one log line: CR and LF written ``\\r`` and ``\\n`` (a script printing a
    client's value, a decoded ``%0D%0A``, must not forge log lines), backslashes left as they are."""
    if "\r" in text or "\n" in text:
        return text.replace("\r", "\\r").replace("\n", "\\n")
    return text
