"""``rejecter_cache``: a bloom filter of the counters found exhausted, so a caller who used up a
quota is refused without a Redis round trip until the window ends.

Each element is a counter's Redis key, which names its window: an entry stops matching when the
window ends. The filter is emptied when the processor's shortest window rolls over, so it never
fills up with dead windows (the exhausted counters of longer windows are found again in Redis, one
round trip each). The bits live in an anonymous memory map allocated on the first add: untouched
pages cost no memory, so a large ``N`` is cheap until callers exhaust their quotas. A false positive
(rate ``P``) refuses a caller who still had quota, as in KrakenD.
"""

from __future__ import annotations

import mmap

from krakenpy.jose.bloom import MAX_FILTER_BITS, bloom_shape
from krakenpy.jose.bloomhash import positions_function

__all__ = ["Rejecter"]


class Rejecter:
    """The exhausted counters of one processor, in this process."""

    __slots__ = ("_generation", "_map", "_positions", "bits", "hashes")

    def __init__(self, capacity: int, false_positive: float, hash_name: str = "optimal") -> None:
        bits, hashes = bloom_shape(capacity, false_positive)
        self.bits = min(bits, MAX_FILTER_BITS)
        self.hashes = hashes
        self._map: mmap.mmap | None = None
        self._generation = -1
        # KrakenD's hash families (hash_name), as the revoker's filters: the same false positives
        self._positions = positions_function(hash_name, self.bits, hashes)

    def _current(self, generation: int) -> mmap.mmap | None:
        if generation < self._generation:
            # a slow request that began in the previous window: its entries are dead, and emptying
            # the current filter for it would forget the callers found exhausted since
            return None
        if generation != self._generation and self._map is not None:
            self._map.close()  # a new shortest window: every entry of the old filter may be stale
            self._map = None
        self._generation = generation
        return self._map

    def add(self, element: str, generation: int) -> None:
        """Remember ``element`` as exhausted during ``generation`` (ignored for a past generation)."""
        if generation < self._generation:
            return
        mapped = self._current(generation)
        if mapped is None:
            mapped = self._map = mmap.mmap(-1, (self.bits + 7) // 8)
        for pos in self._positions(element):
            mapped[pos >> 3] |= 1 << (pos & 7)

    def check(self, element: str, generation: int) -> bool:
        """Whether ``element`` may have been found exhausted during ``generation``."""
        mapped = self._current(generation)
        if mapped is None:
            return False
        return all(mapped[pos >> 3] & (1 << (pos & 7)) for pos in self._positions(element))

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
