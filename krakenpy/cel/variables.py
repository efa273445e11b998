"""The values KrakenD binds to CEL variables, taken from krakenpy's request, response and claims.

Types follow KrakenD (edge-security.md §9): ``req_params`` map(string, string) with capitalised keys,
``req_headers``/``req_querystring`` map(string, list(string)), ``resp_data`` and ``JWT``
map(string, dyn) whose JSON numbers are doubles (Go decodes them as float64), and ``now`` a string
(write ``timestamp(now)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeAlias

from krakenpy.proxy.types import Request, Response

__all__ = ["REQUEST", "RESPONSE", "TOKEN", "Binder", "as_json_doubles", "binder", "now_string"]

Getter: TypeAlias = Callable[[Any], Any]
#: ``bind(source, now) -> {variable: value}`` for the variables a phase needs
Binder: TypeAlias = Callable[[Any, str], dict[str, Any]]


def now_string(moment: datetime | None = None) -> str:
    """Go's ``2006-01-02T15:04:05.999Z07:00`` in server-local time: milliseconds without trailing
    zeros (none at all on a whole second), ``Z`` for UTC, else ``±hh:mm``."""
    moment = moment or datetime.now().astimezone()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    if millis:
        text += f".{millis:03d}".rstrip("0")
    offset = moment.utcoffset()
    if offset is None or not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{text}{sign}{hours:02d}:{mins:02d}"


def as_json_doubles(value: Any) -> Any:
    """``value`` as Go's ``encoding/json`` would hand it to CEL: integers become doubles, tuples lists,
    keys strings; anything that is not JSON becomes its text (never an unconvertible object)."""
    if value is None or value is True or value is False or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): as_json_doubles(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json_doubles(v) for v in value]
    return str(value)


#: request-phase variables (endpoint: the client request after input filtering; backend: the
#: backend request after the request builder, so ``req_path`` is the backend path)
REQUEST: Final[Mapping[str, Getter]] = {
    "req_method": lambda r: r.method,
    "req_path": lambda r: r.path,
    "req_params": lambda r: r.params,
    "req_headers": lambda r: r.headers,
    "req_querystring": lambda r: r.query,
}
#: response-phase variables (status and headers only mean something with ``no-op``)
RESPONSE: Final[Mapping[str, Getter]] = {
    "resp_completed": lambda r: r.is_complete,
    "resp_metadata_status": lambda r: r.status,
    "resp_metadata_headers": lambda r: r.headers,
    "resp_data": lambda r: as_json_doubles(r.data),
}
#: the JWT rejecter binds the verified claims
TOKEN: Final[Mapping[str, Getter]] = {"JWT": as_json_doubles}


def binder(getters: Mapping[str, Getter], names: Sequence[str]) -> Binder:
    """A function that builds only ``names`` (a phase's variables that its expressions mention)."""
    picked = tuple((name, getters[name]) for name in names if name in getters)
    wants_now = "now" in names

    def bind(source: Request | Response | Mapping[str, Any], now: str) -> dict[str, Any]:
        values = {name: get(source) for name, get in picked}
        if wants_now:
            values["now"] = now
        return values

    return bind
