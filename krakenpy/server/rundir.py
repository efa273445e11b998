"""The run directory of ``krakenpy run -w N`` (N > 1): one per gateway, made by the supervisor before
the first fork and removed when it exits. Each worker writes its cumulative metrics there
(:mod:`krakenpy.telemetry.metrics.shared`); the worker serving the telemetry listeners merges them at
a scrape. On tmpfs (``/dev/shm``) where there is one, so a snapshot write never touches a disk.

The supervisor holds a shared ``flock`` on the directory's lock file (:data:`LOCK`) for its life
(its workers inherit it): another gateway's sweep removes only a directory whose lock it can take,
so a running gateway's stays whatever pid namespace it runs in (pod containers or ``docker
--ipc=host`` share ``/dev/shm``, not their pids). A directory removed under a running gateway
(systemd-logind's ``RemoveIPC`` at logout, a tmp cleaner) is made again by the first worker that
writes there (:func:`restore`).

Kept small (``os``, ``fcntl`` and ``tempfile``): the supervisor imports it and stays lean (P7).
The worker only says where its directory is (:func:`enter`) and when it stops (:func:`leave`):
what publishes there is telemetry's (the server core imports no telemetry)."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = [
    "LIVE",
    "LOCK",
    "RETIRED",
    "WorkerDir",
    "create",
    "current",
    "enter",
    "hold",
    "leave",
    "live_name",
    "orphan",
    "remove",
    "restore",
    "retire",
    "tmp_names",
]

log = logging.getLogger("krakenpy")

#: a running worker's snapshot, ``live-<pid>.json``; the supervisor renames it once the worker exited
LIVE = "live-"
#: a worker that exited: its counters still count (they never go down), its gauges no longer do
RETIRED = "gone-"
#: the lock file a running gateway holds (shared ``flock``): a sweep takes it (exclusive) or leaves
LOCK = ".lock"
_SHM = "/dev/shm"
#: lock files this process holds, by directory (closed when it removes the directory, or at exit)
_HELD: dict[str, int] = {}
#: the stamp of the last exited worker's snapshot this process (the supervisor) named
_STAMP = 0


def live_name(pid: int) -> str:
    return f"{LIVE}{pid}.json"


def tmp_names(pid: int) -> tuple[str, str]:
    """Where worker ``pid`` writes its snapshot, and a compaction's merged file, before renaming them."""
    return f".tmp-{pid}", f".tmp-merged-{pid}"


def create() -> str | None:
    """A fresh private directory (mode 0700) for this gateway, its lock held by this process (and
    the workers it forks) from now on, or None (logged) if none can be made."""
    try:
        # a read-only root file system (deploy/k8s) still has a writable /dev/shm; without either,
        # gettempdir() raises too ("no usable temporary directory")
        parent = _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK | os.X_OK) else tempfile.gettempdir()
        _sweep(parent)
        path = tempfile.mkdtemp(prefix=f"krakenpy-{os.getpid()}-", dir=parent)
        hold(path)
        return path
    except OSError as exc:
        log.warning("no run directory for the workers' metrics (%s): a scrape shows worker 1's only", exc)
        return None


