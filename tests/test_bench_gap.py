"""``python -m bench.gap``: its readers of /proc, perf and strace, and its client against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bench.gap import Counters, parse_perf, parse_strace, read_counters, run_client
from bench.procs import CLK_TCK
from tests.threaded_app import Served

STRACE = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 46.23    0.004245           1      8000           write
 19.43    0.001103           0      8010        12 read
  5.28    0.000028          28       172           epoll_pwait
  2.26    0.000012          12         1           getpid
------ ----------- ----------- --------- --------- ----------------
100.00    0.005388           0     16183        12 total
"""

PERF = """\
16410,,raw_syscalls:sys_enter,1118274,100.00,,
168,,context-switches,1118274,100.00,,
<not counted>,,syscalls:sys_enter_epoll_wait,0,100.00,,
"""


def test_strace_summary() -> None:
    assert parse_strace(STRACE) == {"write": 8000, "read": 8010, "epoll_pwait": 172, "getpid": 1}


def test_perf_stat_csv() -> None:
    assert parse_perf(PERF) == {"raw_syscalls:sys_enter": 16410.0, "context-switches": 168.0}


def _proc(root: Path, pid: int, utime: int, stime: int, minflt: int, tasks: dict[int, tuple[int, int, int]]) -> None:
    d = root / str(pid)
    (d / "task").mkdir(parents=True)
    # the command name holds a space and a parenthesis: fields are split after the last ")"
    (d / "stat").write_text(
        f"{pid} (py (x) y) S 1 {pid} {pid} 0 -1 4194304 {minflt} 0 0 0 {utime} {stime} 0 0 20 0 2\n"
    )
    (d / "io").write_text("rchar: 10\nwchar: 20\nsyscr: 300\nsyscw: 200\nread_bytes: 0\n")
    for tid, (vol, invol, ns) in tasks.items():
        (d / "task" / str(tid)).mkdir()
        (d / "task" / str(tid) / "status").write_text(
            f"Name:\tpy\nvoluntary_ctxt_switches:\t{vol}\nnonvoluntary_ctxt_switches:\t{invol}\n"
        )
        (d / "task" / str(tid) / "schedstat").write_text(f"{ns} 5 7\n")


def test_counters_of_a_tree_and_their_difference(tmp_path: Path) -> None:
    _proc(tmp_path, 10, 2 * CLK_TCK, CLK_TCK, 40, {10: (3, 4, 1_000_000_000)})
    _proc(tmp_path, 11, CLK_TCK, 0, 2, {11: (5, 6, 500_000_000), 12: (1, 1, 250_000_000)})
    got = read_counters([10, 11, 99], proc=tmp_path)  # 99: gone, left out
    assert got == Counters(3.0, 1.0, 9, 11, 600, 400, 1.75, 3, 42)
    later = Counters(4.0, 1.5, 10, 11, 700, 450, 2.0, 3, 50)
    assert later - got == Counters(1.0, 0.5, 1, 0, 100, 50, pytest.approx(0.25), 3, 8)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[tuple[int, list[object]]]:
    """A real aiohttp server on 127.0.0.1 in a thread; the list holds each request's client address."""
    seen: list[object] = []

    async def handle(request: web.Request) -> web.Response:
        assert request.transport is not None
        seen.append(request.transport.get_extra_info("peername"))
        return web.json_response({"id": 1})

    def app() -> web.Application:
        made = web.Application()
        made.router.add_get("/p1", handle)
        return made

    with Served(app) as served:
        yield served.port, seen


def test_client_sends_exactly_n_on_kept_connections(server: tuple[int, list[object]]) -> None:
    port, seen = server
    run_client(port, 257, 8)
    assert len(seen) == 257
    assert len(set(seen)) == 8  # one connection each, kept alive
