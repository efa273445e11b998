"""Weakly typed decoding of the core fields, as KrakenD's koanf/mapstructure decoder does it.

mapstructure's ``WeaklyTypedInput`` turns ``"concurrent_calls": true`` into 1, ``"port": "8080"`` into
8080, ``"is_collection": "true"`` into True, ``"name": 3`` into "3" and a lone string into a one-item
list. :func:`coerce_weak` applies the same conversions to the scalar fields of the service, its
endpoints, their backends and the async agents' backends, so the schema sees what KrakenD would.
Values that cannot be converted are left untouched for the schema to report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

__all__ = ["coerce_weak"]

_MISSING: Final = object()
_TRUE: Final = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "false", "FALSE", "False", ""})


def _to_int(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0
        try:
            return int(text, 0)  # Go's strconv.ParseInt(s, 0, 64): 10, 0x1f, 0o17, 0b11
        except ValueError:
            return value
    return value


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
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _to_str_list(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_str(v) for v in value]
    if isinstance(value, str | int | float):
        return [_to_str(value)]
    return value


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
    "host": _to_str_list,
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
    "host": _to_str_list,
    "allow": _to_str_list,
    "deny": _to_str_list,
    "input_headers": _to_str_list,
    "input_query_strings": _to_str_list,
}


def _apply(obj: dict[str, Any], fields: Mapping[str, _Coercer]) -> None:
    for key, coerce in fields.items():
        value = obj.get(key, _MISSING)
        if value is not _MISSING:
            obj[key] = coerce(value)


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def coerce_weak(doc: dict[str, Any]) -> None:
    """Convert the core scalar fields of ``doc`` in place, the way KrakenD's weak decoding does."""
    _apply(doc, _SERVICE)
    for endpoint in _dicts(doc.get("endpoints")):
        _apply(endpoint, _ENDPOINT)
        for backend in _dicts(endpoint.get("backend")):
            _apply(backend, _BACKEND)
    for agent in _dicts(doc.get("async_agent")):
        for backend in _dicts(agent.get("backend")):
            _apply(backend, _BACKEND)
