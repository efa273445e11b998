"""How long to wait before reconnecting to a WebSocket backend (``backoff_strategy``, ``max_retries``)."""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["MAX_DELAY", "delays"]

#: no wait is longer than this (seconds): an exponential strategy would otherwise sleep for hours
MAX_DELAY = 60.0
#: seconds per step of a strategy (the tests shorten it)
UNIT = 1.0


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
