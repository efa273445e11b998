"""Workers that keep their live connections even (``krakenpy/server/balance.py``): the share
arithmetic, the accept queue's length from ``TCP_INFO``, the acceptor leaving connections to a worker
below its share and taking them itself when nobody does, and ``krakenpy run -w 2`` in a subprocess
splitting bursts of 50 keep-alive connections evenly, counted per worker in ``/proc``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVarTuple

import pytest
import uvloop

from bench.balance import deviation, established, open_burst, spawn
from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.server import acceptor as acceptor_module
from krakenpy.server.acceptor import Acceptor
from krakenpy.server.balance import RECHECK, STUCK, Shares, queued
from krakenpy.server.limits import ServerLimits
from krakenpy.server.protocol import GatewayServer
from tests.conftest import free_port
from tests.server.process import Gateway, wait_http, write_json


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def test_queued_reads_the_accept_queue_length() -> None:
    with _listener() as listener:
        port = listener.getsockname()[1]
        assert queued(listener) == 0
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            deadline = time.monotonic() + 5
            while queued(listener) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert queued(listener) == 3
            listener.accept()[0].close()
            assert queued(listener) == 2
        finally:
            for client in clients:
                client.close()


def test_a_burst_is_split_evenly_and_the_remainder_one_at_a_time() -> None:
    shares = Shares(4)
    workers = [shares.share(i) for i in range(4)]
    for share in workers:
        share.join()
    first = workers[0]
    assert first.quota(50) == 12  # 50 // 4: the rest is the remainder
    for _ in range(12):
        first.accepted()
    assert first.quota(38) == 0  # at its share: the same wake-up gave the others theirs
    for share in workers[1:]:
        take = share.quota(50 - sum(s.live for s in workers))
        for _ in range(take):
            share.accepted()
    assert [s.live for s in workers] == [12, 12, 12, 12]
    # two left: one each to the least loaded, the one that accepted fewer first (all equal: each takes one)
    assert [s.quota(2) for s in workers] == [1, 1, 1, 1]
    workers[2].accepted()
    assert workers[2].quota(1) == 0
    assert workers[3].quota(1) == 1
    shares.close()


def test_equal_workers_alternate_short_connections() -> None:
    """Connections that close before the next arrives: live counts tie at 0, the accepted totals decide."""
    shares = Shares(2)
    a, b = shares.share(0), shares.share(1)
    a.join()
    b.join()
    assert a.quota(1) == b.quota(1) == 1  # nothing to tell them apart: either may take it
    taken: list[bool] = []
    for _ in range(6):
        takers = [s for s in (a, b) if s.quota(1)]
        assert len(takers) == (2 if len(taken) % 2 == 0 else 1)  # both after a pair, else the one behind
        who = takers[0]
        who.accepted()
        who.closed()
        taken.append(who is a)
    assert taken == [True, False] * 3
    shares.close()


def test_absent_workers_do_not_count() -> None:
    shares = Shares(3)
    a, b = shares.share(0), shares.share(1)
    a.join()
    assert a.quota(10) == 10  # the others have not started: all of it
    b.join()
    assert a.quota(10) == 5
    b.accepted()
    b.leave()  # draining
    b.closed()  # its last connections close: it stays out
    assert a.quota(10) == 10
    for _ in range(4):
        b.accepted()  # a replacement that joins again counts again
    b.join()
    assert a.quota(10) == 7
    shares.retire(1)  # what the supervisor does for a worker that died
    assert a.quota(10) == 10
    shares.close()


async def _hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(body=b"hi")


def _run_acceptor(over_share: bool, stalled: bool) -> tuple[int, float]:
    """One worker's acceptor (slot 0 of 2) with a connection queued; the other slot has
    ``live`` connections and takes nothing. Returns the connections slot 0 accepted and when."""
    listener = _listener()
    port = listener.getsockname()[1]
    shares = Shares(2)
    other = shares.share(1)
    other.join()
    mine = shares.share(0)
    mine.join()
    for _ in range(3 if over_share else 0):
        mine.accepted()
    client = socket.create_connection(("127.0.0.1", port))

    async def main() -> tuple[int, float]:
        server = GatewayServer(_hello, limits=ServerLimits())
        server.share = mine
        before = mine.live
        started = time.monotonic()
        acceptor = Acceptor(asyncio.get_running_loop(), server, listener, backlog=128, share=mine).start()
        took_at = 0.0
        deadline = started + 2
        while time.monotonic() < deadline:
            if not stalled and queued(listener) and time.monotonic() - started > 5 * RECHECK:
                listener.accept()[0].close()  # the other worker takes it
                other.accepted()
            if mine.live > before and not took_at:
                took_at = time.monotonic() - started
            await asyncio.sleep(0.001)
        acceptor.close()
        accepted = mine.live - before  # before closing them
        await server.drain(0.1)
        return accepted, took_at

    try:
        return uvloop.run(main())
    finally:
        client.close()
        listener.close()
        shares.close()


#: the fallback's delay in the two tests below: longer than they run. The other worker is this test's
#: own loop (it takes the connection 5 RECHECK in): a loop turn held longer than STUCK (20 ms: a loaded
#: host, a gen-2 collection) held that worker with it, and the acceptor, due as well, took the
#: connection as stuck (1 of 40 runs at load 8); and "at once" was measured against those 20 ms (2 of 40)
_NEVER_STUCK = 60.0


def test_a_worker_over_its_share_leaves_a_connection_to_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acceptor_module, "STUCK", _NEVER_STUCK)
    accepted, _ = _run_acceptor(over_share=True, stalled=False)
    assert accepted == 0


def test_a_connection_nobody_takes_is_taken_after_the_stuck_delay() -> None:
    accepted, took_at = _run_acceptor(over_share=True, stalled=True)
    assert accepted == 1
    assert STUCK <= took_at < STUCK + 0.5


def test_a_worker_below_its_share_takes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acceptor_module, "STUCK", _NEVER_STUCK)
    accepted, took_at = _run_acceptor(over_share=False, stalled=True)
    assert accepted == 1  # within the 2 s the acceptor runs: not the fallback's, nobody else takes it
    assert 0 < took_at < 2


# -- the CLI ----------------------------------------------------------------------------------------

BURSTS = 8
CONNECTIONS = 50


def _start(tmp_path: Path, workers: int) -> tuple[Gateway, int, list[int]]:
    port = free_port()
    config = write_json(tmp_path / "krakend.json", {"version": 3, "port": port, "endpoints": []})
    gateway = Gateway(config, "-w", str(workers), cwd=tmp_path)
    pids = gateway.worker_pids(workers)
    wait_http(f"http://127.0.0.1:{port}/__health")
    return gateway, port, [pids[slot] for slot in sorted(pids)]


def _burst(pids: list[int], port: int) -> list[int]:
    async def run() -> list[int]:
        writers = await open_burst(port, CONNECTIONS)
        counts = established(pids, port)
        for writer in writers:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
        deadline = time.monotonic() + 5
        while sum(established(pids, port)) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return counts

    return asyncio.run(run())


def test_two_workers_split_bursts_of_keepalive_connections_evenly(tmp_path: Path) -> None:
    """P6: each worker within ±15 % of an even share, in all but at most one of 8 bursts of 50. The
    kernel's hash over per-worker SO_REUSEPORT sockets (the design before) splits a burst like 50 coin
    tosses: outside ±15 % 8 of 20 bursts measured, so it passes this ~11 % of runs (1 - 0.6**8 -
    8 * 0.4 * 0.6**7). The one burst allowed is for a loaded machine: a worker descheduled for the
    acceptor's STUCK seconds hands a whole burst to the other by design (a [37, 13] burst was seen once,
    under a fuzz run on both cores)."""
    gateway, port, pids = _start(tmp_path, 2)
    try:
        splits = [_burst(pids, port) for _ in range(BURSTS)]
    finally:
        assert gateway.stop() == 0
    assert all(sum(s) == CONNECTIONS for s in splits), splits
    assert sum(deviation(s) > 15.0 for s in splits) <= 1, splits


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_a_stopped_worker_does_not_hold_connections_back(tmp_path: Path) -> None:
    """A worker that cannot run (SIGSTOP: as a loop turn that never ends) leaves nothing stranded: the
    other takes the connections once nobody took them for STUCK seconds. With a socket per worker,
    the kernel queued about half of them on the stopped worker's, unanswered until it ran again."""
    gateway, port, pids = _start(tmp_path, 2)
    try:
        os.kill(pids[1], signal.SIGSTOP)
        try:
            started = time.monotonic()
            writers = asyncio.run(_open_and_close(port, 20))
            elapsed = time.monotonic() - started
        finally:
            os.kill(pids[1], signal.SIGCONT)
        assert writers == 20
        assert elapsed < 5.0
    finally:
        assert gateway.stop() == 0


