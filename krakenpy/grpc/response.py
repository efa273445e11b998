"""The answer message as JSON data: field names as in the .proto (``snake_case``) or in JSON
(``camelCase``); enums as numbers or names; timestamps and durations as ``{seconds, nanos}`` or
strings; wrappers as their value; every field of the type, or only those set
(``output_remove_unset_values``). 64-bit integers stay numbers and bytes become base64.

Each message type gets a plan the first time it is seen (its output names and one converter per
field, ``None`` for a value used as it is), so a call is a loop over the plan."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor as F

from krakenpy.grpc.fields import WRAPPERS, is_map
from krakenpy.grpc.options import BackendOptions

__all__ = ["RenderError", "Renderer", "duration_string", "timestamp_string"]

_JSON_TYPES: Final = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
_EPOCH: Final = datetime.datetime(1970, 1, 1)
Convert = Callable[[Any], Any]
#: per field: output name, attribute name, converter (None: the value as it is), singular message
_Plan = tuple[tuple[str, str, Convert | None, bool], ...]


class RenderError(ValueError):
    """An answer that has no JSON form (NaN or Infinity in a ``Value``): the backend's fault."""


def _fraction(nanos: int) -> str:
    """protobuf's JSON form: 0, 3, 6 or 9 digits."""
    if nanos == 0:
        return ""
    if nanos % 1_000_000 == 0:
        return f".{nanos // 1_000_000:03d}"
    if nanos % 1_000 == 0:
        return f".{nanos // 1_000:06d}"
    return f".{nanos:09d}"


def timestamp_string(seconds: int, nanos: int) -> str:
    """RFC 3339 in UTC, as protobuf's JSON mapping writes it (``2023-11-14T22:13:20.500Z``)."""
    try:
        moment = _EPOCH + datetime.timedelta(seconds=seconds)
    except OverflowError:  # outside years 1-9999: not a valid Timestamp, written as a number
        return f"{seconds}{_fraction(nanos)}"
    return f"{moment.isoformat()}{_fraction(nanos)}Z"


def duration_string(seconds: int, nanos: int) -> str:
    """Seconds with 0, 3, 6 or 9 fraction digits (``5400s``, ``-1.500s``), protobuf's JSON form."""
    sign = "-" if seconds < 0 or nanos < 0 else ""
    return f"{sign}{abs(seconds)}{_fraction(abs(nanos))}s"


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _enum_names(field: Any) -> Convert:
    by_number = {v.number: v.name for v in field.enum_type.values}
    return lambda number: by_number.get(number, number)


class Renderer:
    """Renders the messages of one backend (plans per message type, made on first use)."""

    __slots__ = ("_camel", "_durations", "_enums", "_plans", "_remove_unset", "_timestamps")

    def __init__(self, options: BackendOptions) -> None:
        self._camel = options.camel_case_response
        self._enums = options.enum_as_string
        self._timestamps = options.timestamp_as_string
        self._durations = options.duration_as_string
        self._remove_unset = options.remove_unset
        self._plans: dict[Any, tuple[_Plan, dict[str, tuple[str, Convert | None]]]] = {}

    def message(self, message: Any) -> dict[str, Any]:
        """The data of a message (its well-known special forms apply to fields, as in KrakenD)."""
        found = self._plans.get(message.DESCRIPTOR)
        if found is None:
            found = self._plan(message.DESCRIPTOR)
        plan, by_name = found
        out: dict[str, Any] = {}
        if self._remove_unset:
            for field, value in message.ListFields():
                name, convert = by_name[field.name]
                out[name] = value if convert is None else convert(value)
            return out
        for name, attribute, convert, singular_message in plan:
            if singular_message and not message.HasField(attribute):
                out[name] = None
            else:
                value = getattr(message, attribute)
                out[name] = value if convert is None else convert(value)
        return out

    def _plan(self, descriptor: Any) -> tuple[_Plan, dict[str, tuple[str, Convert | None]]]:
        plan = tuple(
            (
                field.json_name if self._camel else field.name,
                field.name,
                self._field_converter(field),
                field.type == F.TYPE_MESSAGE and not field.is_repeated,
            )
            for field in descriptor.fields
        )
        by_name = {attribute: (name, convert) for name, attribute, convert, _ in plan}
        found = self._plans[descriptor] = (plan, by_name)
        return found

    def _field_converter(self, field: Any) -> Convert | None:
        if is_map(field):
            item = self._one(field.message_type.fields_by_name["value"])
            if item is None:
                return lambda values: {_key(k): v for k, v in values.items()}
            convert_item: Convert = item
            return lambda values: {_key(k): convert_item(v) for k, v in values.items()}
        one = self._one(field)
        if not field.is_repeated:
            return one
        if one is None:
            return list
        convert_one: Convert = one
        return lambda values: [convert_one(v) for v in values]

    def _one(self, field: Any) -> Convert | None:
        kind = field.type
        if kind == F.TYPE_BYTES:
            return _base64
        if kind == F.TYPE_ENUM:
            return _enum_names(field) if self._enums else None
        if kind == F.TYPE_MESSAGE or kind == F.TYPE_GROUP:
            return self._message_converter(field.message_type.full_name)
        return None

    def _message_converter(self, name: str) -> Convert:
        if name == "google.protobuf.Timestamp":
            if self._timestamps:
                return lambda m: timestamp_string(m.seconds, m.nanos)
            return _seconds_nanos
        if name == "google.protobuf.Duration":
            if self._durations:
                return lambda m: duration_string(m.seconds, m.nanos)
            return _seconds_nanos
        if name in WRAPPERS:
            return _wrapped
        if name in _JSON_TYPES:
            return _json_value
        return self.message


def _key(key: Any) -> str:
    # JSON object keys: map<bool, …> keys as Go and protobuf's JSON write them
    return ("true" if key else "false") if isinstance(key, bool) else str(key)


def _json_value(message: Any) -> Any:
    try:
        return json_format.MessageToDict(message)
    except ValueError as exc:  # protobuf's JSON mapping refuses NaN and Infinity in a Value
        raise RenderError(f"{message.DESCRIPTOR.full_name}: {exc}") from None


def _seconds_nanos(message: Any) -> dict[str, int]:
    return {"seconds": message.seconds, "nanos": message.nanos}


def _wrapped(message: Any) -> Any:
    value = message.value
    return _base64(value) if isinstance(value, bytes) else value
