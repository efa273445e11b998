"""The request message: URL parameters and query strings (dot paths into nested fields, values
converted from their strings, ``input_mapping`` renames) and, with ``use_request_body``, the JSON
body, which is applied last and so wins over the parameters."""

from __future__ import annotations

import base64
import binascii
import datetime
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor as F

from krakenpy.config.durations import parse_duration
from krakenpy.grpc.fields import WRAPPERS, FieldIndex, is_map
from krakenpy.grpc.options import BackendOptions
from krakenpy.proxy.types import Request

__all__ = ["InputError", "message_builder"]

_INT: Final = re.compile(r"[+-]?[0-9]+")
_RFC3339: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_SECOND: Final = datetime.timedelta(seconds=1)
_TRUE: Final = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "false", "FALSE", "False"})
_INTS: Final = frozenset(
    {F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_SINT32, F.TYPE_SINT64}
    | {F.TYPE_FIXED32, F.TYPE_FIXED64, F.TYPE_SFIXED32, F.TYPE_SFIXED64}
)
_JSON_TYPES: Final = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
#: a body or a dotted path nested deeper than this is refused (protobuf's own recursion limit is 100)
_MAX_DEPTH: Final = 64
#: the largest finite float32 (protobuf's JSON mapping refuses a larger value for a ``float`` field)
_FLOAT_MAX: Final = 3.4028234663852886e38
#: Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z
_TIMESTAMP_RANGE: Final = range(-62135596800, 253402300800)


class InputError(ValueError):
    """A value the request message cannot take (the client's mistake: 400)."""


def _from_string(field: Any, text: str, assume_bytes: bool) -> Any:
    """A scalar field's value from a query string or URL parameter."""
    kind = field.type
    if kind == F.TYPE_STRING:
        return text
    if kind in _INTS:
        if not _INT.fullmatch(text):
            raise InputError(f"{field.name}: {text!r} is not an integer")
        return int(text)
    if kind == F.TYPE_DOUBLE or kind == F.TYPE_FLOAT:
        try:
            return _float(field, float(text))
        except ValueError:
            raise InputError(f"{field.name}: {text!r} is not a number") from None
    if kind == F.TYPE_BOOL:
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InputError(f"{field.name}: {text!r} is not a boolean")
    if kind == F.TYPE_ENUM:
        value = field.enum_type.values_by_name.get(text)
        if value is not None:
            return value.number
        if _INT.fullmatch(text):
            return int(text)
        raise InputError(f"{field.name}: {text!r} is not a value of {field.enum_type.full_name}")
    if kind == F.TYPE_BYTES:
        if assume_bytes:
            return text.encode()
        return _base64(field, text)
    raise InputError(f"{field.name}: cannot be set from a string")


def _float(field: Any, value: float) -> float:
    """A float32 field refuses a finite value it cannot hold (it would become infinity)."""
    if field.type == F.TYPE_FLOAT and math.isfinite(value) and abs(value) > _FLOAT_MAX:
        raise InputError(f"{field.name}: {value!r} is out of range for a float")
    return value


def _base64(field: Any, text: str) -> bytes:
    """Standard or URL-safe base64 (one alphabet, padding optional); anything else is refused."""
    url_safe = "-" in text or "_" in text
    if url_safe and ("+" in text or "/" in text):
        raise InputError(f"{field.name}: {text[:64]!r} mixes the two base64 alphabets")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if url_safe else None, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{field.name}: {text[:64]!r} is not base64") from None


