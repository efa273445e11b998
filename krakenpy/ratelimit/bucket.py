"""KrakenD's token bucket (krakend-ratelimit ``tokenbucket.go``), copied exactly so that a limit tuned
on KrakenD behaves the same here.

The bucket starts full. While tokens remain, a request takes one and time is not looked at. Once it
is empty, the whole fill intervals elapsed since the last refill are added at once; when they
overflow the capacity the bucket becomes full and that request is let through without taking a
token (so after an idle period the burst is ``capacity + 1``). Times are integer nanoseconds of a
monotonic clock, as Go's ``time.Duration``.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic_ns
from typing import TypeAlias

__all__ = ["Clock", "TokenBucket", "default_capacity", "fill_interval"]

#: integer nanoseconds of a monotonic clock
Clock: TypeAlias = Callable[[], int]


def fill_interval(rate: float) -> int:
    """Nanoseconds between two tokens for ``rate`` tokens per second (Go: ``int64(1e9 / r)``, r ≥ 1e-9)."""
    return int(1e9 / max(rate, 1e-9))


def default_capacity(rate: float) -> int:
    """KrakenD's default capacity for a (per-second) rate: ``uint64(rate)``, at least 1."""
    return 1 if rate < 1 else int(rate)


class TokenBucket:
    """One bucket; :meth:`allow` takes a token (or refills) and says whether the request may pass."""

    __slots__ = ("capacity", "interval", "last_access", "last_refill", "tokens")

    def __init__(self, interval: int, capacity: int, now: int) -> None:
        self.interval = interval
        self.capacity = max(capacity, 1)
        self.tokens = self.capacity
        self.last_refill = now
        #: when the bucket was last used (the client table evicts idle buckets by it)
        self.last_access = now

    def allow(self, now: int) -> bool:
        """True when a request may pass at ``now`` (ns); updates the bucket."""
        if self.tokens > 0:
            self.tokens -= 1  # the refill waits until the bucket is empty
            return True
        add = (now - self.last_refill) // self.interval
        if add <= 0:
            return False
        self.last_refill += add * self.interval
        if add > self.capacity:
            self.tokens = self.capacity  # overflow: full again, this request is free
            return True
        self.tokens = add - 1
        return True

    def wait(self, now: int) -> float:
        """Seconds until :meth:`allow` would next succeed (0 when it would now)."""
        if self.tokens > 0:
            return 0.0
        due = self.last_refill + self.interval - now
        return max(due, 0) / 1e9


def monotonic() -> int:
    """The default clock."""
    return monotonic_ns()