async def _open_and_close(port: int, n: int) -> int:
    writers = await asyncio.wait_for(open_burst(port, n), 10)
    for writer in writers:
        writer.close()
    return len(writers)


def test_the_bench_runs_the_tree_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench.balance --tree`` started from a checkout ran that checkout's krakenpy (``python -m``
    puts the working directory ahead of PYTHONPATH): the gateway must come from ``--tree``."""
    tree = tmp_path / "tree"
    (tree / "krakenpy").mkdir(parents=True)
    (tree / "krakenpy" / "__init__.py").write_text("")
    (tree / "krakenpy" / "__main__.py").write_text("print('the other tree')\n")
    (tmp_path / "run").mkdir()
    config = write_json(tmp_path / "run" / "krakend.json", {"version": 3, "port": free_port(), "endpoints": []})
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # this checkout, with its own krakenpy
    proc = spawn(str(tree), config, 1, "asyncio")
    try:
        out, _ = proc.communicate(timeout=15)  # the real gateway (the bug) would not exit
    finally:
        proc.kill()
    assert out.strip() == "the other tree", out[-500:]


if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

_Ts = TypeVarTuple("_Ts")


class _CountingLoop(asyncio.SelectorEventLoop):
    """asyncio's loop, counting how often a descriptor is added to or removed from its epoll set."""

    def __init__(self) -> None:
        super().__init__()
        self.changes = 0

    def add_reader(self, fd: FileDescriptorLike, callback: Callable[[*_Ts], object], *args: *_Ts) -> None:
        self.changes += 1
        super().add_reader(fd, callback, *args)

    def remove_reader(self, fd: FileDescriptorLike) -> bool:
        self.changes += 1
        return super().remove_reader(fd)


