"""The bit positions of an element in KrakenD's bloom filters (krakend/bloomfilter ``hasher.go``), so a
revoker built from the same ``N``, ``P`` and ``hash_name`` sets the same bits as KrakenD's and has
the same false positives.

- ``optimal``: FNV-1 128 of the element read as two little-endian 64-bit words ``h0, h1``;
  positions ``h0 + i·h1`` (mod 2⁶⁴) for ``i < k``.
- ``default``: the first ``min(k, 5)`` of MD5, CRC-64 (ECMA), SHA-1, FNV-1 64, FNV-1 128; every whole
  little-endian 64-bit word of each digest is a position (2, 1, 2, 1 and 2 of them), so ``k`` is not
  the number of positions.

Every position is taken modulo the filter's bits. Go writes the FNV and CRC sums big-endian and reads
the words back little-endian: reproduced byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import Final

__all__ = ["HASH_NAMES", "crc64_ecma", "fnv1_64", "fnv1_128", "positions_function"]

_MASK64: Final = (1 << 64) - 1
_MASK128: Final = (1 << 128) - 1
_FNV64_OFFSET: Final = 0xCBF29CE484222325
_FNV64_PRIME: Final = 0x100000001B3
_FNV128_OFFSET: Final = 0x6C62272E07BB014262B821756295C58D
_FNV128_PRIME: Final = 0x0000000001000000000000000000013B
#: ECMA-182 in Go's reversed form (``crc64.ECMA``)
_ECMA: Final = 0xC96C5795D7870F42


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _ECMA if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def fnv1_64(data: bytes) -> bytes:
    """Go's ``fnv.New64()`` sum (FNV-1, not 1a), big-endian."""
    h = _FNV64_OFFSET
    for byte in data:
        h = ((h * _FNV64_PRIME) & _MASK64) ^ byte
    return h.to_bytes(8, "big")


def fnv1_128(data: bytes) -> bytes:
    """Go's ``fnv.New128()`` sum (FNV-1), big-endian."""
    h = _FNV128_OFFSET
    for byte in data:
        h = ((h * _FNV128_PRIME) & _MASK128) ^ byte
    return h.to_bytes(16, "big")


def crc64_ecma(data: bytes) -> bytes:
    """Go's ``crc64.New(crc64.MakeTable(crc64.ECMA))`` sum (CRC-64/XZ), big-endian."""
    crc = _MASK64
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return (crc ^ _MASK64).to_bytes(8, "big")


def _bytes(element: str) -> bytes:
    """The element's bytes: UTF-8, and a header value's undecodable bytes as they came (``surrogateescape``);
    any other lone surrogate is kept rather than failing the request (``surrogatepass``)."""
    try:
        return element.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return element.encode("utf-8", "surrogatepass")


def _words(digest: bytes) -> list[int]:
    return [int.from_bytes(digest[i : i + 8], "little") for i in range(0, len(digest) - 7, 8)]


_DEFAULT_HASHERS: Final[tuple[Callable[[bytes], bytes], ...]] = (
    lambda b: hashlib.md5(b, usedforsecurity=False).digest(),
    crc64_ecma,
    lambda b: hashlib.sha1(b, usedforsecurity=False).digest(),
    fnv1_64,
    fnv1_128,
)

HASH_NAMES: Final = ("optimal", "default")


def positions_function(hash_name: str, bits: int, hashes: int) -> Callable[[str], tuple[int, ...]]:
    """The element → bit positions function of a filter of ``bits`` bits and ``hashes`` hash
    functions (KrakenD's ``m`` and ``k``). Positions of recent elements are cached: a token is
    checked on every request that carries it."""
    if hash_name == "default":
        hashers = _DEFAULT_HASHERS[: min(hashes, len(_DEFAULT_HASHERS))]

        def default(element: str) -> tuple[int, ...]:
            data = _bytes(element)
            return tuple(word % bits for hasher in hashers for word in _words(hasher(data)))

        return lru_cache(maxsize=4096)(default)

    def optimal(element: str) -> tuple[int, ...]:
        digest = fnv1_128(_bytes(element))
        h0 = int.from_bytes(digest[:8], "little")
        h1 = int.from_bytes(digest[8:], "little")
        return tuple(((h0 + i * h1) & _MASK64) % bits for i in range(hashes))

    return lru_cache(maxsize=4096)(optimal)
