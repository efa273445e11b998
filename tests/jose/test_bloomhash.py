"""KrakenD's bloom filter hashing reproduced: the hash primitives against their published test vectors,
the two hash families composed as krakend/bloomfilter's hasher.go does, the filter size as its M and K."""

from __future__ import annotations

import hashlib

import pytest

from krakenpy.jose.bloom import bloom_shape
from krakenpy.jose.bloomhash import crc64_ecma, fnv1_64, fnv1_128, positions_function


@pytest.mark.parametrize(
    ("data", "fnv128"),
    [
        (b"", "6c62272e07bb014262b821756295c58d"),
        (b"a", "d228cb69101a8caf78912b704e4a141e"),
        (b"abc", "a68bb2a4348b5822836dbc78c6aee73b"),
    ],
)
def test_bloomhash_fnv1_128_vectors(data: bytes, fnv128: str) -> None:
    assert fnv1_128(data).hex() == fnv128


def test_bloomhash_fnv1_64_and_crc64_vectors() -> None:
    assert fnv1_64(b"").hex() == "cbf29ce484222325"
    assert fnv1_64(b"a").hex() == "af63bd4c8601b7be"  # FNV-1, not 1a (1a gives af63dc4c8601ec8c)
    assert crc64_ecma(b"123456789").hex() == "995dc9bbdf1939fa"  # CRC-64/XZ, Go's crc64.ECMA
    assert crc64_ecma(b"").hex() == "0000000000000000"


def test_bloomhash_optimal_is_fnv128_double_hashing() -> None:
    digest = bytes.fromhex("d228cb69101a8caf78912b704e4a141e")  # FNV-1 128 of "a"
    h0, h1 = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")
    bits = 1_000_003
    expected = tuple(((h0 + i * h1) % 2**64) % bits for i in range(7))
    assert positions_function("optimal", bits, 7)("a") == expected


@pytest.mark.parametrize(("k", "words"), [(1, 2), (2, 3), (3, 5), (4, 6), (5, 8), (27, 8)])
def test_bloomhash_default_takes_the_first_k_hashers_and_every_word(k: int, words: int) -> None:
    """MD5 (2 words), CRC-64 (1), SHA-1 (2 of its 20 bytes), FNV-64 (1), FNV-128 (2); k above 5 is 5."""
    element = "jti-mnb23vcsrt756yuiomnbvcx98ertyu"
    data = element.encode()
    digests = [hashlib.md5(data).digest(), crc64_ecma(data), hashlib.sha1(data).digest(), fnv1_64(data)]
    digests.append(fnv1_128(data))
    bits = 958_506
    expected = [
        int.from_bytes(d[i : i + 8], "little") % bits for d in digests[: min(k, 5)] for i in range(0, len(d) - 7, 8)
    ]
    got = positions_function("default", bits, k)(element)
    assert len(got) == words and list(got) == expected


def test_bloomhash_families_set_different_bits() -> None:
    optimal = positions_function("optimal", 10_000, 5)("jti-x")
    default = positions_function("default", 10_000, 5)("jti-x")
    assert set(optimal) != set(default)


@pytest.mark.parametrize(
    ("n", "p", "shape"),
    [((10_000_000), 1e-8, (383_402_336, 27)), (1000, 0.01, (9586, 7)), (100, 1e-6, (2876, 20)), (1, 0.5, (2, 2))],
)
def test_bloomhash_shape_is_krakends_m_and_k(n: int, p: float, shape: tuple[int, int]) -> None:
    """M = ⌈-n·ln p / ln 2^ln 2⌉ and K = ⌈ln 2 · M / n⌉, both rounded up (N=1, P=0.5: k 2 where rounding
    to nearest gives 1; N=10⁷, P=10⁻⁸ is corpus 002's governance rejecter cache)."""
    assert bloom_shape(n, p) == shape


@pytest.mark.parametrize("hash_name", ["optimal", "default"])
def test_bloomhash_any_string_has_positions(hash_name: str) -> None:
    """Header values decoded with surrogateescape and JSON lone surrogates never fail a request."""
    positions = positions_function(hash_name, 1000, 3)
    escaped = b"caf\xe9".decode("utf-8", "surrogateescape")
    assert positions(escaped) == positions_function(hash_name, 1000, 3)(escaped)
    assert positions(escaped) != positions("café")  # the raw byte, not its UTF-8 re-encoding
    assert positions("\ud800x")  # a lone surrogate from JSON
