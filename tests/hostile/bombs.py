"""Compressed payloads that inflate far beyond their size, made once per test session."""

from __future__ import annotations

import functools
import struct
import zlib

MIB = 1 << 20


@functools.cache
def gzip_zeros(inflated: int) -> bytes:
    """A gzip stream of ``inflated`` zero bytes (a MiB multiple; about 1/1000 of that on the wire).

    One MiB is deflated once and its fully flushed block repeated (a full flush leaves no back
    reference across blocks, so the copies form a valid stream): building a 1 GiB bomb takes well
    under a second instead of deflating a whole GiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = packer.compress(bytes(MIB)) + packer.flush(zlib.Z_FULL_FLUSH)
    final = packer.flush(zlib.Z_FINISH)
    crc = 0
    zeros = bytes(MIB)
    for _ in range(inflated // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * (inflated // MIB) + final + struct.pack("<II", crc, inflated & 0xFFFFFFFF)
