"""``python -m bench.concurrent``: a pair's ratios from what the two loads and the two gateways' CPU
read, the CPU reading of real threads, and the report (no load is run)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

from bench.concurrent import Pair, _report, _Row, on_cpu_ns
from bench.loadgen import WrkResult


def _res(requests: int, seconds: float = 5.0) -> WrkResult:
    return WrkResult(requests=requests, seconds=seconds, rps=requests / seconds, p50_ms=1.0, p99_ms=2.0,
                     timeouts=0, errors=0)  # fmt: skip


def test_cost_ratio_is_the_baselines_cpu_per_request_over_the_rows() -> None:
    # the row served 9,000 requests in 2.5 s of CPU, the baseline 10,000 in 2.5 s: 0.25 ms against
    # 0.2778 ms a request, so the row runs at 90 % of the baseline's rps at the same CPU
    pair = Pair(_res(10_000), _res(9_000), 2_500_000_000, 2_500_000_000)
    assert math.isclose(pair.cost_ratio, 0.9)
    assert math.isclose(pair.rps_ratio, 0.9)
    assert math.isclose(pair.share, 0.5)
    # an uneven split: the rps ratio follows the CPU each got, the cost ratio does not
    uneven = Pair(_res(10_000), _res(12_000), 2_000_000_000, 3_000_000_000)
    assert math.isclose(uneven.cost_ratio, (2.0 / 10_000) / (3.0 / 12_000))
    assert math.isclose(uneven.rps_ratio, 1.2)
    assert math.isclose(uneven.share, 0.6)


def test_a_pair_without_requests_or_cpu_is_not_a_number() -> None:
    assert math.isnan(Pair(_res(10), _res(0), 0, 0).cost_ratio)
    assert math.isnan(Pair(_res(0), _res(10), 0, 0).rps_ratio)
    assert math.isnan(Pair(_res(10), _res(10), 0, 0).share)


def test_on_cpu_ns_counts_every_thread_of_the_processes_and_skips_gone_ones() -> None:
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        # the child's 0.3 s of busy loop (and its start-up), then nothing while it sleeps
        deadline = time.monotonic() + 20.0
        while on_cpu_ns([child.pid]) < 0.3e9 and time.monotonic() < deadline:
            time.sleep(0.05)
        spent = on_cpu_ns([child.pid])
        time.sleep(0.3)
        assert 0.3e9 <= spent < 2.0e9, spent
        assert on_cpu_ns([child.pid]) - spent < 0.05e9  # asleep: no more CPU counted
        assert on_cpu_ns([os.getpid()]) > 0
    finally:
        child.kill()
        child.wait()
    assert on_cpu_ns([child.pid]) == 0  # reaped: nothing to read


def test_report_prints_the_median_cost_and_the_spread_per_row() -> None:
    row = _Row("t-log", "http://127.0.0.1:18091/p1")
    for requests in (9_300, 9_400, 9_500):
        row.pairs.append(Pair(_res(10_000), _res(requests), 2_500_000_000, 2_500_000_000))
    text = _report([row, _Row("t-none", "http://127.0.0.1:18092/p1")])
    assert "| t-log | 3 | **94.0 %** | 93.0–95.0 % | 94.0 % | 50.0 % |" in text
    assert "t-none" not in text  # a row without pairs is left out
