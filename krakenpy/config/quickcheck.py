"""The schema's quick verdict (jsonschema-rs: valid or not) computed in a short-lived child process,
so that ``krakenpy run``'s supervisor and workers never hold the validator (P7 idle memory).

jsonschema-rs's compiled validator over the 73 schema files, its 15 MB library and the parsed schema
documents are ~19 MiB of resident memory (measured alone: 15.4 → 34.6 MiB of VmRSS, 10.8 MiB
anonymous, 6.8 MiB of library pages) that a process keeps once it has validated one document: the
supervisor did at start, and every worker inherited it with the fork. A child computes the verdict
and exits with it; its memory goes with it. The child is a fork where this process has one thread
(the CLI before the supervisor's loop, the supervisor checking a reload: fork, exit and wait of a
34 MiB process took 6–16 ms on this 2-core machine at load 8, and the child starts with the document
parsed), else a fresh interpreter reading the document on its standard input (a worker's reload
runs in a thread: forking a threaded process is unsafe and deprecated; that interpreter costs each
worker's reload 0.20–0.25 s of CPU, 0.6–0.8 s of wall time at load 8–10); either way, a child
that cannot answer (killed, stopped or hung past its bound, cannot start) means the verdict is
computed here, as without isolation.

A worker's reload need not compute it at all: the supervisor checked the same document before
sending the reload, and sends its verdict with the hash of the document it checked
(:func:`last_verdict`); the worker takes it (:func:`take_verdict`) and answers a document of that
hash without a child (measured: a two-worker reload's CPU, see bench/README.md § round 11). A
document that hashes differently (the file changed between the two reads) or a reload without a
verdict still starts the child. The verdict is a function of the document alone (same code, same
schemas), so a verdict kept for a later document of the same hash is still right.

The forked child takes the default action of SIGTERM, SIGINT and SIGHUP (the supervisor's handlers
only queue a signal for its loop, which the child never runs) and leaves with ``os._exit``; the parent
waits for it at most :data:`_FORK_TIMEOUT`, so a stopped child cannot keep the supervisor from
acting on a SIGTERM for longer. The fresh interpreter runs with ``-P``: the working directory is not
put first on its ``sys.path`` (a ``jsonschema_rs.py`` or ``orjson.py`` there is not imported), which
holds ``PYTHONPATH`` (this package's parent folder first) and the installed packages.

:func:`isolate` turns it on (``krakenpy run`` does, before loading); off, :func:`quick_valid` is the
in-process check, as ``check`` and embedding applications use it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from krakenpy.stdio import flush_std_streams

__all__ = ["document_hash", "forget_verdict", "isolate", "last_verdict", "quick_valid", "take_verdict"]

#: the child's exit codes (any other: it could not answer)
VALID, INVALID = 10, 11
#: whether :func:`quick_valid` runs the check in a child (a list: set by :func:`isolate`)
_isolated: list[bool] = [False]
#: how long a fresh interpreter gets to answer (imports ~0.1 s, the check ~0.2 s on a loaded machine)
_SPAWN_TIMEOUT = 60.0
#: how long a forked child gets (building the validator there: ~0.1 s, under 1 s at load 10); the
#: supervisor waits that long at most before acting on a signal (a list: the tests shorten it)
_FORK_TIMEOUT = [10.0]
#: the signals whose handlers the forked child drops at once (blocked across the fork until then)
_DEFAULTED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

log = logging.getLogger("krakenpy")


#: a verdict another process computed, (document hash, valid): a worker's reload takes the supervisor's
_given: list[tuple[str, bool] | None] = [None]
#: the last verdict computed (or taken) here, (document hash, valid), for the supervisor to send on
_last: list[tuple[str, bool] | None] = [None]


def document_hash(doc: object) -> str | None:
    """The SHA-256 of ``doc`` as JSON, or None when JSON would not hold it exactly (a YAML date, NaN,
    a set: no verdict is keyed by it)."""
    try:
        data = orjson.dumps(doc, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:
        return None
    if orjson.loads(data) != doc:
        return None
    return hashlib.sha256(data).hexdigest()


def take_verdict(verdict: object) -> None:
    """Answer a document of this hash with this verdict, without a child (``[hash, valid]`` as a reload
    message carries it; anything else is ignored)."""
    if isinstance(verdict, list | tuple) and len(verdict) == 2:
        key, valid = verdict
        if isinstance(key, str) and isinstance(valid, bool):
            _given[0] = (key, valid)


def last_verdict() -> tuple[str, bool] | None:
    """The last verdict of this process with its document's hash (None: none, or not hashable)."""
    return _last[0]


