"""Ids that must be unique, not secret (request ids, span ids of unrecorded hops): a random head drawn
per process (again after a fork) and a counter whose low 12 bits come from a table (formatting an int
as hex costs ~2k machine instructions; a table read and one concatenation ~0.4k)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from itertools import chain, repeat
from operator import add
from typing import Final

__all__ = ["CounterIds"]

HEX3: Final = tuple(f"{i:03x}" for i in range(4096))


class CounterIds:
    """``next()`` gives ``head_of(prefix, high) + HEX3[low]``; ``draw()`` gives the process's prefix
    and the counter's random start, ``head_of`` the text of the prefix and the counter's high part.
    ``take()`` gives the same ids from a C-level iterator (``take`` is its ``__next__``: no Python
    frame per id, which cost ~19 opcodes and the call, 2026-12-01); the two never give one id twice."""

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
        #: the ids ``take`` gives from (the current high part's), and whether a reseed replaced it
        self._block: Iterator[str] | None = None
        self._fresh = False
        self.reseed()
        #: the ids as an iterator: compiled code asks it with ``next()`` (a C slot call), where ``take``,
        #: a method wrapper, builds an argument tuple per call (~0.5 k instructions, 2026-12-02)
        self.ids: Iterator[str] = chain.from_iterable(self._blocks())
        self.take: Callable[[], str] = self.ids.__next__
        # workers are forked from the supervisor: each must draw its own prefix, or they would share ids
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        """Draw the prefix and the counter's start (and drop what ``take`` had left of the old one)."""
        self.prefix, start = self._draw()
        self.high, self.low = start >> 12, start & 0xFFF
        self.head = self._head_of(self.prefix, self.high)
        if self._block is not None:
            deque(self._block, maxlen=0)  # spent in C: ``take`` moves on to a block of the new prefix
        self._fresh = True

    def _wrap(self) -> None:
        """The low 12 bits wrapped: the next high part (or, past ``high_max``, a new prefix)."""
        self.high += 1
        if self._high_max >= 0 and self.high > self._high_max:
            self.reseed()  # the counter's space is spent: another prefix, never an id again
        else:
            self.head = self._head_of(self.prefix, self.high)
            self.low = 0

    def _blocks(self) -> Iterator[Iterator[str]]:
        """For ``take``: the rest of the current high part's ids, then each next high part's."""
        while True:
            self._fresh = False
            low = self.low
            self.low = 4096  # these ids are taken: ``next`` moves on to the next high part
            self._block = block = map(add, repeat(self.head), HEX3[low:])
            yield block
            if not self._fresh:  # used up, not dropped by a reseed
                self._wrap()

    def next(self) -> str:
        """The next id."""
        low = self.low
        if low == 4096:
            self._wrap()
            low = self.low
        self.low = low + 1
        return self.head + HEX3[low]
