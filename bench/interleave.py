"""Interleaved pairs (``python -m bench --interleave N``): a row and its baseline in alternating short
slices, A B A B ... A, each B's rps divided by the mean of the two A slices around it.

On this shared VM one server's rps moved by ±20 % between runs minutes apart (bench/README, runs 10 and
11), more than the 5 % budgets the T pairs judge. Within a few seconds the drift is close to linear, and
a B slice compared with the mean of its two neighbours cancels the linear part; the median of the N
per-slice ratios drops the slices that a burst of other work hit, and their spread says how far one
ratio can be trusted.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.loadgen import WrkResult

__all__ = ["PairStats", "bracketed_cpu", "bracketed_ratios", "interleave", "pair_stats"]


def _check(a: Sequence[WrkResult], b: Sequence[WrkResult]) -> None:
    if len(a) != len(b) + 1:
        raise ValueError(f"interleaved slices need one more A than B (A B ... A): {len(a)} A, {len(b)} B")


def bracketed_ratios(a: Sequence[WrkResult], b: Sequence[WrkResult]) -> list[float]:
    """``b[i].rps`` ÷ the mean of ``a[i].rps`` and ``a[i + 1].rps``, the A slices just before and after."""
    _check(a, b)
    out = []
    for i, row in enumerate(b):
        base = (a[i].rps + a[i + 1].rps) / 2
        if base > 0:
            out.append(row.rps / base)
    return out


def bracketed_cpu(a: Sequence[WrkResult], b: Sequence[WrkResult]) -> list[float]:
    """CPU µs per request that ``b[i]`` adds over the mean of its two A neighbours (slices with the SUT's
    CPU measured on all three)."""
    _check(a, b)
    out = []
    for i, row in enumerate(b):
        before, after = a[i].cpu_us_per_req, a[i + 1].cpu_us_per_req
        if row.cpu_us_per_req is not None and before is not None and after is not None:
            out.append(row.cpu_us_per_req - (before + after) / 2)
    return out


@dataclass(frozen=True, slots=True)
class PairStats:
    slices: int
    #: B ÷ A per slice, in slice order
    ratios: tuple[float, ...]
    median: float
    #: the middle half of the ratios (quartiles, ``statistics.quantiles``' inclusive method: within the
    #: extremes even for a few slices, where the exclusive one extrapolates past them) and their extremes
    q1: float
    q3: float
    low: float
    high: float
    #: median CPU µs per request B adds over A (None without CPU figures)
    cpu_extra: float | None

    @property
    def cost(self) -> float:
        """B's rps loss against A (0.05 = 5 % fewer), from the median ratio."""
        return 1 - self.median


def pair_stats(a: Sequence[WrkResult], b: Sequence[WrkResult]) -> PairStats:
    """The median of the bracketed ratios and their spread."""
    ratios = bracketed_ratios(a, b)
    if not ratios:
        raise ValueError("no slice with a measured baseline")
    if len(ratios) >= 2:
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    else:
        q1 = q3 = ratios[0]
    cpu = bracketed_cpu(a, b)
    return PairStats(
        slices=len(ratios),
        ratios=tuple(ratios),
        median=statistics.median(ratios),
        q1=q1,
        q3=q3,
        low=min(ratios),
        high=max(ratios),
        cpu_extra=statistics.median(cpu) if cpu else None,
    )


def interleave(
    measure_a: Callable[[], WrkResult], measure_b: Callable[[], WrkResult], slices: int
) -> tuple[list[WrkResult], list[WrkResult]]:
    """Run A, then ``slices`` times B and A: ``slices + 1`` A slices and ``slices`` B slices."""
    if slices < 1:
        raise ValueError("at least one slice")
    a = [measure_a()]
    b: list[WrkResult] = []
    for _ in range(slices):
        b.append(measure_b())
        a.append(measure_a())
    return a, b
