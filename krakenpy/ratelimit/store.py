"""The table of per-client buckets of one endpoint (krakend-ratelimit's sharded memory backend).

Buckets are kept in last-access order (an ``OrderedDict`` moved on every use), so evicting the idle
ones only looks at the oldest entries and stops at the first recent one: the cost is proportional to
what is evicted, never to the table size. Cleanup runs on the request path at most once per
``cleanup_period`` (no background task to start or stop); a bucket idle longer than ``ttl`` is
forgotten and its client starts again with a full bucket, as in KrakenD.

KrakenD shards its table (``num_shards``) to spread mutex contention between goroutines; a single
asyncio thread has no such contention, so krakenpy keeps one table and accepts ``num_shards`` and
``cleanup_threads`` without using them.
"""

from __future__ import annotations

from collections import OrderedDict

from krakenpy.ratelimit.bucket import Clock, TokenBucket, monotonic

__all__ = ["ClientStore"]


class ClientStore:
    """Per-key buckets with idle eviction."""

    __slots__ = ("_buckets", "_capacity", "_clock", "_interval", "_next_cleanup", "cleanup_period", "ttl")

    def __init__(
        self,
        interval: int,
        capacity: int,
        *,
        ttl: int,
        cleanup_period: int,
        clock: Clock = monotonic,
    ) -> None:
        self._interval = interval
        self._capacity = capacity
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        #: nanoseconds a bucket may stay unused before it is forgotten
        self.ttl = ttl
        self.cleanup_period = cleanup_period
        self._next_cleanup = clock() + cleanup_period

    def __len__(self) -> int:
        return len(self._buckets)

    def bucket(self, key: str, now: int) -> TokenBucket:
        """The bucket of ``key`` (a full new one for an unknown or forgotten key), marked as used."""
        if now >= self._next_cleanup:
            self.cleanup(now)
        buckets = self._buckets
        found = buckets.get(key)
        if found is None:
            found = buckets[key] = TokenBucket(self._interval, self._capacity, now)
        else:
            buckets.move_to_end(key)
            found.last_access = now
        return found

    def take(self, key: str, now: int) -> TokenBucket | None:
        """Take a token from ``key``'s bucket at ``now``: ``None`` when allowed, else the empty bucket.
        (One call on the hot path: the look-up, the LRU move and a token in one go.)"""
        found = self._buckets.get(key)
        if found is None or now >= self._next_cleanup:
            found = self.bucket(key, now)
        else:
            self._buckets.move_to_end(key)
            found.last_access = now
        if found.tokens > 0:
            found.tokens -= 1
            return None
        return None if found.allow(now) else found

    def allow(self, key: str) -> bool:
        """Take a token from ``key``'s bucket now."""
        return self.take(key, self._clock()) is None

    def cleanup(self, now: int) -> int:
        """Forget the buckets idle for longer than ``ttl``; returns how many were dropped."""
        self._next_cleanup = now + self.cleanup_period
        deadline = now - self.ttl
        buckets = self._buckets
        dropped = 0
        while buckets:
            key, oldest = next(iter(buckets.items()))
            if oldest.last_access >= deadline:
                break
            del buckets[key]
            dropped += 1
        return dropped
