"""The answer message as JSON data: field names as in the .proto (``snake_case``) or in JSON
(``camelCase``); enums as numbers or names; timestamps and durations as ``{seconds, nanos}`` or
strings; wrappers as their value; every field of the type, or only those set
(``output_remove_unset_values``). 64-bit integers stay numbers and bytes become base64."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor as F

from krakenpy.grpc.fields import WRAPPERS, is_map
from krakenpy.grpc.options import BackendOptions

__all__ = ["Renderer"]

_JSON_TYPES: Final = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
_SCALAR, _ENUM, _BYTES, _MESSAGE, _MAP = range(5)

#: (field, output name, kind, repeated)
_Plan = tuple[tuple[Any, str, int, bool], ...]


def _kind(field: Any) -> int:
    if is_map(field):
        return _MAP
    if field.type == F.TYPE_MESSAGE or field.type == F.TYPE_GROUP:
        return _MESSAGE
    if field.type == F.TYPE_ENUM:
        return _ENUM
    if field.type == F.TYPE_BYTES:
        return _BYTES
    return _SCALAR


class Renderer:
    """Renders the messages of one backend (its plans per message type are made on first use)."""

    __slots__ = ("_camel", "_durations", "_enums", "_plans", "_remove_unset", "_timestamps")

    def __init__(self, options: BackendOptions) -> None:
        self._camel = options.camel_case_response
        self._enums = options.enum_as_string
        self._timestamps = options.timestamp_as_string
        self._durations = options.duration_as_string
        self._remove_unset = options.remove_unset
        self._plans: dict[Any, _Plan] = {}

    def _plan(self, descriptor: Any) -> _Plan:
        plan = self._plans.get(descriptor)
        if plan is None:
            plan = self._plans[descriptor] = tuple(
                (f, f.json_name if self._camel else f.name, _kind(f), f.is_repeated) for f in descriptor.fields
            )
        return plan

    def message(self, message: Any) -> dict[str, Any]:
        """The data of a message (its well-known special forms apply only to fields, as in KrakenD)."""
        out: dict[str, Any] = {}
        if self._remove_unset:
            plans = {f: (name, kind, rep) for f, name, kind, rep in self._plan(message.DESCRIPTOR)}
            for field, value in message.ListFields():
                name, kind, repeated = plans[field]
                out[name] = self._value(field, kind, repeated, value)
            return out
        for field, name, kind, repeated in self._plan(message.DESCRIPTOR):
            if kind == _MESSAGE and not repeated and not message.HasField(field.name):
                out[name] = None
            else:
                out[name] = self._value(field, kind, repeated, getattr(message, field.name))
        return out

    def _value(self, field: Any, kind: int, repeated: bool, value: Any) -> Any:
        if kind == _MAP:
            value_field = field.message_type.fields_by_name["value"]
            one = self._one(value_field, _kind(value_field))
            return {str(k).lower() if isinstance(k, bool) else str(k): one(v) for k, v in value.items()}
        one = self._one(field, kind)
        return [one(v) for v in value] if repeated else one(value)

    def _one(self, field: Any, kind: int) -> Callable[[Any], Any]:
        if kind == _SCALAR:
            return _same
        if kind == _BYTES:
            return _base64
        if kind == _ENUM:
            return self._enum_renderer(field) if self._enums else _same
        return self._message_value

    def _enum_renderer(self, field: Any) -> Callable[[Any], Any]:
        by_number = field.enum_type.values_by_number

        def name(number: int) -> Any:
            value = by_number.get(number)
            return value.name if value is not None else number

        return name

    def _message_value(self, message: Any) -> Any:
        name = message.DESCRIPTOR.full_name
        if name == "google.protobuf.Timestamp":
            return message.ToJsonString() if self._timestamps else {"seconds": message.seconds, "nanos": message.nanos}
        if name == "google.protobuf.Duration":
            return message.ToJsonString() if self._durations else {"seconds": message.seconds, "nanos": message.nanos}
        if name in WRAPPERS:
            value = message.value
            return _base64(value) if isinstance(value, bytes) else value
        if name in _JSON_TYPES:
            return json_format.MessageToDict(message)
        return self.message(message)


def _same(value: Any) -> Any:
    return value


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode()
