"""One quota processor of a gateway: its counters in Redis (one Lua script per step, atomic, one
round trip) and its rejecter cache.

A counter is named by the processor, the limit's unit and window, and the caller's key (hashed with
``hash_keys``, or when longer than 128 characters), not by the tier's rule: every endpoint attaching
the processor shares it, and a caller whose tier changes keeps the usage of the window. Redis trouble
is explicit, as for the Redis rate limits: each step is bounded by :data:`TIMEOUT`, and after a
failure Redis is left alone for :data:`~krakenpy.ratelimit.cluster.COOLDOWN` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import Final

from redis.exceptions import RedisError, ResponseError

from krakenpy.quota.options import Limit, ProcessorOptions
from krakenpy.quota.rejecter import Rejecter
from krakenpy.quota.windows import UNITS, window
from krakenpy.ratelimit.cluster import COOLDOWN
from krakenpy.redis_pools import RedisPool

__all__ = ["TIMEOUT", "Processor", "Step"]

#: seconds one step waits for Redis (the first step of a connection includes the connect and, once
#: per Redis start, the script's load; not ``Final``: the tests on a loaded machine allow more)
TIMEOUT = 0.25
SCRIPT: Final = files("krakenpy.quota").joinpath("quota.lua").read_text()
_MAX_KEY: Final = 128

log = logging.getLogger("krakenpy.quota")
#: the clock of the processors a gateway makes (a module attribute: tests set a clock far from midnight)
wall_clock: Callable[[], float] = time.time


def _utf8(key: str) -> bool:
    if key.isascii():
        return True
    try:
        key.encode()
    except UnicodeEncodeError:
        return False
    return True


class Step:
    """The counters of one caller under one rule, at one moment."""

    __slots__ = ("ends", "keys", "limits")

    def __init__(self, keys: list[str], limits: Sequence[Limit], ends: list[int]) -> None:
        self.keys = keys
        self.limits = limits
        self.ends = ends


class Processor:
    """A ``quotas`` item, live: :meth:`step` names the counters, :meth:`run` updates them."""

    def __init__(
        self,
        options: ProcessorOptions,
        pool: RedisPool,
        clock: Callable[[], float] | None = None,
        name_key: bytes = b"",
    ) -> None:
        """``name_key``: the BLAKE2b key of hashed callers' names (empty: unkeyed)."""
        self.options = options
        self._name_key = name_key
        self.clock = clock or wall_clock
        self._script = pool.script(SCRIPT)
        self._slots = pool.slots
        self._prefix = f"krakenpy:quota:{options.name}:"
        self.rejecter = Rejecter(*options.rejecter) if options.rejecter is not None else None
        units = {limit.unit for limits in options.rules.values() for limit in limits}
        #: the shortest unit: its window numbers the rejecter's generations
        self._shortest = min(units, key=UNITS.index) if units else "year"
        self.down_until = 0.0
        self._bad_step_logged = False

    def _caller(self, key: str, hashed: bool) -> str:
        # a key that is not valid UTF-8 (a header's raw bytes come as surrogate escapes) cannot be
        # sent to Redis as text: hashed from its bytes, as a long key is
        if hashed or self.options.hash_keys or len(key) > _MAX_KEY or not _utf8(key):
            try:
                raw = key.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # a lone surrogate no decoder made
                raw = key.encode("utf-8", "surrogatepass")
            return "#" + hashlib.blake2b(raw, digest_size=16, key=self._name_key).hexdigest()
        return key

    def step(self, limits: Sequence[Limit], key: str, now: float, hashed: bool = False) -> Step:
        """The counters of ``key`` for ``limits`` at ``now``; ``hashed``: the key is a credential (a
        token read from ``Authorization``), named by its hash whatever ``hash_keys`` says."""
        caller = self._caller(key, hashed)
        keys: list[str] = []
        ends: list[int] = []
        for limit in limits:
            start, end = window(limit.unit, now)
            keys.append(f"{self._prefix}{limit.unit}:{start}:{caller}")
            ends.append(end)
        return Step(keys, limits, ends)

    def generation(self, now: float) -> int:
        return window(self._shortest, now)[0]

    async def run(self, step: Step, weight: int, check: bool) -> tuple[int, list[int]] | None:
        """Add ``weight`` to the counters unless, with ``check``, one is exhausted: ``(refused, values)``
        (``refused``: 1-based index of the exhausted counter, else 0); ``None`` when Redis failed."""
        now = self.clock()
        if now < self.down_until:
            return None
        args: list[str | int] = [weight, 1 if check else 0]
        for limit, end in zip(step.limits, step.ends, strict=True):
            args += [limit.amount, end * 1000]
        try:
            async with asyncio.timeout(TIMEOUT), self._slots:
                result = await self._script(keys=step.keys, args=args)
            return int(result[0]), [int(v) for v in result[1:]]
        except (ResponseError, ValueError, TypeError, IndexError) as exc:
            # the script refused this step (or answered oddly): this request's trouble, not Redis down
            if not self._bad_step_logged:
                self._bad_step_logged = True
                log.warning("quota %s: a step failed (%s); later failures are not logged", self.options.name, exc)
            return None
        except (RedisError, OSError, TimeoutError) as exc:
            failed_at = self.clock()
            if failed_at >= self.down_until:  # once per cooldown, not once per request in flight
                action = "allowing" if self.options.on_failure_allow else "refusing"
                log.warning(
                    "quota %s: Redis unavailable (%s); %s for %.1fs",
                    self.options.name,
                    type(exc).__name__,
                    action,
                    COOLDOWN,
                )
            self.down_until = failed_at + COOLDOWN
            return None
