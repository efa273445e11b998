"""The bot decision for one User-Agent (krakend-botdetector), remembered in an LRU when asked.

Order: an empty User-Agent is a bot only with ``empty_user_agent_is_bot`` (the allow list is not
consulted); then exact allow, exact deny, then any pattern (unanchored). The patterns are joined into
one RE2 set, so a User-Agent is scanned once whatever their number.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from krakenpy.botdetect.options import BotOptions
from krakenpy.goregex import GoRegexSet

__all__ = ["Detector", "RateLimitedLog"]

log = logging.getLogger("krakenpy.botdetector")
#: longest part of a User-Agent written to the log
_LOGGED_CHARS = 120
#: longer User-Agents are decided every time instead of cached: 10 000 entries of 8 KiB each would
#: let a client fill 80 MB of memory
_CACHED_CHARS = 512


class RateLimitedLog:
    """At most one record per ``interval`` seconds; the next one says how many were held back."""

    __slots__ = ("_interval", "_level", "_logger", "_next", "_prefix", "_held")

    def __init__(self, logger: logging.Logger, level: int, prefix: str, interval: float = 1.0) -> None:
        self._logger = logger
        self._level = level
        self._prefix = prefix
        self._interval = interval
        self._next = 0.0
        self._held = 0

    def emit(self, message: str, *args: object) -> bool:
        """Log ``message`` unless one was logged less than ``interval`` ago; True when logged."""
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return False
        self._next = now + self._interval
        held, self._held = self._held, 0
        if held:
            message += " (%d more rejected since the last message)"
            args = (*args, held)
        self._logger.log(self._level, self._prefix + message, *args)
        return True


class Detector:
    """``is_bot(user_agent)``; ``reject(user_agent)`` logs a rejection without flooding."""

    __slots__ = ("_allow", "_cache", "_deny", "_empty", "_log", "_patterns", "_size")

    def __init__(self, options: BotOptions, where: str = "SERVICE") -> None:
        self._allow = options.allow
        self._deny = options.deny
        self._patterns = GoRegexSet(options.patterns) if options.patterns else None
        self._empty = options.empty_user_agent_is_bot
        self._size = options.cache_size
        self._cache: OrderedDict[str, bool] | None = OrderedDict() if options.cache_size > 0 else None
        self._log = RateLimitedLog(log, logging.WARNING, f"[{where}][Botdetector] ")

    def decide(self, user_agent: str) -> bool:
        """The uncached decision."""
        if not user_agent:
            return self._empty
        if user_agent in self._allow:
            return False
        if user_agent in self._deny:
            return True
        return self._patterns is not None and self._patterns.search(user_agent)

    def is_bot(self, user_agent: str) -> bool:
        """The decision, from the LRU when one is configured."""
        cache = self._cache
        if cache is None or len(user_agent) > _CACHED_CHARS:
            return self.decide(user_agent)
        found = cache.get(user_agent)
        if found is not None:
            cache.move_to_end(user_agent)
            return found
        verdict = cache[user_agent] = self.decide(user_agent)
        if len(cache) > self._size:
            cache.popitem(last=False)
        return verdict

    def reject(self, user_agent: str) -> None:
        """Log one rejection (at most one line per second per detector)."""
        if user_agent:
            self._log.emit("bot rejected: User-Agent %r", user_agent[:_LOGGED_CHARS])
        else:
            self._log.emit("bot rejected: no User-Agent")
