"""The schema's quick verdict (jsonschema-rs: valid or not) computed in a short-lived child process,
so that ``krakenpy run``'s supervisor and workers never hold the validator (P7 idle memory).

jsonschema-rs's compiled validator over the 73 schema files, its 15 MB library and the parsed schema
documents are ~19 MiB of resident memory (measured alone: 15.4 → 34.6 MiB of VmRSS, 10.8 MiB
anonymous, 6.8 MiB of library pages) that a process keeps once it has validated one document: the
supervisor did at start, and every worker inherited it with the fork. A child computes the verdict
and exits with it; its memory goes with it. The child is a fork where this process has one thread
(the CLI before the supervisor's loop, the supervisor checking a reload: fork, exit and wait of a
34 MiB process took 6–16 ms on this 2-core machine at load 8, and the child starts with the document
parsed), else a fresh interpreter reading the document
on its standard input (a worker's reload runs in a thread: forking a threaded process is unsafe and
deprecated); either way, a child that cannot answer (killed, cannot start) means the verdict is
computed here, as without isolation.

:func:`isolate` turns it on (``krakenpy run`` does, before loading); off, :func:`quick_valid` is the
in-process check, as ``check`` and embedding applications use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import orjson

__all__ = ["isolate", "quick_valid"]

#: the child's exit codes (any other: it could not answer)
VALID, INVALID = 10, 11
#: whether :func:`quick_valid` runs the check in a child (a list: set by :func:`isolate`)
_isolated: list[bool] = [False]
#: how long a fresh interpreter gets to answer (imports ~0.1 s, the check ~0.2 s on a loaded machine)
_SPAWN_TIMEOUT = 60.0


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
    code = _forked(doc) if threading.active_count() == 1 else _spawned(doc)
    if code == VALID:
        return True
    if code == INVALID:
        return False
    return _in_process(doc)  # the child could not say


def _forked(doc: object) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        return -1
    if pid == 0:  # the child: answer and leave without running any of the parent's exit handlers
        code = -1
        try:
            code = VALID if _in_process(doc) else INVALID
        finally:
            os._exit(code)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:  # reaped by someone else's waitpid(-1): the verdict is lost
        return -1
    return os.waitstatus_to_exitcode(status)


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
            [sys.executable, "-m", "krakenpy.config.quickcheck"],
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
