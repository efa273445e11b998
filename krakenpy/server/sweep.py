"""What the gateway's listener and the side listeners share about client clocks: the limits turned
once into the spans every connection reads, and one sweep per tick (not a timer per request) that
closes the connections whose deadline passed and flushes the refusal, timeout and accept tallies.
The sweep stops re-arming while no connection is open and nothing is left to flush, and the next
connection (the protocol factory) arms it again: an idle worker woke once a second for nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod

from krakenpy.server.limits import ServerLimits
from krakenpy.server.logs import Tally

__all__ = ["MAX_HEADER_LINES", "SweptServer"]

log = logging.getLogger("krakenpy.server")

#: header lines per request (aiohttp's default is 128; Go has no count, only the byte budget)
MAX_HEADER_LINES = 1024

_now = time.monotonic


class SweptServer(ABC):
    """Base of a listener whose connections keep one deadline each; subclasses say how to expire them."""

    _loop: asyncio.AbstractEventLoop
    _limits: ServerLimits
    #: the next sweep (None: not started, stopped, or paused while no connection is open)
    _sweeper: asyncio.TimerHandle | None = None
    #: between start_sweeping and stop_sweeping: a new connection arms a paused sweep
    _sweeping: bool = False

    def _start_clocks(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.client_errors = Tally(log, "malformed requests refused")
        self.timeouts = Tally(log, "connections closed by a timeout")
        #: out of file descriptors while accepting (asyncio's loop handler and the uvloop acceptor)
        self.accept_errors = Tally(log, "cannot accept connections", level=logging.WARNING)

    @property
    def limits(self) -> ServerLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: ServerLimits) -> None:
        # the numbers every request reads, computed once per configuration
        self._limits = limits
        spans = [t for t in (limits.header_timeout, limits.read_timeout) if t > 0]
        self.header_span = min(spans) if spans else 0.0
        self.read_span = limits.read_timeout
        self.write_span = limits.write_timeout
        self.idle_span = limits.idle_timeout
        self.header_budget = limits.header_budget

    def start_sweeping(self) -> None:
        """Check every connection's deadline each :attr:`ServerLimits.tick` from now on (while
        connections are open: :meth:`connecting` arms it again)."""
        self._sweeping = True
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(self.limits.tick, self._sweep)

    def connecting(self) -> None:
        """A connection is being made (the protocol factory): the sweep runs again if it paused."""
        if self._sweeper is None and self._sweeping:
            self._sweeper = self._loop.call_later(self.limits.tick, self._sweep)

    def stop_sweeping(self) -> None:
        was = self._sweeping
        self._sweeping = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if was:  # the counts since the last summary line would be lost with the sweeper
            for tally in (self.client_errors, self.timeouts, self.accept_errors):
                tally.flush(final=True)

    @abstractmethod
    def _expire_due(self, now: float) -> None:
        """Close the connections whose deadline is at or before ``now`` (each listener keeps its own)."""

    @abstractmethod
    def _open(self) -> bool:
        """Whether any connection is open."""

    def _sweep(self) -> None:
        self._sweeper = None
        try:
            self._expire_due(_now())
            self.client_errors.flush()
            self.timeouts.flush()
            self.accept_errors.flush()
        finally:
            tallies = (self.client_errors, self.timeouts, self.accept_errors)
            if self._sweeping and (self._open() or any(t.count for t in tallies)):
                self._sweeper = self._loop.call_later(self.limits.tick, self._sweep)
