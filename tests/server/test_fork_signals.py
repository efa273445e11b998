"""A stop signal the supervisor sends a worker it has just forked, before the worker set its own
signal dispositions, is not lost: found in CI, where ``sequential_start`` forks the second worker
when the first is ready, and a SIGTERM handled in the same turn reached it while it still had the
supervisor's handler (which only queues the signal in the child's copy): it served on through the
stop and the supervisor waited for it forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port
from tests.server.process import Gateway, wait_http, write_json

SCRIPT = textwrap.dedent(
    """
    import os, selectors, signal, sys, time
    from krakenpy.server.slots import Slot, become_worker
    from krakenpy.server.supervisor import Supervisor

    class SlowStart(Supervisor):
        def _child(self, slot, channel, parent):
            time.sleep(0.5)  # a loaded machine: the signal comes before the worker's own dispositions
            become_worker(parent, self.fork_mask)
            time.sleep(5)  # a worker that missed the signal serves on: exits 0 after this
            return 0

    queued = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: queued.append(signum))  # as the supervisor's own
    supervisor = SlowStart.__new__(SlowStart)
    supervisor.selector, supervisor.generation = selectors.DefaultSelector(), 0
    slot = Slot(1, [])
    supervisor._spawn(slot)
    os.kill(slot.pid, getattr(signal, sys.argv[1]))
    _, status = os.waitpid(slot.pid, 0)
    os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's own handler still runs once unblocked
    print(os.WIFSIGNALED(status) and signal.Signals(os.WTERMSIG(status)).name, queued)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_right_after_the_fork_ends_the_worker(sig: signal.Signals) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, sig.name], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    # the worker ended by the signal (not exit 0 five seconds later); the supervisor's SIGTERM queued
    assert done.stdout.strip() == f"{sig.name} [{int(signal.SIGTERM)}]"


MASK_SCRIPT = textwrap.dedent(
    """
    import os, selectors, signal, sys
    from krakenpy.server.slots import Slot
    from krakenpy.server.supervisor import Supervisor

    class Child(Supervisor):
        def _child(self, slot, channel, parent):
            from krakenpy.server.slots import become_worker

            become_worker(parent, self.fork_mask)
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
            print(sorted(signal.Signals(s).name for s in mask), flush=True)
            return 0

    # whoever started krakenpy blocked SIGINT and SIGUSR1 (a launcher that handles them itself)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGUSR1])
    supervisor = Child.__new__(Child)
    supervisor.selector, supervisor.generation = selectors.DefaultSelector(), 0
    slot = Slot(1, [])
    supervisor._spawn(slot)
    os.waitpid(slot.pid, 0)
    """
)


def test_a_worker_keeps_the_signal_mask_the_supervisor_had() -> None:
    """become_worker restores the mask the supervisor had before the fork blocked its four stop and
    reload signals: it unblocked those four instead, one the supervisor had blocked from its start
    (SIGINT here) came unblocked in its workers."""
    done = subprocess.run([sys.executable, "-c", MASK_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "['SIGINT', 'SIGUSR1']", done.stderr


#: loaded by the gateway below (PYTHONPATH): every gateway's start waits until the file ``release``
#: exists (at most 30 s), as one whose start hook waits (a NATS subscription's first connect: up to
#: 2 s; a DNS SRV's first answer) while the worker's port already answers
_SLOW_START = """
import asyncio, time
from pathlib import Path
from krakenpy import gateway

_start = gateway.Gateway.start

async def _slow_start(self, **kwargs):
    until = time.monotonic() + 30
    while not Path({release!r}).exists() and time.monotonic() < until:
        await asyncio.sleep(0.05)
    await _start(self, **kwargs)

gateway.Gateway.start = _slow_start
"""


class _HeldBackend:
    """A loopback backend whose answer waits ``hold`` seconds; ``arrived`` is set once a call came."""

    def __init__(self, hold: float) -> None:
        arrived = self.arrived = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                arrived.set()
                time.sleep(hold)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_stop_signal_while_the_worker_starts_serving_drains_its_requests(tmp_path: Path) -> None:
    """The worker's port answers from the moment it listens, and its gateway's start may still wait
    (its hooks run after the listener opens): a SIGTERM meanwhile found the default action there (the
    worker's own handler came after the start) and ended the worker at once, its in-flight requests
    cut (the client saw the connection closed), with no drain."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SLOW_START.format(release=str(tmp_path / "release")))
    backend = _HeldBackend(hold=2.0)
    port = free_port()
    doc = {
        "version": 3,
        "port": port,
        "timeout": "10s",
        "endpoints": [
            {"endpoint": "/held", "backend": [{"host": [f"http://127.0.0.1:{backend.port}"], "url_pattern": "/"}]}
        ],
    }
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    gateway = Gateway(write_json(tmp_path / "krakend.json", doc), "-w", "1", cwd=tmp_path, env=env)
    answers: list[object] = []

    def call() -> None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/held", timeout=15) as response:
                answers.append(response.status)
        except OSError as exc:
            answers.append(repr(exc))

    caller = threading.Thread(target=call, daemon=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")  # answered while the start waits
        caller.start()
        assert backend.arrived.wait(10)  # in flight
        gateway.signal(signal.SIGTERM)
        gateway.wait_log("SIGTERM: draining")  # forwarded to the worker
        caller.join(15)
        assert "listening on" not in gateway.log  # the worker was still starting all along
        (tmp_path / "release").touch()
        # the first SIGTERM ends it (no second: one sent while the supervisor's loop has closed, before
        # the interpreter exits, takes the default action, -15: seen once at load 7, round 21)
        assert gateway.proc.wait(20) == 0, gateway.log
        assert answers == [200], gateway.log
        assert "shutting down" in gateway.log
    finally:
        gateway.kill()
        backend.close()
