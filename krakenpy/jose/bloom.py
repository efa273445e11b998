"""Token revocation store: three rotating bloom filters (KrakenD's bloomfilter ``rotate``) in one
memory-mapped file, so every worker process of a gateway sees the same revocations.

Adds go to the current and next filters, checks read the previous and current ones; every ``TTL``
seconds the filters shift, so an entry stays visible between 2·TTL and 3·TTL. Rotation is derived
from the wall clock (epoch = ``time // TTL``) by whichever process looks first; no timer is needed.
The file keeps revocations across restarts while ``N``, ``P`` and ``TTL`` stay the same.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

__all__ = ["RotatingBloom", "bloom_shape"]

_MAGIC: Final = b"KPYBLOOM"
_HEADER: Final = struct.Struct("<8sQQQq")  # magic, bits, hashes, ttl, epoch
_HEADER_SIZE: Final = 64
_ZEROS: Final = bytes(1 << 20)


def bloom_shape(capacity: int, false_positive: float) -> tuple[int, int]:
    """(bits, hash functions) of the optimal filter for ``capacity`` entries at rate ``false_positive``."""
    capacity = max(capacity, 1)
    false_positive = min(max(false_positive, 1e-12), 0.5)
    bits = max(64, math.ceil(-capacity * math.log(false_positive) / (math.log(2) ** 2)))
    hashes = max(1, round(bits / capacity * math.log(2)))
    return bits, hashes


class RotatingBloom:
    """Three filters over one shared file; :meth:`add` and :meth:`check` take string elements."""

    def __init__(
        self, path: Path, *, capacity: int, false_positive: float, ttl: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.bits, self.hashes = bloom_shape(capacity, false_positive)
        self.ttl = max(int(ttl), 1)
        self._clock = clock
        self._slot = (self.bits + 7) // 8
        size = _HEADER_SIZE + 3 * self._slot
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        self._fd = os.open(path, flags, 0o600)
        try:
            info = os.fstat(self._fd)
            if info.st_uid != os.getuid():
                raise PermissionError(f"{path} belongs to another user")
            with self._locked():
                if info.st_size != size or not self._header_matches():
                    os.ftruncate(self._fd, 0)
                    os.ftruncate(self._fd, size)  # sparse zeros: pages cost memory only once written
                    os.pwrite(self._fd, _HEADER.pack(_MAGIC, self.bits, self.hashes, self.ttl, self._epoch()), 0)
            self._map = mmap.mmap(self._fd, size)
        except BaseException:
            os.close(self._fd)
            raise

    def _header_matches(self) -> bool:
        raw = os.pread(self._fd, _HEADER.size, 0)
        if len(raw) != _HEADER.size:
            return False
        magic, bits, hashes, ttl, _ = _HEADER.unpack(raw)
        return bool(magic == _MAGIC and bits == self.bits and hashes == self.hashes and ttl == self.ttl)

    def _locked(self) -> _Lock:
        return _Lock(self._fd)

    def _epoch(self) -> int:
        return int(self._clock() // self.ttl)

    def _rotate(self) -> int:
        """The current epoch, after clearing the slots that became "next" since the file's epoch."""
        now = self._epoch()
        stored: int = _HEADER.unpack_from(self._map, 0)[4]
        if stored >= now:
            return stored
        with self._locked():
            stored = _HEADER.unpack_from(self._map, 0)[4]
            if stored < now:
                # each epoch since the stored one starts with an empty "next" filter (epoch + 1);
                # three or more epochs later every filter is stale
                for epoch in range(max(stored + 2, now - 1), now + 2):
                    self._clear(epoch % 3)
                _HEADER.pack_into(self._map, 0, _MAGIC, self.bits, self.hashes, self.ttl, now)
        return now

    def _clear(self, slot: int) -> None:
        start = _HEADER_SIZE + slot * self._slot
        end = start + self._slot
        while start < end:
            n = min(len(_ZEROS), end - start)
            self._map[start : start + n] = _ZEROS[:n]
            start += n

    def _positions(self, element: str) -> list[int]:
        digest = hashlib.blake2b(element.encode(), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        bits = self.bits
        return [(h1 + i * h2) % bits for i in range(self.hashes)]

    def add(self, elements: Iterable[str]) -> None:
        """Revoke: into the current and the next filter."""
        now = self._rotate()
        slots = (_HEADER_SIZE + (now % 3) * self._slot, _HEADER_SIZE + ((now + 1) % 3) * self._slot)
        mapped = self._map
        with self._locked():
            for element in elements:
                for pos in self._positions(element):
                    byte, bit = divmod(pos, 8)
                    for base in slots:
                        mapped[base + byte] |= 1 << bit

    def _in(self, base: int, positions: list[int]) -> bool:
        mapped = self._map
        for pos in positions:
            if not mapped[base + (pos >> 3)] & (1 << (pos & 7)):
                return False
        return True

    def check(self, element: str) -> bool:
        """Maybe revoked (previous or current filter); false positives at rate ``P``."""
        now = self._rotate()
        positions = self._positions(element)
        return self._in(_HEADER_SIZE + (now % 3) * self._slot, positions) or self._in(
            _HEADER_SIZE + ((now - 1) % 3) * self._slot, positions
        )

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class _Lock:
    """``flock`` on the shared file: adds and rotations of several workers never interleave."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
