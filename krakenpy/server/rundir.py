"""The run directory of ``krakenpy run -w N`` (N > 1): one per gateway, made by the supervisor before
the first fork and removed when it exits. Each worker writes its cumulative metrics there
(:mod:`krakenpy.telemetry.metrics.shared`); the worker serving the telemetry listeners merges them at
a scrape. On tmpfs (``/dev/shm``) where there is one, so a snapshot write never touches a disk.

Kept small (``os`` and ``tempfile``, which the CLI loads anyway): the supervisor imports it and stays
lean (P7). The worker only says where its directory is (:func:`enter`) and when it stops
(:func:`leave`): what publishes there is telemetry's (the server core imports no telemetry)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["LIVE", "RETIRED", "WorkerDir", "create", "current", "enter", "leave", "live_name", "remove", "retire"]

log = logging.getLogger("krakenpy")

#: a running worker's snapshot, ``live-<pid>.json``; the supervisor renames it once the worker exited
LIVE = "live-"
#: a worker that exited: its counters still count (they never go down), its gauges no longer do
RETIRED = "gone-"
_SHM = "/dev/shm"


def live_name(pid: int) -> str:
    return f"{LIVE}{pid}.json"


def create() -> str | None:
    """A fresh private directory (mode 0700) for this gateway, or None (logged) if none can be made."""
    try:
        # a read-only root file system (deploy/k8s) still has a writable /dev/shm; without either,
        # gettempdir() raises too ("no usable temporary directory")
        parent = _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK | os.X_OK) else tempfile.gettempdir()
        _sweep(parent)
        return tempfile.mkdtemp(prefix=f"krakenpy-{os.getpid()}-", dir=parent)
    except OSError as exc:
        log.warning("no run directory for the workers' metrics (%s): a scrape shows worker 1's only", exc)
        return None


def _sweep(parent: str) -> None:
    """Remove the directories of gateways whose supervisor and workers were all killed at once
    (``kill -9`` to the process group: nobody was left to remove them). One whose supervisor's pid
    runs again (reused, or still alive) is left alone; another user's cannot be removed."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        prefix, _, rest = name.partition("-")
        pid, _, _ = rest.partition("-")
        if prefix != "krakenpy" or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            remove(os.path.join(parent, name))
        except OSError:
            pass  # alive, another user's


def retire(path: str, pid: int) -> None:
    """Worker ``pid`` exited: keep its last snapshot as a retired one (its counters stay in the sums)."""
    try:
        os.rename(os.path.join(path, live_name(pid)), os.path.join(path, f"{RETIRED}{pid}.json"))
    except FileNotFoundError:
        pass  # it never wrote one (no metrics configured, or it died before its first tick)
    except OSError as exc:
        log.warning("cannot keep the metrics of worker pid %d: %s", pid, exc)


def remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class WorkerDir:
    """This worker's place in the run directory, and what to do when it stops (a last snapshot)."""

    path: str
    slot: int
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: the supervisor: a worker that outlives it removes the directory (nobody else would)
    parent: int = field(default_factory=os.getppid)


_CURRENT: WorkerDir | None = None


def enter(path: str, slot: int) -> WorkerDir:
    """Called by a worker of ``run -w N`` (N > 1) before it builds a gateway."""
    global _CURRENT
    _CURRENT = WorkerDir(path, slot)
    return _CURRENT


def current() -> WorkerDir | None:
    """This worker's run directory; None in a single worker, ``check`` and tests."""
    return _CURRENT


async def leave() -> None:
    """Called by the worker once its gateways closed: the hooks write their last snapshot."""
    found = _CURRENT
    if found is None:
        return
    if os.getppid() != found.parent:  # the supervisor was killed (SIGKILL): no scrape will come
        remove(found.path)  # every worker does it: whichever is last, the directory goes
        return
    for hook in found.on_stop:
        await hook()