def forget_verdict() -> None:
    """Drop :func:`last_verdict` (before a check whose verdict is to be sent)."""
    _last[0] = None


def isolate(on: bool = True) -> None:
    """Compute every later quick verdict of this process (and of processes forked from it) in a child."""
    _isolated[0] = on


def _in_process(doc: object) -> bool:
    from krakenpy.config.schema import quick_validator

    return bool(quick_validator().is_valid(doc))


def quick_valid(doc: object) -> bool:
    """jsonschema-rs's verdict on ``doc``; in a child process when :func:`isolate` is on."""
    if not _isolated[0]:
        return _in_process(doc)
    key = document_hash(doc)
    given = _given[0]
    if key is not None and given is not None and given[0] == key:
        _last[0] = given
        return given[1]
    alone = threading.active_count() == 1 and threading.current_thread() is threading.main_thread()
    code = _forked(doc) if alone else _spawned(doc)
    valid = code == VALID if code in (VALID, INVALID) else _in_process(doc)  # else the child could not say
    _last[0] = (key, valid) if key is not None else None
    return valid


def _forked(doc: object) -> int:
    flush_std_streams()  # either may be None: started with the descriptor closed (``run >&-``)
    # blocked until the child has its default dispositions back: a SIGTERM meant for it is not run by
    # the handler it inherited (which would only queue it for a loop the child never runs)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFAULTED)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return -1
    if pid == 0:  # the child: answer and leave without running any of the parent's exit handlers
        code = -1
        try:
            signal.set_wakeup_fd(-1)  # the parent's loop's pipe is not the child's to write
            for signum in _DEFAULTED:
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            code = VALID if _in_process(doc) else INVALID
        finally:
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return _wait(pid, _FORK_TIMEOUT[0])


def _wait(pid: int, timeout: float) -> int:
    """The child's exit code, or -1 once ``timeout`` has passed (the child killed and reaped)."""
    deadline = time.monotonic() + timeout
    try:  # readable once the child has exited: the wait wakes then, not at a polling step
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: polled
        pidfd = -1
    pause = 0.001
    try:
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else's waitpid(-1): the verdict is lost
                return -1
            if done:
                return os.waitstatus_to_exitcode(status)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if pidfd >= 0:
                select.select([pidfd], [], [], left)
            else:  # a pause doubling up to 10 ms: at most that added to a 10 ms–1 s check
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.01)
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    try:
        os.kill(pid, signal.SIGKILL)  # also ends a stopped child
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    log.warning("schema quick check: child %d gave no answer within %g s: killed, checking here", pid, timeout)
    return -1


def _spawned(doc: object) -> int:
    if not sys.executable:  # an embedding interpreter that cannot say where its Python is
        return -1
    # the package's parent folder first on the path: the child imports this krakenpy, wherever the
    # parent found it (a checkout, a test's sys.path)
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH")))))
    try:
        data = orjson.dumps(doc)
    except TypeError:  # not JSON (a YAML file's big integer, binary or set): checked here
        return -1
    if orjson.loads(data) != doc:  # JSON would change it (a YAML date, NaN): checked here
        return -1
    try:
        done = subprocess.run(
            # -P: not the working directory first on sys.path (a jsonschema_rs.py, orjson.py or
            # krakenpy/ there would be imported and its exit code taken for the verdict)
            [sys.executable, "-P", "-m", "krakenpy.config.quickcheck"],
            input=data,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_SPAWN_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return -1
    return done.returncode


def _main() -> int:
    return VALID if _in_process(orjson.loads(sys.stdin.buffer.read())) else INVALID


if __name__ == "__main__":
    sys.exit(_main())
