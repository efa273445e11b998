"""Go's ``encoding/gob``: the part ``net/rpc`` needs, written from Go's package documentation.

A stream is a sequence of messages, each a byte count then a type id: a negative id defines type
``-id`` (a ``wireType`` value follows), a positive one carries a value of a type defined earlier in
the same stream. Numbers: an unsigned integer under 128 is one byte, larger ones are their
big-endian bytes after a byte holding the negated byte count; a signed integer is shifted left with
its complement flag in bit 0; a float is its IEEE bits byte-reversed, sent as unsigned. Structs send
only non-zero fields as (field-number delta, value) pairs ended by a 0 delta.

The decoder reads any struct, slice, array or map of basic types into Python values (a struct
becomes a dict by field name, ``[]byte`` bytes, ``string`` str, a type with its own marshaler its
bytes); interface values are refused. Everything is bounded: message size, definitions per stream
(count, fields, bytes), elements per message, nesting depth. The encoder is :mod:`krakenpy.jose.gobencode`.
"""

from __future__ import annotations

import struct as _struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["BOOL", "FIRST_USER", "INT", "MAX_MESSAGE", "STRING", "UINT", "Decoder", "GobError"]

BOOL: Final = 1
INT: Final = 2
UINT: Final = 3
FLOAT: Final = 4
BYTES: Final = 5
STRING: Final = 6
COMPLEX: Final = 7
INTERFACE: Final = 8
FIRST_USER: Final = 65

#: a message over this is refused (Go's own limit is 1 GiB); revocation batches are far smaller
MAX_MESSAGE: Final = 1 << 20
#: type definitions a stream may send (net/rpc needs four or five)
MAX_TYPES: Final = 64
#: fields of one struct definition (net/rpc's largest, rpc.Response, has three)
MAX_FIELDS: Final = 16
#: bytes of all the type definitions of one stream: what a connection keeps for its life
MAX_DEFINITION_BYTES: Final = 64 * 1024
#: elements of all the slices, arrays and maps of one value: what one decoded message may hold
MAX_ELEMENTS: Final = 100_000
#: nesting of values (slices of structs of ...)
MAX_DEPTH: Final = 8


class GobError(Exception):
    """The stream is not gob we can read: the connection is closed."""


@dataclass(frozen=True, slots=True)
class _Struct:
    name: str
    fields: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class _Slice:
    elem: int


@dataclass(frozen=True, slots=True)
class _Array:
    elem: int
    length: int


@dataclass(frozen=True, slots=True)
class _Map:
    key: int
    elem: int


@dataclass(frozen=True, slots=True)
class _Opaque:
    """A type with its own marshaler (GobEncoder, BinaryMarshaler, TextMarshaler): its bytes."""


_Type = _Struct | _Slice | _Array | _Map | _Opaque