def hold(path: str) -> None:
    """Hold (shared ``flock``) the lock file of ``path``, made if missing, until this process and
    every process it forks from now on exit, or it removes ``path``."""
    fd = os.open(os.path.join(path, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        raise
    previous = _HELD.pop(path, None)
    if previous is not None:  # a lock file of a removed directory: nothing to hold any more
        os.close(previous)
    _HELD[path] = fd


def _sweep(parent: str) -> None:
    """Remove the directories of gateways whose supervisor and workers were all killed at once
    (``kill -9`` to the process group: nobody was left to remove them): this user's directories
    whose lock file nobody holds. A running gateway holds its lock whatever pid namespace it runs
    in; a directory without a lock file (being made, or an older krakenpy's) and another user's
    (also for root: the owner is checked, not only the permissions) are left alone."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    me = os.geteuid()
    for name in names:
        if not name.startswith("krakenpy-"):
            continue
        path = os.path.join(parent, name)
        try:
            found = os.lstat(path)
            if not stat.S_ISDIR(found.st_mode) or found.st_uid != me:
                continue
            fd = os.open(os.path.join(path, LOCK), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: a running gateway's
        finally:
            os.close(fd)
        remove(path)


def retire(path: str, pid: int) -> None:
    """Worker ``pid`` exited: keep its last snapshot as a retired one (its counters stay in the sums),
    under a name of its own (``gone-<pid>-<ns>.json``): a later worker given the same pid neither
    replaces it nor is hidden by a compaction's list of what it merged. A directory a worker made
    again (:func:`restore`) has its lock held from now on by this process (the supervisor) too."""
    global _STAMP
    _hold_again(path)
    # never the same name twice, whatever the clock reads (stepped back, coarse, frozen): a later worker
    # of the same pid had its snapshot renamed over the first one's, or, once a compaction had merged
    # that one away, hidden by the merged file's list of what it merged (its counts lost either way)
    _STAMP = max(time.time_ns(), _STAMP + 1)
    try:
        os.rename(os.path.join(path, live_name(pid)), os.path.join(path, f"{RETIRED}{pid}-{_STAMP}.json"))
    except FileNotFoundError:
        pass  # it never wrote one (no metrics configured, or it died before its first tick)
    except OSError as exc:
        log.warning("cannot keep the metrics of worker pid %d: %s", pid, exc)
    for name in tmp_names(pid):  # killed while it wrote one: a snapshot's size of tmpfs (memory) each
        try:
            os.unlink(os.path.join(path, name))
        except OSError:
            pass


def _hold_again(path: str) -> None:
    """Hold ``path``'s lock file if it is not the one this process holds (the directory was removed
    under the gateway and a worker made it again: that worker held the new lock alone, and once it
    exited, nobody did; the next gateway's sweep removed the running one's directory, the snapshots
    of its exited workers with it). Never waits: a lock taken exclusively is a sweep's or the last
    worker's out, which removes the directory anyway."""
    held = _HELD.get(path)
    try:
        found = os.stat(os.path.join(path, LOCK))
        if held is not None:
            mine = os.fstat(held)
            if (mine.st_dev, mine.st_ino) == (found.st_dev, found.st_ino):
                return
        fd = os.open(os.path.join(path, LOCK), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # removed (not made again yet), or never made
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return
    if held is not None:
        os.close(held)  # the lock file of the removed directory: nothing to hold any more
    _HELD[path] = fd


def restore(path: str) -> bool:
    """``path`` was removed under a running gateway (systemd-logind's ``RemoveIPC`` at logout, a tmp
    cleaner): made again (mode 0700), its lock held by this process. False when this worker's
    supervisor is gone (its workers remove the directory as they stop, nobody would read it)."""
    found = _CURRENT
    if found is not None and _orphaned(found):
        return False
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    else:
        log.warning("the run directory of the workers' metrics was removed: made again")
    hold(path)
    return True


def remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    held = _HELD.pop(path, None)
    if held is not None:
        os.close(held)


@dataclass
class WorkerDir:
    """This worker's place in the run directory, and what to do when it stops (a last snapshot)."""

    #: None with ``run -w 1``: no directory, the one worker's gateways keep what the ones a reload
    #: retired counted in memory (:class:`krakenpy.telemetry.metrics.shared.LocalPublisher`)
    path: str | None
    slot: int
    #: called with whether the supervisor lives (a last snapshot is worth writing): each stops its writes
    on_stop: list[Callable[[bool], Awaitable[None]]] = field(default_factory=list)
    #: the supervisor: a worker that outlives it removes the directory (nobody else would)
    parent: int = field(default_factory=os.getppid)
    #: the supervisor's end of the channel closed (:func:`orphan`)
    orphaned: bool = False


def _orphaned(found: WorkerDir) -> bool:
    """Whether the supervisor is gone: its channel closed, or this process given another parent. The
    channel first: a dying process's files close before its children are given to another parent,
    so a worker that read the channel's end could still see the supervisor's pid as its parent's
    (seen in 4 of 12 kills: it wrote a last snapshot for nobody and left the directory behind)."""
    return found.orphaned or os.getppid() != found.parent


_CURRENT: WorkerDir | None = None


def enter(path: str | None, slot: int) -> WorkerDir:
    """Called by a worker of ``run`` before it builds a gateway (``path`` None: the only worker)."""
    global _CURRENT
    _CURRENT = WorkerDir(path, slot)
    return _CURRENT


def orphan() -> None:
    """Called by a worker that read the end of its supervisor's channel (the supervisor is gone)."""
    if _CURRENT is not None:
        _CURRENT.orphaned = True


def current() -> WorkerDir | None:
    """This worker's place (its ``path`` None in the only worker); None in ``check`` and tests."""
    return _CURRENT


async def leave() -> None:
    """Called by the worker once its gateways closed: the hooks stop what writes there, writing a
    last snapshot while the supervisor lives (it reads it, and removes the directory when it exits).
    Once the supervisor is gone (a SIGKILL: nobody else would remove the directory), the last worker
    out removes it."""
    global _CURRENT
    found = _CURRENT
    if found is None:
        return
    gone = _orphaned(found)
    for hook in found.on_stop:
        await hook(not gone)
    if found.path is not None and (gone or _orphaned(found)):  # again: killed while it wrote its last
        _last_out(found.path)
    _CURRENT = None  # left: a gateway built after this is no worker's (nothing publishes for it)


def _last_out(path: str) -> None:
    """Remove ``path`` unless another process still holds its lock. Every worker holds it (shared:
    the supervisor's, inherited, or its own after :func:`restore`) until it has stopped writing
    there: this one lets its hold go and asks for the lock alone. Whoever gets it is the last one
    out, and no snapshot can land after it lists the directory; whoever does not leaves the removal
    to a worker still holding it. Each removing it as it stopped lost the race to another worker's
    last snapshot, written between one's listing and its ``rmdir``: the directory was left, its files
    and the lock, to the next start's sweep."""
    held = _HELD.pop(path, None)
    if held is not None:
        os.close(held)  # the inherited description: its lock stays held while another process has it
    try:
        fd = os.open(os.path.join(path, LOCK), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # removed already (another worker was last), or never made
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another worker still holds it: it removes the directory on its way out
    else:
        remove(path)  # nobody writes there any more: every other holder let go after its last write
    finally:
        os.close(fd)
