"""``python -m bench.concurrent --perf``'s time profile: ``perf report``'s lines read, each thread's
samples to its gateway, weighed to the CPU time the pair measured, as µs per request; and one real
recording of a busy child process where ``perf`` can record here."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.concurrent import threads_of
from bench.timeprofile import Profile, parse_report, record, report_samples

_REPORT = """\
# To display the perf.data header info, please use --header/--header-only options.
#
# Samples  |  Pid:Command  |  Shared Object  |  Symbol
#
 300        |   101:python |libpython3.11.so.1.0       |[.] _PyObject_Malloc
 100        |   101:python |[kernel.kallsyms]          |[k] tcp_sendmsg_locked
 500        |   202:python |libpython3.11.so.1.0       |[.] _PyObject_Malloc
 200        |   203:python |hot__mypyc.cpython-311.so  |[.] CPyDef_edge___visit
 300        |   202:python |[kernel.kallsyms]          |[k] tcp_sendmsg_locked
 7          |   999:wrk    |wrk                        |[.] main
not a line | of the table
 x          |   101:python |libc.so.6                  |[.] malloc
"""


def test_parse_report_reads_thread_dso_symbol_and_samples() -> None:
    rows = list(parse_report(_REPORT))
    assert rows[0] == (101, "libpython3.11.so.1.0", "_PyObject_Malloc", 300)
    assert rows[1] == (101, "[kernel.kallsyms]", "tcp_sendmsg_locked", 100)
    assert (203, "hot__mypyc.cpython-311.so", "CPyDef_edge___visit", 200) in rows
    assert len(rows) == 6  # comments, a line of another shape and a count that is no number skipped


def test_profile_weighs_each_sides_samples_to_its_cpu_time_per_request() -> None:
    profile = Profile()
    threads = {101: "base", 202: "row", 203: "row"}  # 999 (the load) belongs to neither
    # base: 400 samples for 4 ms of CPU, 100 requests -> 40 µs a request; row: 1,000 samples for
    # 6 ms, 100 requests -> 60 µs a request
    profile.add(_REPORT, threads, {"base": 4_000_000, "row": 6_000_000}, {"base": 100, "row": 100})
    assert math.isclose(profile.total("base"), 40.0)
    assert math.isclose(profile.total("row"), 60.0)
    malloc = ("libpython3.11.so.1.0", "_PyObject_Malloc")
    assert math.isclose(profile.per_request("base", malloc), 30.0)  # 300 of 400 samples
    assert math.isclose(profile.per_request("row", malloc), 30.0)  # 500 of 1,000
    assert math.isclose(profile.per_request("row", ("[kernel.kallsyms]", "")), 18.0)  # a whole dso
    assert profile.per_request("base", ("hot__mypyc.cpython-311.so", "CPyDef_edge___visit")) == 0.0
    # a second pair adds to both the time and the requests
    profile.add(_REPORT, threads, {"base": 4_000_000, "row": 6_000_000}, {"base": 300, "row": 100})
    assert math.isclose(profile.total("base"), 8_000 / 400)
    assert math.isclose(profile.total("row"), 60.0)
    table = profile.table("t-x", top=3)
    assert "| all | 20.00 | 60.00 | **+40.00** |" in table
    assert "| `CPyDef_edge___visit` (hot__mypyc.cpython-311.so) | 0.00 | 12.00 | +12.00 |" in table
    assert "wrk" not in table
    # another base named in every header
    other = profile.table("t-log", top=2, base="t-log-noid")
    assert "t-log against t-log-noid" in other
    assert "| function (shared object) | t-log-noid | row | row − t-log-noid |" in other
    assert "| where | t-log-noid | row | row − t-log-noid |" in other


def test_profile_without_requests_or_samples_is_not_a_number() -> None:
    profile = Profile()
    assert math.isnan(profile.total("row"))
    profile.add("", {}, {"base": 1, "row": 1}, {"base": 10, "row": 10})  # no samples: nothing counted
    assert math.isnan(profile.per_request("base", ("libc.so.6", "")))


def _perf_records() -> bool:
    if shutil.which("perf") is None:
        return False
    done = subprocess.run(
        ["perf", "record", "-q", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"], capture_output=True
    )
    return done.returncode == 0


@pytest.mark.skipif(not _perf_records(), reason="perf cannot record here (not installed, or not permitted)")
def test_a_real_recording_of_a_busy_child(tmp_path: Path) -> None:
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: sum(range(1000))\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        time.sleep(0.2)
        threads = {tid: "row" for tid in threads_of([child.pid])}
        assert threads == {child.pid: "row"}
        data = tmp_path / "perf.data"
        perf = record([child.pid], 1.0, data)
        _, err = perf.communicate(timeout=60)
        assert perf.returncode == 0, err
        profile = Profile()
        profile.add(report_samples(data), threads, {"base": 0, "row": 400_000_000}, {"base": 0, "row": 1})
        # the busy loop ran in the interpreter: its samples are mostly libpython's
        python = sum(ns for (dso, _), ns in profile.ns["row"].items() if "python" in dso)
        assert python > 0.5 * sum(profile.ns["row"].values())
        assert math.isclose(profile.total("row"), 400_000.0)  # weighed to the CPU time given
    finally:
        child.kill()
        child.wait()
