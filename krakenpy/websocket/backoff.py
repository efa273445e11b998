"""How long to wait before reconnecting to a WebSocket backend (``backoff_strategy``, ``max_retries``)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

__all__ = ["HEALTHY", "MAX_DELAY", "Backoff", "delays"]

#: no wait is longer than this (seconds): an exponential strategy would otherwise sleep for hours
MAX_DELAY = 60.0
#: seconds per step of a strategy (the tests shorten it)
UNIT = 1.0
#: a connection that lasted this many units was healthy: the waits after it start over
HEALTHY = 30.0


def _step(strategy: str, attempt: int) -> float:
    if strategy.startswith("linear"):
        base = float(attempt)
    elif strategy.startswith("exponential"):
        base = 2.0 ** min(attempt, 16)
    else:  # fallback: a constant second
        base = 1.0
    if strategy.endswith("-jitter"):
        base *= random.uniform(2 / 3, 4 / 3)  # spreading reconnections, not a secret
    return min(base * UNIT, MAX_DELAY)


def delays(strategy: str, max_retries: int) -> Iterator[float]:
    """The wait before each reconnection attempt, in order; endless when ``max_retries <= 0``."""
    attempt = 0
    while max_retries <= 0 or attempt < max_retries:
        attempt += 1
        yield _step(strategy, attempt)


class Backoff:
    """One backend connection's waits: every redial waits its turn, whether the dial failed or the
    connection it made was lost; a connection that stayed up ``HEALTHY`` units resets them."""

    __slots__ = ("_max_retries", "_strategy", "_up_since", "_waits")

    def __init__(self, strategy: str, max_retries: int) -> None:
        self._strategy, self._max_retries = strategy, max_retries
        self._waits = delays(strategy, max_retries)
        self._up_since = 0.0

    def connected(self) -> None:
        """A dial succeeded."""
        self._up_since = time.monotonic()

    def next_wait(self) -> float | None:
        """The wait before the next attempt; None once ``max_retries`` are spent."""
        if self._up_since and time.monotonic() - self._up_since >= HEALTHY * UNIT:
            self._waits = delays(self._strategy, self._max_retries)
        self._up_since = 0.0
        return next(self._waits, None)
