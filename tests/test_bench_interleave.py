"""``python -m bench --interleave N``: the slice order, the bracketed ratios and their summary, on canned
wrk reports (no load is run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report
from bench.interleave import bracketed_cpu, bracketed_ratios, interleave, pair_stats
from bench.loadgen import WrkResult, parse_wrk
from bench.scenarios import Case, Row, Settings, _interleave


def _wrk(rps: float, seconds: float = 1.0) -> str:
    """A wrk ``--latency`` report as wrk 4.2 prints it."""
    requests = round(rps * seconds)
    return f"""Running 1s test @ http://127.0.0.1:18090/p1
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms  512.00us  12.40ms   88.12%
    Req/Sec    {rps / 1000:.2f}k   310.11    15.90k    70.00%
  Latency Distribution
     50%    3.05ms
     75%    3.30ms
     90%    3.60ms
     99%    5.20ms
  {requests} requests in {seconds:.2f}s, 2.91MB read
Requests/sec:  {rps:.2f}
Transfer/sec:      2.85MB
"""


def _slice(rps: float, cpu: float | None = None) -> WrkResult:
    res = parse_wrk(_wrk(rps))
    assert res.rps == pytest.approx(rps)
    if cpu is None:
        return res
    return WrkResult(res.requests, res.seconds, res.rps, res.p50_ms, res.p99_ms, 0, 0, cpu_us_per_req=cpu)


def test_slices_alternate_a_b_and_end_on_a() -> None:
    order: list[str] = []

    def a() -> WrkResult:
        order.append("A")
        return _slice(10_000)

    def b() -> WrkResult:
        order.append("B")
        return _slice(9_000)

    got_a, got_b = interleave(a, b, 4)
    assert order == ["A", "B", "A", "B", "A", "B", "A", "B", "A"]
    assert (len(got_a), len(got_b)) == (5, 4)
    with pytest.raises(ValueError):
        interleave(a, b, 0)


def test_linear_drift_cancels_where_the_slice_before_does_not() -> None:
    # the VM speeds up 4 % a slice; B is truly 90 % of A at every instant (slices at t = 0, 1, 2, ...)
    speed = [1 + 0.04 * t for t in range(11)]
    a = [_slice(10_000 * speed[t]) for t in range(0, 11, 2)]
    b = [_slice(9_000 * speed[t]) for t in range(1, 11, 2)]
    ratios = bracketed_ratios(a, b)
    assert ratios == pytest.approx([0.9] * 5, rel=1e-3)
    before_only = [y.rps / x.rps for x, y in zip(a, b, strict=False)]
    assert min(before_only) > 0.92  # the slice just before alone reads the drift as a smaller cost
    stats = pair_stats(a, b)
    assert stats.median == pytest.approx(0.9, rel=1e-3)
    assert stats.cost == pytest.approx(0.1, abs=1e-3)
    assert stats.slices == 5


def test_median_and_spread_drop_a_disturbed_slice() -> None:
    a = [_slice(x) for x in (10_000, 10_000, 10_000, 10_000, 10_000, 10_000)]
    b = [_slice(x) for x in (9_500, 9_600, 5_000, 9_400, 9_500)]  # a burst of other work in the third
    stats = pair_stats(a, b)
    assert stats.median == pytest.approx(0.95)
    assert stats.low == pytest.approx(0.5)
    assert stats.high == pytest.approx(0.96)
    # the middle half of 0.50, 0.94, 0.95, 0.95, 0.96 (inclusive quartiles: the disturbed slice stays out)
    assert stats.q1 == pytest.approx(0.94)
    assert stats.q3 == pytest.approx(0.95)
    assert stats.ratios == pytest.approx((0.95, 0.96, 0.5, 0.94, 0.95))


def test_cpu_extra_against_both_neighbours() -> None:
    a = [_slice(10_000, 50.0), _slice(10_000, 54.0), _slice(10_000, 52.0)]
    b = [_slice(9_000, 60.0), _slice(9_000, 61.0)]
    assert bracketed_cpu(a, b) == pytest.approx([8.0, 8.0])
    assert pair_stats(a, b).cpu_extra == pytest.approx(8.0)
    no_cpu = [_slice(10_000), _slice(10_000), _slice(10_000)]
    assert pair_stats(no_cpu, b).cpu_extra is None


def test_slices_must_bracket() -> None:
    with pytest.raises(ValueError):
        bracketed_ratios([_slice(1), _slice(1)], [_slice(1), _slice(1)])


def test_a_row_measured_as_slices_and_reported(tmp_path: Path) -> None:
    off = Row(Case("T", "krakenpy [fast, telemetry off]", "kp-t-off", "/p1", "small"))
    log = Row(Case("T", "krakenpy [fast, access log]", "kp-t-log", "/p1", "small", baseline=off.case.key))
    canned = {
        "kp-t-off": iter([20_000, 10_000, 10_400, 10_800, 11_200]),
        "kp-t-log": iter([19_000, 9_690, 10_290, 10_670]),
    }
    calls: list[tuple[str, int, float]] = []

    def measure(row: Row, run: int, seconds: float) -> WrkResult:
        calls.append((row.case.target, run, seconds))
        return _slice(next(canned[row.case.target]))

    settings = Settings(1, 4.0, 1.0, ("fast",), "fast", frozenset({"T"}), slices=3, slice_seconds=1.0)
    _interleave(log, off, measure, settings)
    # both warmed up (run 0, dropped), then A B A B A B A, every slice 1 s
    assert [c[0][5:] for c in calls] == ["off", "log", "off", "log", "off", "log", "off", "log", "off"]
    assert [c[1] for c in calls] == [0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert {c[2] for c in calls} == {1.0}
    assert [r.rps for r in log.interleaved] == [10_000, 10_400, 10_800, 11_200]
    assert [r.rps for r in log.runs] == [9_690, 10_290, 10_670]
    # 9,690 / 10,200, 10,290 / 10,600, 10,670 / 11,000: 95.0 %, 97.08 %, 97.0 %
    assert report._share(log, off) == pytest.approx(10_670 / 11_000)
    text = "\n".join(report._interleaved([off, log]))
    assert "## Interleaved pairs" in text
    assert "| T krakenpy [fast, access log] | 3 | 97.0 % | " in text
    assert "96.0–97.0 %" in text  # quartiles of 95.0, 97.0, 97.08
    assert "95.0–97.1 %" in text