def _timestamp(text: str) -> tuple[int, int]:
    """RFC 3339 → (seconds, nanos) since the epoch (protobuf's FromJsonString, without strptime)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise InputError(f"{text!r} is not an RFC 3339 timestamp")
    date, fraction, zone = match.groups()
    try:
        moment = datetime.datetime.fromisoformat(f"{date}{'+00:00' if zone in 'Zz' else zone}")
    except ValueError:
        raise InputError(f"{text!r} is not an RFC 3339 timestamp") from None
    seconds = (moment - _EPOCH) // _SECOND
    if seconds not in _TIMESTAMP_RANGE:  # an offset can move a valid date outside Timestamp's years
        raise InputError(f"{text!r} is outside the years 0001-9999")
    return seconds, int(fraction[1:].ljust(9, "0")) if fraction else 0


def _fill_special(message: Any, name: str, value: Any, assume_bytes: bool) -> bool:
    """Timestamps, durations and wrappers from a string (or a JSON scalar); ``False`` if not one."""
    if name == "google.protobuf.Timestamp" and isinstance(value, str):
        message.seconds, message.nanos = _timestamp(value)
        return True
    if name == "google.protobuf.Duration" and isinstance(value, str):
        try:
            message.FromJsonString(value)
        except ValueError:
            try:  # Go's form too ("1m30s"), as KrakenD's users write durations everywhere else
                seconds = parse_duration(value)
            except ValueError:
                raise InputError(f"{value!r} is not a duration") from None
            nanos = round(seconds * 1e9)
            message.seconds, message.nanos = int(nanos / 1e9), nanos - int(nanos / 1e9) * 10**9
        return True
    if name in WRAPPERS and not isinstance(value, dict | list):
        inner = message.DESCRIPTOR.fields_by_name["value"]
        message.value = _scalar(inner, value, assume_bytes)
        return True
    return False


def _scalar(field: Any, value: Any, assume_bytes: bool) -> Any:
    """A scalar field's value from JSON (a string is read as from a query string)."""
    if isinstance(value, str):
        return _from_string(field, value, assume_bytes)
    kind = field.type
    if isinstance(value, bool):
        if kind == F.TYPE_BOOL:
            return value
    elif isinstance(value, int):
        if kind in _INTS or kind == F.TYPE_ENUM:
            return value
        if kind == F.TYPE_DOUBLE or kind == F.TYPE_FLOAT:
            return _float(field, float(value))
    elif isinstance(value, float):
        if kind == F.TYPE_DOUBLE or kind == F.TYPE_FLOAT:
            return _float(field, value)
        if kind in _INTS and value.is_integer():
            return int(value)
    raise InputError(f"{field.name}: {orjson.dumps(value).decode()[:64]} is not a {_kind_name(field)}")


def _kind_name(field: Any) -> str:
    names = {F.TYPE_BOOL: "boolean", F.TYPE_STRING: "string", F.TYPE_BYTES: "base64 string", F.TYPE_ENUM: "enum"}
    return names.get(field.type, "number")