class _Reader:
    """Reads one message's bytes; every read past the end is a :class:`GobError`."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def uint(self) -> int:
        data, pos = self.data, self.pos
        if pos >= len(data):
            raise GobError("message ends inside a number")
        first = data[pos]
        if first < 0x80:
            self.pos = pos + 1
            return first
        count = 256 - first
        if count > 8 or pos + 1 + count > len(data):
            raise GobError("bad unsigned integer")
        self.pos = pos + 1 + count
        return int.from_bytes(data[pos + 1 : pos + 1 + count], "big")

    def sint(self) -> int:
        u = self.uint()
        return ~(u >> 1) if u & 1 else u >> 1

    def raw(self) -> bytes:
        size = self.uint()
        if size > self.left():
            raise GobError("byte string longer than its message")
        start = self.pos
        self.pos = start + size
        return self.data[start : self.pos]

    def real(self) -> float:
        value: float = _struct.unpack(">d", self.uint().to_bytes(8, "little"))[0]
        return value

    def fields(self, read: Callable[[int], None]) -> None:
        """A struct: ``read(field_number)`` for each field sent, until the 0 delta."""
        field = -1
        while delta := self.uint():
            field += delta
            read(field)


def _common(r: _Reader) -> tuple[str, int]:
    name, ident = "", 0

    def read(field: int) -> None:
        nonlocal name, ident
        if field == 0:
            name = r.raw().decode("utf-8", "replace")
        elif field == 1:
            ident = r.sint()
        else:
            raise GobError("bad type definition")

    r.fields(read)
    return name, ident


def _wire_type(r: _Reader) -> _Type:
    """A ``wireType``: exactly one of its array, slice, struct or map fields is set."""
    found: list[_Type] = []

    def wire(field: int) -> None:
        parts: dict[int, Any] = {}

        def part(number: int) -> None:
            if number == 0:
                parts[0] = _common(r)
            elif field == 2 and number == 1:  # structType.Field: []fieldType
                count = r.uint()
                if count > MAX_FIELDS:
                    raise GobError(f"struct of over {MAX_FIELDS} fields refused")
                if count > r.left():
                    raise GobError("bad field list")
                fields = []
                for _ in range(count):
                    fields.append(_common(r))
                parts[1] = tuple(fields)
            elif number in (1, 2) and field in (0, 1, 3):
                parts[number] = r.sint()
            else:
                raise GobError("bad type definition")

        if field not in range(7):
            raise GobError("bad type definition")
        r.fields(part)
        if field >= 4:  # gobEncoderType{CommonType}
            found.append(_Opaque())
        elif field == 0:
            found.append(_Array(parts.get(1, 0), parts.get(2, 0)))
        elif field == 1:
            found.append(_Slice(parts.get(1, 0)))
        elif field == 2:
            found.append(_Struct(parts.get(0, ("", 0))[0], parts.get(1, ())))
        else:
            found.append(_Map(parts.get(1, 0), parts.get(2, 0)))

    r.fields(wire)
    if len(found) != 1:
        raise GobError("bad type definition")
    return found[0]


class Decoder:
    """The types one stream has defined; :meth:`message` reads a message's bytes."""

    def __init__(self) -> None:
        self.types: dict[int, _Type] = {}
        self._definition_bytes = 0
        self._budget = 0

    def message(self, data: bytes) -> tuple[bool, Any]:
        """``(False, None)`` for a type definition (remembered), ``(True, value)`` for a value."""
        r = _Reader(data)
        ident = r.sint()
        if ident < 0:
            ident = -ident
            if ident < FIRST_USER or ident in self.types:
                raise GobError(f"bad type id {ident}")
            if len(self.types) >= MAX_TYPES:
                raise GobError("too many type definitions")
            self._definition_bytes += len(data)
            if self._definition_bytes > MAX_DEFINITION_BYTES:
                raise GobError(f"type definitions over {MAX_DEFINITION_BYTES} bytes")
            self.types[ident] = _wire_type(r)
            if r.left():
                raise GobError("extra data after a type definition")
            return False, None
        if not isinstance(self.types.get(ident), _Struct):
            if r.uint() != 0:  # a top-level non-struct value comes after a 0 delta
                raise GobError("bad singleton value")
        self._budget = MAX_ELEMENTS
        value = self._value(r, ident, 0)
        if r.left():
            raise GobError("extra data after a value")
        return True, value

    def _value(self, r: _Reader, ident: int, depth: int) -> Any:
        if ident == BOOL:
            flag = r.uint()
            if flag > 1:
                raise GobError("bad bool")
            return flag == 1
        if ident == INT:
            return r.sint()
        if ident == UINT:
            return r.uint()
        if ident == FLOAT:
            return r.real()
        if ident == BYTES:
            return r.raw()
        if ident == STRING:
            return r.raw().decode("utf-8", "replace")
        if ident == COMPLEX:
            return complex(r.real(), r.real())
        kind = self.types.get(ident)
        if kind is None:
            raise GobError(f"value of an undefined type {ident}")
        if depth >= MAX_DEPTH:
            raise GobError("values nested too deep")
        depth += 1
        if isinstance(kind, _Opaque):
            return r.raw()
        if isinstance(kind, _Struct):
            out: dict[str, Any] = {}
            fields = kind.fields

            def read(number: int) -> None:
                if number >= len(fields):
                    raise GobError("field number out of range")
                name, field_type = fields[number]
                out[name] = self._value(r, field_type, depth)

            r.fields(read)
            return out
        count = r.uint()
        if count > r.left():  # every element takes at least one byte: no huge allocation
            raise GobError("count longer than its message")
        # a byte per element still makes ~64 bytes of Python object each: the message's total is capped
        self._budget -= count
        if self._budget < 0:
            raise GobError(f"value of over {MAX_ELEMENTS} elements refused")
        if isinstance(kind, _Map):
            pairs = {}
            for _ in range(count):
                key = self._value(r, kind.key, depth)
                if isinstance(key, dict | list):
                    raise GobError("map keys must be basic values")
                pairs[key] = self._value(r, kind.elem, depth)
            return pairs
        if isinstance(kind, _Array) and count != kind.length:
            raise GobError("array length mismatch")
        return [self._value(r, kind.elem, depth) for _ in range(count)]
