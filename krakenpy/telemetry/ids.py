"""Ids that must be unique, not secret (request ids, span ids of unrecorded hops): a random head drawn
per process (again after a fork) and a counter whose low 12 bits come from a table (formatting an int
as hex costs ~2k machine instructions; a table read and one concatenation ~0.4k)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

__all__ = ["CounterIds"]

HEX3: Final = tuple(f"{i:03x}" for i in range(4096))


class CounterIds:
    """``next()`` gives ``head_of(prefix, high) + HEX3[low]``; ``draw()`` gives the process's prefix
    and the counter's random start, ``head_of`` the text of the prefix and the counter's high part.
    ``take`` is ``next`` bound once. Compiled, a caller that holds the counter calls ``next`` as a
    native method (a table read and one concatenation, ~0.2 k machine instructions); through ``take``
    it is a bound method's call. (Until round 21 ``take`` was a C-level iterator's ``__next__`` over
    ``map(add, repeat(head), HEX3[low:])`` blocks: no Python frame per id in a pure build, but compiled
    ~0.3 k instructions more per id than the native call, through ``PyIter_Next``, the chain, the
    map and ``operator.add``'s number-protocol dispatch.)"""

    def __init__(
        self, draw: Callable[[], tuple[str, int]], head_of: Callable[[str, int], str], high_max: int = -1
    ) -> None:
        self._draw = draw
        self._head_of = head_of
        #: the largest high part ``head_of`` shows; past it a new prefix is drawn so ids never repeat
        #: (-1: no limit)
        self._high_max = high_max
        self.prefix = self.head = ""
        self.high = self.low = 0
        self.reseed()
        self.take: Callable[[], str] = self.next
        # workers are forked from the supervisor: each must draw its own prefix, or they would share ids
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        """Draw the prefix and the counter's start."""
        self.prefix, start = self._draw()
        self.high, self.low = start >> 12, start & 0xFFF
        self.head = self._head_of(self.prefix, self.high)

    def _wrap(self) -> None:
        """The low 12 bits wrapped: the next high part (or, past ``high_max``, a new prefix)."""
        self.high += 1
        if self._high_max >= 0 and self.high > self._high_max:
            self.reseed()  # the counter's space is spent: another prefix, never an id again
        else:
            self.head = self._head_of(self.prefix, self.high)
            self.low = 0

    def next(self) -> str:
        """The next id."""
        low = self.low
        if low == 4096:
            self._wrap()
            low = self.low
        self.low = low + 1
        return self.head + HEX3[low]