def test_a_worker_over_its_share_pauses_without_leaving_the_loops_epoll_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per connection another worker takes, a worker over its share paused and resumed watching the
    socket through the loop (on uvloop: 6 epoll_ctl, 3 of them failing, an ioctl and an io_uring_enter)
    and read the queue's length twice. Now the loop watches a private epoll set from start to close,
    and the recheck after the others took it reads nothing."""
    reads = 0

    def counted(sock: socket.socket) -> int:
        nonlocal reads
        reads += 1
        return queued(sock)

    monkeypatch.setattr(acceptor_module, "queued", counted)
    listener = _listener()
    port = listener.getsockname()[1]
    shares = Shares(2)
    other, mine = shares.share(1), shares.share(0)
    other.join()
    mine.join()
    for _ in range(3):
        mine.accepted()  # over its share
    loop = _CountingLoop()

    async def main() -> int:
        server = GatewayServer(_hello, limits=ServerLimits())
        acceptor = Acceptor(loop, server, listener, backlog=128, share=mine).start()
        taken = 0
        for _ in range(5):
            client = socket.create_connection(("127.0.0.1", port))
            deadline = time.monotonic() + 2
            while reads <= taken and time.monotonic() < deadline:
                await asyncio.sleep(0)  # until this worker saw it and left it (before its recheck)
            listener.accept()[0].close()  # the other worker takes it (and it closes)
            other.accepted()
            other.closed()
            client.close()
            taken += 1
            await asyncio.sleep(10 * RECHECK)  # this worker's recheck
        acceptor.close()
        return taken

    try:
        assert loop.run_until_complete(main()) == 5
    finally:
        loop.close()
        listener.close()
        shares.close()
    assert mine.live == 3  # it took none
    assert loop.changes == 2  # the private epoll set: added at start, removed at close
    assert reads == 5  # one per arrival
