"""A clock a test moves by hand (integer nanoseconds, like the limiter's)."""

from __future__ import annotations

SECOND = 1_000_000_000


class FakeClock:
    """``clock()`` returns ``now``; ``advance(seconds)`` moves it."""

    def __init__(self, start: int = 1_000 * SECOND) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * SECOND)
