"""KrakenD's sampling rule (its own Python module: the OpenCensus sampler subclasses it, and a class
compiled by mypyc, as :mod:`krakenpy.telemetry.trace.context` is, cannot have interpreted subclasses)."""

from __future__ import annotations

__all__ = ["Sampler"]


class Sampler:
    """KrakenD's rule: a rate strictly between 0 and 1 is parent-based trace-id ratio, anything
    else samples every request (krakend-otel: rate 0 too)."""

    __slots__ = ("_bound", "rate", "ratio")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.ratio = 0.0 < rate < 1.0
        # only a ratio needs the bound: any other rate (1e308 too) samples everything, as in KrakenD
        self._bound = int(rate * (1 << 64)) if self.ratio else 0

    @property
    def bound(self) -> int:
        """The ratio's bound on a trace id's low 64 bits (0 when every request is sampled)."""
        return self._bound

    def sample(self, trace_id: str, parent_sampled: bool | None) -> bool:
        if not self.ratio:
            return True
        if parent_sampled is not None:
            return parent_sampled
        return int(trace_id[16:], 16) < self._bound
