"""A stop signal the supervisor sends a worker it has just forked, before the worker set its own
signal dispositions, is not lost: found in CI, where ``sequential_start`` forks the second worker
when the first is ready, and a SIGTERM handled in the same turn reached it while it still had the
supervisor's handler (which only queues the signal in the child's copy): it served on through the
stop and the supervisor waited for it forever."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

SCRIPT = textwrap.dedent(
    """
    import os, selectors, signal, sys, time
    from krakenpy.server.slots import Slot, become_worker
    from krakenpy.server.supervisor import Supervisor

    class SlowStart(Supervisor):
        def _child(self, slot, channel, parent):
            time.sleep(0.5)  # a loaded machine: the signal comes before the worker's own dispositions
            become_worker(parent)
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
