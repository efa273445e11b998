"""Weakly typed decoding of the core fields, as KrakenD's koanf/mapstructure decoder does it.

mapstructure's ``WeaklyTypedInput`` turns ``"concurrent_calls": true`` into 1, ``"port": "8080"`` into
8080, ``"is_collection": "true"`` into True, ``"name": 3`` into "3" (a float as Go's ``%f`` without
trailing zeros: ``1e20`` is "100000000000000000000") and any other lone value into a one-item list;
koanf's ``StringToSliceHook(",")`` runs first, so a lone string is split at its commas (``"a,b"`` is
``["a", "b"]``, ``""`` is ``[]``), but for a comma inside the user information of a URL in ``host``
(``http://ada:p,w@h``): KrakenD cuts that URL there, into hosts that are no URL, a password's pieces
among them; krakenpy keeps it whole and says so (a warning). :func:`coerce_weak` applies the same
conversions to the scalar fields of the service, its endpoints, their backends and the async agents'
backends, so the schema sees what KrakenD would. Values that cannot be converted (what KrakenD refuses:
an object or a list in a string, a string that is no Go integer) are left untouched for the schema to
report.

KrakenD reads a number or a boolean in a list of strings (``"host": 5``, ``"allow": [true]``) as its
text and starts; its schema (``check --lint``) refuses it, and the text is never what was meant (a host
``http://5``). :func:`coerce_weak` converts it as KrakenD does and returns one issue per such value at its
JSON path: a warning, an error with ``lint``. Any other conversion that changes a value's JSON type
(``"port": "8080"``, ``"host": "http://a"``, ``"is_collection": "true"``) is what KrakenD reads and its
schema refuses: nothing without ``lint``, an error with it; not for a ``KRAKEND_*`` variable's
text (``KRAKEND_DEBUG_ENDPOINT=true``): KrakenD's schema checks the file, never the environment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Final

import orjson

from krakenpy.config.keypath import key_path
from krakenpy.errors import ConfigIssue

__all__ = ["coerce_weak", "go_bool", "go_int"]

_MISSING: Final = object()
_TRUE: Final = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "false", "FALSE", "False", ""})
#: what Go's ``strconv.ParseInt(s, 0, 64)`` reads: ASCII digits only, a base prefix or a leading 0 (octal),
#: an underscore only between digits (or after the prefix)
_GO_INT: Final = re.compile(
    r"[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)"
)
_INT64: Final = range(-(2**63), 2**63)


def _to_int(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return _go_int(value)
    return value


def _go_int(text: str) -> int | str:
    """``text`` as Go's ``strconv.ParseInt(text, 0, 64)`` reads it (``""`` is 0, as mapstructure reads it):
    10, 0x1f, 0o17, 0b11, "017" is 15, "1_000" is 1000; ``text`` itself when Go refuses it (a space, a
    non-ASCII digit, above int64), for the schema to refuse at its path."""
    if text == "":
        return 0
    if _GO_INT.fullmatch(text) is None:
        return text
    digits = text.lstrip("+-").replace("_", "")
    octal = len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()  # "017"; Python's base 0 refuses it
    magnitude = int(digits, 8 if octal else 0)
    value = -magnitude if text[0] == "-" else magnitude
    return value if value in _INT64 else text


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    return value


def _to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        # Go's strconv.FormatFloat(f, 'f', -1, 64): the shortest digits, never an exponent (decimal
        # imported here: a float where a string goes is rare, and a plain start loads no decimal)
        from decimal import Decimal

        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return value


def _to_str_list(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_str(v) for v in value]
    if isinstance(value, str):
        return value.split(",") if value else []
    if isinstance(value, int | float):
        return [_to_str(value)]
    return value


def _to_host_list(value: Any) -> Any:
    """:func:`_to_str_list` for ``host``, but for a comma inside a URL's user information
    (``http://ada:p,w@h``), which does not split it (:func:`_userinfo_commas`)."""
    if not isinstance(value, str) or "," not in value:
        return _to_str_list(value)
    hosts: list[str] = []
    start = 0
    for i, char in enumerate(value):
        if char == "," and not _in_userinfo(value, start, i):
            hosts.append(value[start:i])
            start = i + 1
    hosts.append(value[start:])
    return hosts


def _in_userinfo(value: str, start: int, comma: int) -> bool:
    """Whether the comma at ``comma`` of the host that begins at ``start`` lies in its user information:
    in its authority (no ``/``, ``?`` or ``#`` past its ``scheme://``), before an ``@`` that ends it."""
    scheme = value.find("://", start, comma)
    authority = value[start if scheme < 0 else scheme + 3 : comma]
    at = value.find("@", comma)
    return at >= 0 and not any(mark in authority or mark in value[comma:at] for mark in ("/", "?", "#"))


def _userinfo_commas(value: Any) -> bool:
    """Whether a lone host string holds a comma inside a URL's user information. KrakenD splits it at
    every comma all the same, into hosts that are no URL (``http://ada:p`` and ``w@h``, a password's
    pieces quoted in the errors that refuse them and unknown to the logs' masking); krakenpy keeps that
    URL whole (refused with its password masked unless ``disable_host_sanitize``) and says so."""
    return isinstance(value, str) and "," in value and len(_to_host_list(value)) != len(value.split(","))


def _read_as_text(value: Any) -> bool:
    """Whether KrakenD reads ``value``, an item of a list of strings, as its text: a number or a boolean."""
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


#: a ``KRAKEND_*`` variable's text into an integer or boolean key (:func:`krakenpy.config.loader.apply_env_overrides`)
go_int: Final = _to_int
go_bool: Final = _to_bool

_Coercer = Callable[[Any], Any]
_SERVICE: Final[Mapping[str, _Coercer]] = {
    "version": _to_int,
    "port": _to_int,
    "max_header_bytes": _to_int,
    "max_idle_connections": _to_int,
    "max_idle_connections_per_host": _to_int,
    "disable_keep_alives": _to_bool,
    "disable_compression": _to_bool,
    "disable_rest": _to_bool,
    "debug_endpoint": _to_bool,
    "echo_endpoint": _to_bool,
    "use_h2c": _to_bool,
    "allow_insecure_connections": _to_bool,
    "sequential_start": _to_bool,
    "name": _to_str,
    "listen_ip": _to_str,
    "output_encoding": _to_str,
    "host": _to_host_list,
}
_ENDPOINT: Final[Mapping[str, _Coercer]] = {
    "concurrent_calls": _to_int,
    "endpoint": _to_str,
    "method": _to_str,
    "output_encoding": _to_str,
    "input_headers": _to_str_list,
    "input_query_strings": _to_str_list,
}
_BACKEND: Final[Mapping[str, _Coercer]] = {
    "disable_host_sanitize": _to_bool,
    "is_collection": _to_bool,
    "url_pattern": _to_str,
    "method": _to_str,
    "encoding": _to_str,
    "target": _to_str,
    "group": _to_str,
    "sd": _to_str,
    "sd_scheme": _to_str,
    "host": _to_host_list,
    "allow": _to_str_list,
    "deny": _to_str_list,
    "input_headers": _to_str_list,
    "input_query_strings": _to_str_list,
}


def _apply(
    obj: dict[str, Any],
    fields: Mapping[str, _Coercer],
    path: str,
    said: list[ConfigIssue],
    linted: list[ConfigIssue],
    env: Collection[str] = (),
) -> None:
    for key, coerce in fields.items():
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            continue
        where = key_path(path, key)
        if coerce is _to_str_list or coerce is _to_host_list:
            if coerce is _to_host_list and _userinfo_commas(value):
                said.append(ConfigIssue(where, _KEPT_WHOLE, "warning"))
            elif coerce is _to_str_list and isinstance(value, str) and "," in value:
                said.extend(_spaced(where, value))
            if _read_as_text(value):
                said.append(_as_text(where, value))
            elif isinstance(value, list):
                said.extend(_as_text(f"{where}[{i}]", v) for i, v in enumerate(value) if _read_as_text(v))
        converted = coerce(value)
        # a KRAKEND_* variable's value is text by nature, and KrakenD's schema checks the file, not it
        if _retyped(value, converted) and not (isinstance(converted, list) and _read_as_text(value)) and key not in env:
            linted.append(_weak(where, value, converted))
        obj[key] = converted


def _retyped(value: Any, converted: Any) -> bool:
    """Whether the weak decoding changed the JSON type of ``value`` (a list of strings written as a lone
    string or number, ``"8080"`` for an integer, ``"true"`` for a boolean): KrakenD starts with it, its
    schema refuses it. A number inside a list is said on its own (:func:`_as_text`)."""
    if isinstance(converted, list):
        return not isinstance(value, list)
    if isinstance(value, float) and type(converted) is int:
        # ``8080.0``: an integer to JSON Schema (draft 6 on) and to Go, which decodes every number as
        # a float64 and cannot tell it from ``8080``; the schema's ``integer`` takes it
        return False
    return converted is not value and type(converted) is not type(value)


def _weak(path: str, value: Any, converted: Any) -> ConfigIssue:
    want = {list: "a list of strings", bool: "a boolean", int: "an integer", str: "a string"}[type(converted)]
    # spelt as JSON (``true``, ``"3"``), as the file is written; a list's items counted, never quoted
    # (a host may hold a password)
    read = f"{len(converted)} item(s)" if isinstance(converted, list) else orjson.dumps(converted).decode()
    return ConfigIssue(
        path,
        f"{_json_kind(value)}, not {want}: KrakenD reads it as {read} and starts, but its schema refuses it "
        "(check --lint, krakend check --lint)",
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "a list" if isinstance(value, list) else "an object"


_KEPT_WHOLE: Final = (
    "a comma inside a URL's user information: that URL is kept whole, not split there as KrakenD splits a "
    "lone string (into hosts that are no URL); write the hosts as a list"
)


def _spaced(path: str, value: str) -> Iterator[ConfigIssue]:
    """A name a lone string's split left with a space around it (``"X-A, X-B"``): KrakenD keeps the
    space too, and ``" X-B"`` is no header a client can send; a warning at its path."""
    for i, name in enumerate(value.split(",")):
        if name.strip() and name != name.strip():
            yield ConfigIssue(
                f"{path}[{i}]",
                f"{name!r}: the space around it is kept, as KrakenD keeps it when it splits a lone string at "
                f"its commas: it matches only a name with that space; write {name.strip()!r}",
                "warning",
            )


def _as_text(path: str, value: Any) -> ConfigIssue:
    kind = "a boolean" if isinstance(value, bool) else "a number"
    return ConfigIssue(path, f"{kind}, not a string: read as {_to_str(value)!r}, as KrakenD reads it; quote it")


def _dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        yield from ((i, item) for i, item in enumerate(value) if isinstance(item, dict))


def coerce_weak(doc: dict[str, Any], *, lint: bool = False, env: Collection[str] = ()) -> list[ConfigIssue]:
    """Convert the core scalar fields of ``doc`` in place, the way KrakenD's weak decoding does; the
    numbers and booleans read as strings in a list of strings, warnings (errors with ``lint``); with
    ``lint``, every other conversion that changed a value's JSON type an error too, but for the
    top-level keys in ``env``, which a ``KRAKEND_*`` variable set (its text is no value of the file)."""
    said: list[ConfigIssue] = []
    linted: list[ConfigIssue] = []
    _apply(doc, _SERVICE, "", said, linted, env)
    for i, endpoint in _dicts(doc.get("endpoints")):
        _apply(endpoint, _ENDPOINT, f"endpoints[{i}]", said, linted)
        for j, backend in _dicts(endpoint.get("backend")):
            _apply(backend, _BACKEND, f"endpoints[{i}].backend[{j}]", said, linted)
    for i, agent in _dicts(doc.get("async_agent")):
        for j, backend in _dicts(agent.get("backend")):
            _apply(backend, _BACKEND, f"async_agent[{i}].backend[{j}]", said, linted)
    if lint:
        return said + linted
    return [ConfigIssue(issue.path, issue.message, "warning") for issue in said]
