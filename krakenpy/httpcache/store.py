"""Where cached responses live: one entry per key, least recently used first out.

``max_items`` and ``max_size`` (bytes) bound the store when both are set (KrakenD's LRU). KrakenD's
other stores grow without limit; krakenpy bounds them too, at :data:`SAFETY_ITEMS` /
:data:`SAFETY_BYTES`, so a flood of distinct URLs cannot exhaust memory (a miss more, never an error).
An entry larger than ``max_size`` is not stored.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from krakenpy.backends.client import UpstreamResponse

__all__ = ["SAFETY_BYTES", "SAFETY_ITEMS", "Entry", "Store"]

SAFETY_ITEMS = 100_000
SAFETY_BYTES = 512 * 1024 * 1024
#: bookkeeping counted per entry on top of its bytes
_OVERHEAD = 64


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored response with what serving it needs, computed once when it was stored."""

    response: UpstreamResponse
    #: the response's Cache-Control directives
    control: dict[str, str]
    #: its ``Date`` (POSIX seconds), ``None`` when missing or invalid (always stale)
    date: float | None
    #: the lifetime the response gives itself (max-age, else Expires − Date)
    lifetime: float
    #: ``(header, request value)`` pairs of its ``Vary`` headers, as the request that stored it had them
    vary: tuple[tuple[str, str], ...]
    etag: str
    last_modified: str
    size: int

    @property
    def fresh_until(self) -> float:
        """When it turns stale for a request without Cache-Control (``-inf`` when it always is)."""
        if self.date is None or "no-cache" in self.control:
            return float("-inf")
        return self.date + self.lifetime


def entry_size(response: UpstreamResponse) -> int:
    """Bytes an entry is counted for: body, headers and bookkeeping."""
    return len(response.body) + sum(len(k) + len(v) + 4 for k, v in response.headers) + _OVERHEAD


class Store:
    """An LRU map of cache key → :class:`Entry`, bounded by items and bytes."""

    __slots__ = ("_entries", "bytes", "max_items", "max_size")

    def __init__(self, max_items: int = 0, max_size: int = 0) -> None:
        bounded = max_items > 0 and max_size > 0
        self.max_items = max_items if bounded else SAFETY_ITEMS
        self.max_size = max_size if bounded else SAFETY_BYTES
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def set(self, key: str, entry: Entry) -> None:
        self.delete(key)
        if entry.size > self.max_size:
            return  # would evict everything and still not fit
        self._entries[key] = entry
        self.bytes += entry.size
        while len(self._entries) > self.max_items or self.bytes > self.max_size:
            _, oldest = self._entries.popitem(last=False)
            self.bytes -= oldest.size

    def delete(self, key: str) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
