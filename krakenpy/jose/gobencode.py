"""Go's ``encoding/gob``, writing: flat structs of basic types and ``[]bool``, each type's definition
sent once per stream before its first value (the wire format is described in :mod:`krakenpy.jose.gob`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from krakenpy.jose.gob import BOOL, FIRST_USER, INT, STRING, UINT

__all__ = ["Encoder", "StructSpec"]


def _uint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes((256 - len(raw),)) + raw


def _int(value: int) -> bytes:
    return _uint((~value << 1) | 1 if value < 0 else value << 1)


def _string(value: str) -> bytes:
    raw = value.encode()
    return _uint(len(raw)) + raw


def _frame(payload: bytes) -> bytes:
    return _uint(len(payload)) + payload


def _common_value(name: str, ident: int) -> bytes:
    return b"\x01" + _string(name) + b"\x01" + _int(ident) + b"\x00"


def _bool_slice(ident: int) -> bytes:
    # wireType.SliceT (field 1): sliceType{CommonType, Elem}
    return b"\x02\x01" + _common_value("[]bool", ident) + b"\x01" + _int(BOOL) + b"\x00\x00"


@dataclass(frozen=True, slots=True)
class StructSpec:
    """A flat struct to send: its Go name and (field name, kind) pairs, kind ``BOOL`` … ``STRING``
    or ``"[]bool"``."""

    name: str
    fields: tuple[tuple[str, int | str], ...]


class Encoder:
    """Writes values of :class:`StructSpec` types, each type's definition before its first value."""

    def __init__(self) -> None:
        self._ids: dict[object, int] = {}

    def _define(self, key: object, definition: Callable[[int], bytes], out: list[bytes]) -> int:
        ident = self._ids.get(key)
        if ident is None:
            ident = self._ids[key] = FIRST_USER + len(self._ids)
            out.append(_frame(_int(-ident) + definition(ident)))
        return ident

    def encode(self, spec: StructSpec, value: dict[str, Any]) -> bytes:
        """The messages for ``value``: any definitions this stream has not sent yet, then the value."""
        out: list[bytes] = []
        kinds: list[int] = []
        for _name, kind in spec.fields:
            if kind == "[]bool":
                # wireType.SliceT (field 1): sliceType{CommonType, Elem}
                kinds.append(self._define("[]bool", _bool_slice, out))
            else:
                assert isinstance(kind, int)
                kinds.append(kind)

        def struct_def(ident: int) -> bytes:
            # wireType.StructT (field 2): structType{CommonType, Field []fieldType}
            fields = b"".join(_common_value(name, kind) for (name, _), kind in zip(spec.fields, kinds, strict=True))
            body = b"\x01" + _common_value(spec.name, ident) + b"\x01" + _uint(len(kinds)) + fields + b"\x00"
            return b"\x03" + body + b"\x00"

        ident = self._define(spec, struct_def, out)
        parts = [_int(ident)]
        last = -1
        for number, ((name, kind), wire) in enumerate(zip(spec.fields, kinds, strict=True)):
            item = value.get(name)
            if not item:  # zero values are not sent
                continue
            parts.append(_uint(number - last))
            last = number
            if kind == "[]bool":
                parts.append(_uint(len(item)) + b"".join(b"\x01" if flag else b"\x00" for flag in item))
            elif wire == STRING:
                parts.append(_string(item))
            elif wire == INT:
                parts.append(_int(item))
            elif wire == UINT or wire == BOOL:
                parts.append(_uint(int(item)))
            else:
                raise ValueError(f"cannot encode field {name}")
        parts.append(b"\x00")
        out.append(_frame(b"".join(parts)))
        return b"".join(out)
