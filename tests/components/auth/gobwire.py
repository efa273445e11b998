"""Raw gob messages for the revoker RPC tests, built from krakenpy's own encoder helpers."""

from __future__ import annotations

from krakenpy.jose.gob import BYTES, STRING, UINT
from krakenpy.jose.gobencode import Encoder, StructSpec, _common_value, _frame, _int, _uint

REQUEST = StructSpec("Request", (("ServiceMethod", STRING), ("Seq", UINT)))


def slice_def(ident: int, elem: int) -> bytes:
    """The definition of type ``ident`` as a slice of ``elem``."""
    return _frame(_int(-ident) + b"\x02\x01" + _common_value("[]T", ident) + b"\x01" + _int(elem) + b"\x00\x00")


def struct_def(ident: int, name: str, fields: list[tuple[str, int]]) -> bytes:
    """The definition of type ``ident`` as a struct of ``fields`` (name, type id)."""
    body = b"".join(_common_value(n, t) for n, t in fields)
    common = _common_value(name, ident)
    return _frame(_int(-ident) + b"\x03\x01" + common + b"\x01" + _uint(len(fields)) + body + b"\x00\x00")


def header(enc: Encoder, method: str, seq: int) -> bytes:
    """An rpc.Request (with its definition the first time ``enc`` sends one)."""
    return enc.encode(REQUEST, {"ServiceMethod": method, "Seq": seq})


def check_input_defs() -> bytes:
    """66 = [][]byte, 67 = CheckInput{Elems [][]byte} (65 is rpc.Request from the Encoder)."""
    return slice_def(66, BYTES) + struct_def(67, "CheckInput", [("Elems", 66)])


def check_input_value(count: int, size: int = 0) -> bytes:
    """CheckInput{Elems: count elements of ``size`` 0xFF bytes} (not UTF-8: the store never hashes them)."""
    elems = (_uint(size) + b"\xff" * size) * count
    return _frame(_int(67) + b"\x01" + _uint(count) + elems + b"\x00")
