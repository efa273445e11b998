"""Logging for what clients and the operating system do to a worker, at a bounded rate: the first
event of a quiet period gets one line, the rest are counted into one summary line per interval. A
hostile client (or a file-descriptor shortage) costs a counter increment, never a log flood."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

__all__ = ["Tally", "install_loop_handler"]

#: seconds between two summary lines of one tally
INTERVAL = 10.0


class Tally:
    """Counts one kind of event; :meth:`flush` (called periodically) writes the summaries."""

    __slots__ = ("_next", "count", "interval", "latest", "level", "logger", "what")

    def __init__(self, logger: logging.Logger, what: str, *, level: int = logging.INFO, interval: float = INTERVAL):
        self.logger = logger
        self.what = what
        self.level = level
        self.interval = interval
        self.count = 0  # events since the last line
        self.latest = ""
        self._next = 0.0  # no line before this (monotonic)

    def record(self, detail: str) -> None:
        """One event; ``detail`` must hold nothing secret (no header value, no body)."""
        self.latest = detail
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("%s: %s", self.what, detail)
        now = time.monotonic()
        if now >= self._next and self.count == 0:
            self.logger.log(self.level, "%s: %s (more within %.0f s are counted)", self.what, detail, self.interval)
            self._next = now + self.interval
            return
        self.count += 1

    def flush(self, *, final: bool = False) -> None:
        """Write the summary of the interval that ended, if anything happened in it (``final``: the
        server stops, so what was counted since the last line is written now or never)."""
        now = time.monotonic()
        if self.count and (final or now >= self._next):
            summary = "%s: %d more in the last %.0f s (latest: %s)"
            self.logger.log(self.level, summary, self.what, self.count, self.interval, self.latest)
            self.count = 0
            self._next = now + self.interval


def install_loop_handler(loop: asyncio.AbstractEventLoop, accept_errors: Tally) -> None:
    """Route asyncio's "socket.accept() out of system resource" reports (one per queued connection, each
    with a traceback, while file descriptors run out) into ``accept_errors``; everything else keeps
    the loop's handler."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            exc = context.get("exception")
            accept_errors.record(f"{exc.strerror if isinstance(exc, OSError) else exc}")
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
