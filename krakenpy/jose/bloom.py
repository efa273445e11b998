"""Token revocation store: three rotating bloom filters (KrakenD's bloomfilter ``rotate``) in one
memory-mapped file, so every worker process of a gateway sees the same revocations.

Adds go to the current and next filters, checks read the previous and current ones; every ``TTL``
seconds the filters shift, so an entry stays visible between 2·TTL and 3·TTL. Rotation is derived
from the wall clock (epoch = ``time // TTL``) by whichever process looks first; no timer is needed.
The file keeps revocations across restarts and reloads. When ``N``, ``P`` or ``TTL`` change, the
file is never emptied: it becomes ``<store>.old`` and is checked too until its last revocation has
expired (:mod:`krakenpy.jose.bloomfile` opens, moves and inspects the files).
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from krakenpy.jose.bloomhash import positions_function

__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "LAST_ADD_AT",
    "MAGIC",
    "MAGICS",
    "MAX_FILTER_BITS",
    "Filters",
    "RotatingBloom",
    "Shape",
    "bloom_shape",
    "live",
]

#: the file's first bytes name how its bit positions are computed: KrakenD's two hash families
#: (:mod:`krakenpy.jose.bloomhash`), and BLAKE2b double hashing in files written before krakenpy
#: followed ``hash_name`` (still read while such a file is retired, never written)
MAGICS: Final = {"optimal": b"KPYBLFNV", "default": b"KPYBLDEF", "blake2b": b"KPYBLOOM"}
MAGIC: Final = MAGICS["optimal"]
#: magic, bits, hashes, ttl, epoch, epoch of the last add (0 in files written before it was kept)
HEADER: Final = struct.Struct("<8sQQQqq")
HEADER_SIZE: Final = 64
_EPOCH: Final = struct.Struct("<q")
_EPOCH_AT: Final = 32
LAST_ADD_AT: Final = 40
#: one filter at most 1 GiB (the file holds three, sparse until written)
MAX_FILTER_BITS: Final = 1 << 33
_ZEROS: Final = bytes(1 << 20)


def bloom_shape(capacity: int, false_positive: float) -> tuple[int, int]:
    """(bits, hash functions) for ``capacity`` entries at rate ``false_positive``, as KrakenD's
    bloomfilter computes them (``M`` and ``K``: both rounded up)."""
    capacity = max(capacity, 1)
    false_positive = min(max(false_positive, 1e-12), 0.5)
    bits = max(1, math.ceil(-(capacity * math.log(false_positive)) / math.log(2.0 ** math.log(2.0))))
    hashes = max(1, math.ceil(math.log(2.0) * bits / capacity))
    return bits, hashes


@dataclass(frozen=True, slots=True)
class Shape:
    """What a store file is made for; a file of another shape is never reused in place."""

    bits: int
    hashes: int
    ttl: int
    #: ``hash_name`` (``optimal``, ``default``) or ``blake2b`` for files of earlier krakenpy versions
    hashing: str = "optimal"

    @property
    def slot(self) -> int:
        """Bytes of one filter."""
        return (self.bits + 7) // 8

    @property
    def size(self) -> int:
        """Bytes of the whole file."""
        return HEADER_SIZE + 3 * self.slot

    def __str__(self) -> str:
        return f"{self.bits} bits, {self.hashes} hashes ({self.hashing}), TTL {self.ttl} s"


class Filters:
    """The three filters of one open store file (``fd``, owned and closed by :meth:`close`)."""

    def __init__(self, fd: int, shape: Shape, clock: Callable[[], float]) -> None:
        self.shape = shape
        self._fd = fd
        self._clock = clock
        self._slot = shape.slot
        self._map = mmap.mmap(fd, shape.size)
        self._positions = (
            _blake2b(shape)
            if shape.hashing == "blake2b"
            else positions_function(shape.hashing, shape.bits, shape.hashes)
        )

    def _locked(self) -> _Lock:
        return _Lock(self._fd)

    def epoch(self) -> int:
        """The current generation number (wall clock // TTL)."""
        return int(self._clock() // self.shape.ttl)

    def _rotate(self) -> int:
        """The current epoch, after clearing the slots that became "next" since the file's epoch."""
        now = self.epoch()
        stored: int = _EPOCH.unpack_from(self._map, _EPOCH_AT)[0]
        if stored >= now:
            return stored
        with self._locked():
            stored = _EPOCH.unpack_from(self._map, _EPOCH_AT)[0]
            if stored < now:
                # each epoch since the stored one starts with an empty "next" filter (epoch + 1);
                # three or more epochs later every filter is stale
                for epoch in range(max(stored + 2, now - 1), now + 2):
                    self._clear(epoch % 3)
                _EPOCH.pack_into(self._map, _EPOCH_AT, now)
        return now

    def _clear(self, slot: int) -> None:
        start = HEADER_SIZE + slot * self._slot
        end = start + self._slot
        while start < end:
            n = min(len(_ZEROS), end - start)
            self._map[start : start + n] = _ZEROS[:n]
            start += n

    def add(self, elements: Iterable[str]) -> None:
        """Revoke: into the current and the next filter."""
        now = self._rotate()
        slots = (HEADER_SIZE + (now % 3) * self._slot, HEADER_SIZE + ((now + 1) % 3) * self._slot)
        mapped = self._map
        with self._locked():
            for element in elements:
                for pos in self._positions(element):
                    byte, bit = divmod(pos, 8)
                    for base in slots:
                        mapped[base + byte] |= 1 << bit
            _EPOCH.pack_into(mapped, LAST_ADD_AT, now)

    def _in(self, base: int, positions: Sequence[int]) -> bool:
        mapped = self._map
        for pos in positions:
            if not mapped[base + (pos >> 3)] & (1 << (pos & 7)):
                return False
        return True

    def check(self, element: str) -> bool:
        """Maybe revoked (previous or current filter); false positives at rate ``P``."""
        now = self._rotate()
        positions = self._positions(element)
        return self._in(HEADER_SIZE + (now % 3) * self._slot, positions) or self._in(
            HEADER_SIZE + ((now - 1) % 3) * self._slot, positions
        )

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class RotatingBloom:
    """The store of a gateway: :meth:`add` and :meth:`check` take string elements. Checks also read
    the filters of an earlier shape (``<path>.old``) while they hold live revocations."""

    def __init__(
        self,
        path: Path,
        *,
        capacity: int,
        false_positive: float,
        ttl: int,
        hash_name: str = "optimal",
        clock: Callable[[], float] = time.time,
    ) -> None:
        from krakenpy.jose.bloomfile import open_store

        bits, hashes = bloom_shape(capacity, false_positive)
        self.shape = Shape(bits, hashes, max(int(ttl), 1), hash_name)
        self.bits, self.hashes, self.ttl = bits, hashes, self.shape.ttl
        self._current, self._retired = open_store(Path(path), self.shape, clock)

    def add(self, elements: Iterable[str]) -> None:
        """Revoke: into the current and the next filter of the current shape."""
        self._current.add(elements)

    def check(self, element: str) -> bool:
        """Maybe revoked (previous or current filter); false positives at rate ``P``."""
        if self._current.check(element):
            return True
        retired = self._retired
        if retired is None:
            return False
        if retired.check(element):
            return True
        if not live(retired):
            self._retired = None  # every revocation it held has expired: checks cost one lookup again
            retired.close()
        return False

    def close(self) -> None:
        self._current.close()
        if self._retired is not None:
            self._retired.close()
            self._retired = None


def _blake2b(shape: Shape) -> Callable[[str], list[int]]:
    """Positions in a store file written before krakenpy followed ``hash_name`` (read while retired)."""
    bits, hashes = shape.bits, shape.hashes

    def positions(element: str) -> list[int]:
        digest = hashlib.blake2b(element.encode(), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        return [(h1 + i * h2) % bits for i in range(hashes)]

    return positions


def live(filters: Filters) -> bool:
    """Whether a revocation added to ``filters`` may still be visible (its last add ≤ 2 epochs ago;
    :mod:`krakenpy.jose.bloomfile` records one in files that never did before it maps them)."""
    last: int = _EPOCH.unpack_from(filters._map, LAST_ADD_AT)[0]
    return filters.epoch() <= last + 2


class _Lock:
    """``flock`` on the shared file: adds and rotations of several workers never interleave."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