class _Filler:
    """Sets values into messages of one backend's request type."""

    __slots__ = ("assume_bytes", "index")

    def __init__(self, assume_bytes: bool) -> None:
        self.assume_bytes = assume_bytes
        self.index = FieldIndex()

    def path(self, message: Any, path: str, values: list[str]) -> None:
        """``a.b.c`` = values: nested singular messages are walked; unknown names are ignored."""
        *parents, last = path.split(".")
        for depth, name in enumerate(parents):
            field = self.index.find(message.DESCRIPTOR, name)
            if field is None or field.type != F.TYPE_MESSAGE or field.is_repeated:
                return
            if depth >= _MAX_DEPTH:  # a recursive message would be nested past what protobuf encodes
                raise InputError(f"{path[:64]!r} is nested too deeply")
            message = getattr(message, field.name)
        field = self.index.find(message.DESCRIPTOR, last)
        if field is None or is_map(field):
            return
        try:
            if field.is_repeated:
                if field.type == F.TYPE_MESSAGE:
                    for text in values:
                        self._message_from(getattr(message, field.name).add(), text)
                else:
                    getattr(message, field.name).extend(_from_string(field, v, self.assume_bytes) for v in values)
            elif field.type == F.TYPE_MESSAGE:
                self._message_from(getattr(message, field.name), values[0])
            else:
                setattr(message, field.name, _from_string(field, values[0], self.assume_bytes))
        except (ValueError, TypeError) as exc:  # out of range for the field's type
            raise InputError(str(exc) if isinstance(exc, InputError) else f"{field.name}: {exc}") from None

    def _message_from(self, message: Any, text: str) -> None:
        if not _fill_special(message, message.DESCRIPTOR.full_name, text, self.assume_bytes):
            raise InputError(f"{message.DESCRIPTOR.full_name} cannot be set from a string")

    def json(self, message: Any, data: Mapping[str, Any], depth: int = 0) -> None:
        """A JSON object into ``message``: names as in the .proto or in JSON; unknown ones ignored."""
        if depth > _MAX_DEPTH:
            raise InputError("the body is nested too deeply")
        for key, value in data.items():
            field = self.index.find(message.DESCRIPTOR, key)
            if field is None or value is None:
                continue
            try:
                self._json_field(message, field, value, depth)
            except (ValueError, TypeError) as exc:
                raise InputError(str(exc) if isinstance(exc, InputError) else f"{field.name}: {exc}") from None

    def _json_field(self, message: Any, field: Any, value: Any, depth: int) -> None:
        target: Any = getattr(message, field.name) if field.type == F.TYPE_MESSAGE or field.is_repeated else None
        if is_map(field):
            if not isinstance(value, dict):
                raise InputError(f"{field.name}: a map is a JSON object")
            key_field, value_field = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            for key, item in value.items():
                map_key = _from_string(key_field, key, self.assume_bytes)
                if value_field.type == F.TYPE_MESSAGE:
                    self._json_message(target[map_key], item, depth)
                else:
                    target[map_key] = _scalar(value_field, item, self.assume_bytes)
            return
        if field.is_repeated:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if field.type == F.TYPE_MESSAGE:
                    self._json_message(target.add(), item, depth)
                else:
                    target.append(_scalar(field, item, self.assume_bytes))
            return
        if field.type == F.TYPE_MESSAGE:
            self._json_message(target, value, depth)
        else:
            setattr(message, field.name, _scalar(field, value, self.assume_bytes))

    def _json_message(self, message: Any, value: Any, depth: int) -> None:
        name = message.DESCRIPTOR.full_name
        if name in _JSON_TYPES:
            try:
                # the body's nesting counts too: the whole message stays within _MAX_DEPTH
                json_format.ParseDict(value, message, max_recursion_depth=_MAX_DEPTH - depth)
            except (json_format.ParseError, RecursionError) as exc:  # not a ValueError: the wrong JSON type
                raise InputError(f"{name}: {str(exc)[:128]}") from None
        elif _fill_special(message, name, value, self.assume_bytes):
            pass
        elif isinstance(value, dict):
            self.json(message, value, depth + 1)
        else:
            raise InputError(f"{name}: {orjson.dumps(value).decode()[:64]} is not a JSON object")


def message_builder(
    options: BackendOptions, message_class: Callable[[], Any], param_names: Mapping[str, str]
) -> Callable[[Request], Any]:
    """``build(request) -> message``; ``param_names`` maps KrakenD's capitalised parameter keys to the
    names declared in the endpoint (``Id_flight`` → ``id_flight``)."""
    filler = _Filler(options.assume_bytes)
    mapping = options.input_mapping
    use_params = not options.disable_query_params
    use_body = options.use_request_body

    def name_of(key: str) -> str:
        mapped = mapping.get(key)
        if mapped is None:
            declared = param_names.get(key)
            mapped = mapping.get(declared, declared) if declared is not None else key
        return mapped

    def build(request: Request) -> Any:
        message = message_class()
        if use_params:
            for key, values in request.query.items():
                if values:
                    filler.path(message, name_of(key), values)
            for key, value in request.params.items():
                filler.path(message, name_of(key), [value])
        if use_body and request.body.strip():
            try:
                data = orjson.loads(request.body)
            except orjson.JSONDecodeError:
                raise InputError("the body is not JSON") from None
            if not isinstance(data, dict):
                raise InputError("the body is not a JSON object")
            filler.json(message, data)
        return message

    return build
