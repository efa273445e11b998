"""The two Thrift encodings Jaeger reads, write-only and just wide enough for its IDL: the binary
protocol (collector, HTTP) and the compact protocol (agent, UDP).

Both writers share one interface, so :mod:`krakenpy.telemetry.opencensus.jaeger` describes each
struct once. Type ids are the binary protocol's; the compact writer maps them.
"""

from __future__ import annotations

import struct
from typing import Final, Protocol

__all__ = ["BOOL", "DOUBLE", "I32", "I64", "LIST", "ONEWAY", "STRING", "STRUCT", "BinaryWriter", "CompactWriter"]

BOOL, DOUBLE, I32, I64, STRING, STRUCT, LIST = 2, 4, 8, 10, 11, 12, 15
#: message type of a call that expects no answer (the agent's ``emitBatch``)
ONEWAY: Final = 4
_COMPACT: Final = {BOOL: 1, I32: 5, I64: 6, DOUBLE: 7, STRING: 8, LIST: 9, STRUCT: 12}
_I64_MASK: Final = (1 << 64) - 1
_I32_MASK: Final = (1 << 32) - 1


class Writer(Protocol):
    """What the Jaeger structs are written with."""

    out: bytearray

    def struct_begin(self) -> None: ...
    def struct_end(self) -> None: ...
    def field(self, fid: int, ttype: int) -> None: ...
    def bool_field(self, fid: int, value: bool) -> None: ...
    def i32(self, value: int) -> None: ...
    def i64(self, value: int) -> None: ...
    def double(self, value: float) -> None: ...
    def string(self, value: str) -> None: ...
    def list_begin(self, etype: int, size: int) -> None: ...


class BinaryWriter:
    """TBinaryProtocol: big-endian fixed-width integers, ``(type, id)`` field headers, STOP bytes."""

    def __init__(self) -> None:
        self.out = bytearray()

    def struct_begin(self) -> None:
        return None

    def struct_end(self) -> None:
        self.out.append(0)

    def field(self, fid: int, ttype: int) -> None:
        self.out += struct.pack(">bh", ttype, fid)

    def bool_field(self, fid: int, value: bool) -> None:
        self.field(fid, BOOL)
        self.out.append(1 if value else 0)

    def i32(self, value: int) -> None:
        self.out += struct.pack(">i", value)

    def i64(self, value: int) -> None:
        self.out += struct.pack(">q", value)

    def double(self, value: float) -> None:
        self.out += struct.pack(">d", value)

    def string(self, value: str) -> None:
        data = value.encode("utf-8", "replace")
        self.out += struct.pack(">i", len(data))
        self.out += data

    def list_begin(self, etype: int, size: int) -> None:
        self.out += struct.pack(">bi", etype, size)


class CompactWriter:
    """TCompactProtocol: zigzag varints, field ids as deltas from the previous field of the same
    struct, booleans folded into their field header."""

    def __init__(self) -> None:
        self.out = bytearray()
        self._last = 0
        self._stack: list[int] = []

    def _varint(self, value: int) -> None:
        out = self.out
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)

    def _header(self, fid: int, ctype: int) -> None:
        delta = fid - self._last
        if 0 < delta <= 15:
            self.out.append(delta << 4 | ctype)
        else:
            self.out.append(ctype)
            self._varint(((fid << 1) ^ (fid >> 15)) & 0xFFFF)
        self._last = fid

    def message_begin(self, name: str, mtype: int, seqid: int) -> None:
        """The call envelope: protocol id, version 1 and type, sequence id, method name."""
        self.out += bytes((0x82, 1 | mtype << 5))
        self._varint(seqid & _I32_MASK)
        self.string(name)

    def struct_begin(self) -> None:
        self._stack.append(self._last)
        self._last = 0

    def struct_end(self) -> None:
        self.out.append(0)
        self._last = self._stack.pop()

    def field(self, fid: int, ttype: int) -> None:
        self._header(fid, _COMPACT[ttype])

    def bool_field(self, fid: int, value: bool) -> None:
        self._header(fid, 1 if value else 2)

    def i32(self, value: int) -> None:
        self._varint(((value << 1) ^ (value >> 31)) & _I32_MASK)

    def i64(self, value: int) -> None:
        self._varint(((value << 1) ^ (value >> 63)) & _I64_MASK)

    def double(self, value: float) -> None:
        self.out += struct.pack("<d", value)

    def string(self, value: str) -> None:
        data = value.encode("utf-8", "replace")
        self._varint(len(data))
        self.out += data

    def list_begin(self, etype: int, size: int) -> None:
        ctype = _COMPACT[etype]
        if size < 15:
            self.out.append(size << 4 | ctype)
        else:
            self.out.append(0xF0 | ctype)
            self._varint(size)
