"""sony/gobreaker v2's state machine as krakend-circuitbreaker configures it.

- **closed**: counts reset every ``interval`` seconds (0: never); the breaker trips when the
  *consecutive* failures exceed ``max_errors`` (``max_errors: 1`` trips on the second failure in a
  row); a success resets the streak.
- **open** for ``timeout`` seconds (0: 60 s): calls fail at once with ``circuit breaker is open``.
- **half-open**: exactly one call is let through (others fail with ``too many requests``); its
  success closes the breaker, its failure opens it again.

Every state change starts a new *generation*: an outcome reported for a call admitted in an older
generation is ignored, as in gobreaker. A cancelled call (client gone) is neither a success nor a
failure; in half-open it frees the probe slot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, Literal, TypeAlias

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Breaker", "BreakerOpen", "State"]

State: TypeAlias = Literal["closed", "half-open", "open"]
CLOSED: Final = "closed"
HALF_OPEN: Final = "half-open"
OPEN: Final = "open"
#: gobreaker's default open period when ``timeout`` is 0
DEFAULT_TIMEOUT = 60.0

log = logging.getLogger("krakenpy.circuitbreaker")


class BreakerOpen(Exception):
    """A call refused by the breaker: ``circuit breaker is open`` or ``too many requests``."""


class Breaker:
    """One breaker (one backend definition). Call :meth:`before` then :meth:`success` / :meth:`failure`."""

    __slots__ = (
        "_clock",
        "_on_change",
        "expiry",
        "failures",
        "generation",
        "interval",
        "max_errors",
        "name",
        "requests",
        "state",
        "timeout",
    )

    def __init__(
        self,
        *,
        interval: float,
        timeout: float,
        max_errors: int,
        name: str = "",
        on_change: Callable[[str, State, State], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.timeout = timeout if timeout > 0 else DEFAULT_TIMEOUT
        self.max_errors = max_errors
        self.name = name
        self._on_change = on_change
        self._clock = clock
        self.state: State = CLOSED
        self.generation = 0
        #: calls admitted in this generation, and the current streak of failures
        self.requests = 0
        self.failures = 0
        self.expiry = 0.0
        self._new_generation(clock())

    def _new_generation(self, now: float) -> None:
        self.generation += 1
        self.requests = 0
        self.failures = 0
        if self.state == CLOSED:
            self.expiry = now + self.interval if self.interval > 0 else 0.0
        elif self.state == OPEN:
            self.expiry = now + self.timeout
        else:
            self.expiry = 0.0

    def _set(self, state: State, now: float) -> None:
        previous = self.state
        self.state = state
        self._new_generation(now)
        if self._on_change is not None:
            self._on_change(self.name, previous, state)

    def _current(self, now: float) -> State:
        if self.state == CLOSED:
            if self.expiry and self.expiry <= now:
                self._new_generation(now)
        elif self.state == OPEN and self.expiry <= now:
            self._set(HALF_OPEN, now)
        return self.state

    def before(self) -> int:
        """Admit a call or raise :class:`BreakerOpen`; returns the generation to report back to."""
        now = self._clock()
        if self.state == CLOSED and (not self.expiry or now < self.expiry):
            self.requests += 1  # the common case, without the state machine's calls
            return self.generation
        state = self._current(now)
        if state == OPEN:
            raise BreakerOpen("circuit breaker is open")
        if state == HALF_OPEN and self.requests >= 1:
            raise BreakerOpen("too many requests")
        self.requests += 1
        return self.generation

    def success(self, generation: int) -> None:
        """The call admitted in ``generation`` succeeded."""
        if self.state == CLOSED:
            # resetting the streak is all a success does when closed; if the interval ended
            # meanwhile, the new generation's counts are zero anyway
            if generation == self.generation:
                self.failures = 0
            return
        now = self._clock()
        state = self._current(now)
        if generation != self.generation:
            return
        self.failures = 0
        if state == HALF_OPEN:
            self._set(CLOSED, now)

    def failure(self, generation: int) -> None:
        """The call admitted in ``generation`` failed."""
        now = self._clock()
        state = self._current(now)
        if generation != self.generation:
            return
        if state == CLOSED:
            self.failures += 1
            if self.failures > self.max_errors:
                self._set(OPEN, now)
        elif state == HALF_OPEN:
            self._set(OPEN, now)

    def cancelled(self, generation: int) -> None:
        """The call admitted in ``generation`` was cancelled: not counted either way."""
        if generation == self.generation and self.requests > 0:
            self.requests -= 1


def log_change(name: str, previous: State, state: State) -> None:
    """KrakenD's ``log_status_change`` line."""
    log.warning("[CB] Circuit breaker named '%s' went from '%s' to '%s'", name, previous, state)
