"""A time profile of two gateways loaded together (``python -m bench.concurrent --perf``): where a row's
extra CPU time per request goes, by shared object and by function, in microseconds.

The instruction counts (``bench.instructions``, callgrind) weigh every instruction alike; on the VMs
this project runs on, the telemetry rows cost more CPU time than their instructions predict (round 26:
the traces row 24 % of the CPU for 15 % of the instructions), and these VMs expose no PMU to count
cycles or cache misses. ``perf record -e cpu-clock`` needs none: a software timer samples whatever is
on the CPU, user and kernel, so a function's samples weigh its *time*, cache misses and system calls
included. Each pair of ``bench.concurrent`` is recorded (both gateways' process trees, a little longer
than the loads); each gateway's samples are weighed to the CPU time the pair measured for it
(schedstat), so a function's share of the samples becomes µs of CPU per request of its gateway, summed
over all pairs; the row's minus the baseline's is what the row adds there.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FREQUENCY", "Profile", "parse_report", "record", "report_samples"]

#: samples a second of CPU time (a prime, off the kernel's tick)
FREQUENCY = 997


def record(pids: Sequence[int], seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """``perf record`` of ``pids`` (every thread, user and kernel) for ``seconds``; wait on the result."""
    argv = ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY), "-p", ",".join(map(str, pids))]
    argv += ["-o", str(out), "--", "sleep", f"{seconds:g}"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def report_samples(data: Path) -> str:
    """Samples by thread, shared object and symbol of one recording, as ``perf report`` lists them."""
    argv = ["perf", "report", "-i", str(data), "--no-children", "-g", "none", "--stdio", "-t", "|"]
    argv += ["-F", "sample,pid,dso,sym"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    return done.stdout


def parse_report(text: str) -> Iterable[tuple[int, str, str, int]]:
    """(thread id, shared object, symbol, samples) of each line of :func:`report_samples`'s text."""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|", 3)]
        if len(parts) != 4:
            continue
        samples, thread, dso, sym = parts
        try:
            n, tid = int(samples), int(thread.split(":", 1)[0])
        except ValueError:
            continue
        yield tid, dso, sym.removeprefix("[.] ").removeprefix("[k] "), n


@dataclass
class Profile:
    """CPU time and requests of the baseline and of a row, summed over their pairs."""

    #: ns of CPU by side ("base", "row") and (shared object, symbol)
    ns: dict[str, dict[tuple[str, str], float]] = field(default_factory=lambda: {"base": {}, "row": {}})
    requests: dict[str, int] = field(default_factory=lambda: {"base": 0, "row": 0})

    def add(self, text: str, threads: dict[int, str], cpu_ns: dict[str, int], requests: dict[str, int]) -> None:
        """One pair's report: each thread's samples to its side (threads of neither side ignored), a
        side's samples weighed so that they sum to its measured CPU time (``cpu_ns``: schedstat's, the
        pair's own reading; the recording starts a little before the loads and ends a little after)."""
        counts: dict[str, dict[tuple[str, str], int]] = {"base": {}, "row": {}}
        for tid, dso, sym, n in parse_report(text):
            side = threads.get(tid)
            if side is not None:
                counts[side][(dso, sym)] = counts[side].get((dso, sym), 0) + n
        for side, got in counts.items():
            total = sum(got.values())
            if not total:
                continue
            weight = cpu_ns[side] / total
            into = self.ns[side]
            for key, n in got.items():
                into[key] = into.get(key, 0.0) + n * weight
            self.requests[side] += requests[side]

    def per_request(self, side: str, key: tuple[str, str]) -> float:
        """µs of CPU a request of ``side`` spent in ``key`` (a (dso, symbol), or (dso, "") for a whole dso)."""
        requests = self.requests[side]
        if not requests:
            return float("nan")
        dso, sym = key
        got = self.ns[side]
        ns = sum(v for (d, _), v in got.items() if d == dso) if not sym else got.get(key, 0.0)
        return ns / requests / 1e3

    def total(self, side: str) -> float:
        requests = self.requests[side]
        return sum(self.ns[side].values()) / requests / 1e3 if requests else float("nan")

    def table(self, name: str, top: int = 30, base: str = "t-off") -> str:
        """The row's µs per request against the baseline's: in all, by shared object, and the ``top``
        functions by what the row adds (and the few it saves)."""
        dsos = {d for side in self.ns.values() for d, _ in side}
        keys = {k for side in self.ns.values() for k in side}
        lines = [
            f"time profile, {name} against {base} (perf cpu-clock, {FREQUENCY} Hz; µs of CPU per request, "
            f"{self.requests['row']} and {self.requests['base']} requests)",
            "",
            f"| where | {base} | row | row − {base} |",
            "|---|--:|--:|--:|",
            f"| all | {self.total('base'):.2f} | {self.total('row'):.2f} | "
            f"**{self.total('row') - self.total('base'):+.2f}** |",
        ]
        by_dso = sorted(dsos, key=lambda d: self.per_request("base", (d, "")) - self.per_request("row", (d, "")))
        for dso in by_dso:
            was, now = self.per_request("base", (dso, "")), self.per_request("row", (dso, ""))
            if abs(now - was) >= 0.05 or max(now, was) >= 0.5:
                lines.append(f"| {dso} | {was:.2f} | {now:.2f} | {now - was:+.2f} |")
        deltas = sorted(((self.per_request("row", k) - self.per_request("base", k), k) for k in keys), reverse=True)
        lines += ["", f"| function (shared object) | {base} | row | row − {base} |", "|---|--:|--:|--:|"]
        shown = deltas[:top] + [d for d in deltas[-5:] if d[0] < 0 and d not in deltas[:top]]
        for delta, (dso, sym) in shown:
            was, now = self.per_request("base", (dso, sym)), self.per_request("row", (dso, sym))
            lines.append(f"| `{sym[:70]}` ({dso}) | {was:.2f} | {now:.2f} | {delta:+.2f} |")
        return "\n".join(lines)
