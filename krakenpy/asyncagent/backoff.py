"""Reconnection delays by strategy name (lura ``backoff.GetByName``)."""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["STRATEGIES", "backoff"]

#: the names lura knows (case-insensitive); any other name, or none, waits one second every time
STRATEGIES = ("linear", "linear-jitter", "exponential", "exponential-jitter")
#: 2**i seconds stops growing here (lura's shift would overflow long before anyone waits that long)
_MAX_EXPONENT = 16


def _jitter(seconds: int) -> float:
    """``seconds`` ± up to a third, in whole milliseconds, at least 1 ms (lura's jitter)."""
    ms = seconds * 1000
    spread = ms // 3 + 1
    ms += random.randrange(2 * spread) - spread
    return max(ms, 1) / 1000


def backoff(strategy: str) -> Callable[[int], float]:
    """The delay in seconds before attempt ``i`` (0-based) for ``strategy``."""
    name = strategy.lower()
    if name == "linear":
        return float
    if name == "linear-jitter":
        return _jitter
    if name == "exponential":
        return lambda i: float(1 << min(i, _MAX_EXPONENT))
    if name == "exponential-jitter":
        return lambda i: _jitter(1 << min(i, _MAX_EXPONENT))
    return lambda _i: 1.0
