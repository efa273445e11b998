"""Worker slots and what a freshly forked process does before it becomes a worker."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from krakenpy.server.channel import Channel

__all__ = ["Slot", "become_worker", "exit_reason"]


@dataclass
class Slot:
    """One worker position: its sockets and the process currently in it."""

    index: int
    sockets: list[socket.socket]
    pid: int = 0
    channel: Channel | None = None
    ready_at: float = 0.0
    generation: int = 0
    quick_crashes: int = 0
    failure: list[str] = field(default_factory=list)


def exit_reason(status: int) -> str:
    """How a process ended, for the log."""
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the supervisor dies, whatever kills it (even SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the channel's EOF tells the worker
    if os.getppid() != parent:  # the supervisor died before the call
        os._exit(0)


#: the signals the supervisor blocks across a fork (see ``Supervisor._spawn``)
FORK_BLOCKED = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD})


def become_worker(parent: int, mask: Iterable[int]) -> None:
    """Signals as a worker needs them, tied to the supervisor's life; ``mask``: the supervisor's
    signal mask before it blocked :data:`FORK_BLOCKED` for the fork, the worker's from now on."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads come from the supervisor, never directly
    # the supervisor forked with these blocked (its handlers would have swallowed them): one sent
    # since then ends this worker now, as it would have had it come a moment later. The mask the
    # supervisor had, not FORK_BLOCKED unblocked: one of them blocked by whoever started krakenpy
    # stays blocked in its workers, as everything else the supervisor inherited
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    _die_with_parent(parent)
