"""The schema's quick check in a child (:mod:`krakenpy.config.quickcheck`): what the child may import,
how long its parent waits for it and which signals it obeys (real forks and interpreters, in a
subprocess each: the check is isolated per process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.server.process import Gateway, write_json

ROOT = Path(__file__).resolve().parents[2]

_VALID = {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["127.0.0.1:1"], "url_pattern": "/"}]}]}


def _python(script: str, *args: str, cwd: Path = ROOT, timeout: float = 120) -> list[str]:
    # -P: this script's own imports (and an in-process fallback) never come from ``cwd`` either
    done = subprocess.run(
        [sys.executable, "-P", "-c", script, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


#: a worker's reload (another thread running: a fresh interpreter) from a working directory holding
#: modules named like the check's imports; each writes a marker and exits with "valid"
_DECOY = """
import sys, threading
import orjson
from krakenpy.config import quickcheck

quickcheck.isolate()
stop = threading.Event()
threading.Thread(target=stop.wait).start()
valid = orjson.loads(sys.argv[1])
print(quickcheck.quick_valid(valid), quickcheck.quick_valid(dict(valid, timeout="soon")))
stop.set()
"""


def test_quickcheck_fresh_interpreter_imports_nothing_from_the_working_directory(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    decoy = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\nimport sys\nsys.exit(10)\n"
    for name in ("jsonschema_rs.py", "orjson.py"):
        (tmp_path / name).write_text(decoy)
    (tmp_path / "krakenpy").mkdir()
    (tmp_path / "krakenpy" / "__init__.py").write_text(decoy)
    assert _python(_DECOY, json.dumps(_VALID), cwd=tmp_path) == ["True False"]
    assert not marker.exists(), marker.read_text()


#: a forked child that stops itself (or hangs after a SIGTERM to itself): the parent's verdict comes
#: from the in-process check once the bound has passed, or at once when the child dies of the signal
_STALLED = """
import os, signal, sys, threading, time
import orjson
from krakenpy.config import quickcheck

how = sys.argv[2]
if sys.argv[3:] == ["polled"]:  # a system without pidfds: the wait polls
    del os.pidfd_open
parent = os.getpid()
in_process = quickcheck._in_process
here = []

def check(doc):
    if os.getpid() != parent:  # the forked child
        if how == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
        else:  # what a stop signal to a child still running the supervisor's handlers did: nothing
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
    else:
        here.append(1)
    return in_process(doc)

quickcheck._in_process = check
bound = getattr(quickcheck, "_FORK_TIMEOUT", [0.0])  # (a module without the bound: the test fails on time)
bound[0] = 1.0 if how == "stop" else 20.0
signal.signal(signal.SIGTERM, lambda *_: None)  # the supervisor's: queues it for its loop
quickcheck.isolate()
valid = orjson.loads(sys.argv[1])
for doc in (valid, dict(valid, timeout="soon")):
    started = time.monotonic()
    verdict = quickcheck.quick_valid(doc)
    print(verdict, len(here), round(time.monotonic() - started, 1))
try:
    os.waitpid(-1, os.WNOHANG)
except ChildProcessError:
    print("reaped")
"""


@pytest.mark.parametrize("wait", ["pidfd", "polled"])
def test_quickcheck_stopped_fork_child_is_killed_at_the_bound_and_checked_here(wait: str) -> None:
    lines = _python(_STALLED, json.dumps(_VALID), "stop", wait, timeout=30)
    assert [line.rsplit(" ", 1)[0] for line in lines[:2]] == ["True 1", "False 2"], lines
    assert all(1.0 <= float(line.rsplit(" ", 1)[1]) < 5.0 for line in lines[:2]), lines
    assert lines[2:] == ["reaped"]


def test_quickcheck_fork_child_takes_the_default_action_of_sigterm() -> None:
    lines = _python(_STALLED, json.dumps(_VALID), "term")
    assert [line.rsplit(" ", 1)[0] for line in lines[:2]] == ["True 1", "False 2"], lines
    assert all(float(line.rsplit(" ", 1)[1]) < 5.0 for line in lines[:2]), lines  # not the 20 s bound
    assert lines[2:] == ["reaped"]


#: loaded by every interpreter of the gateways below (PYTHONPATH): the supervisor's forked check child
#: stops itself while the file ``stop`` exists (a fresh interpreter's is not a fork: it does not); a
#: worker's check (a fresh interpreter running the module) takes 5 s more while ``slow`` exists. Every
#: check made in a child writes a line to ``checks``: ``fork PPID`` (the supervisor's) or ``spawn PPID``
#: (a fresh interpreter: a worker's)
_SITECUSTOMIZE = """
import os, signal, sys, time
from pathlib import Path
from krakenpy.config import quickcheck, schema

_parent = os.getpid()
_in_process = quickcheck._in_process
_validator = schema.quick_validator

def _record(kind):
    with open({checks!r}, "a") as f:
        f.write(f"{{kind}} {{os.getppid()}}\\n")

def _check(doc):
    if os.getpid() != _parent:
        _record("fork")
        if Path({stop!r}).exists():
            os.kill(os.getpid(), signal.SIGSTOP)
    return _in_process(doc)

def _slow_validator():
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    if getattr(main, "name", "") == "krakenpy.config.quickcheck":
        _record("spawn")
        if Path({slow!r}).exists():
            time.sleep(5)
    return _validator()

quickcheck._in_process = _check
schema.quick_validator = _slow_validator
"""


def _gateway(tmp_path: Path, port: int) -> tuple[Gateway, Path]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        _SITECUSTOMIZE.format(stop=str(tmp_path / "stop"), slow=str(tmp_path / "slow"), checks=str(tmp_path / "checks"))
    )
    config = write_json(tmp_path / "krakend.json", _config(port, 1))
    pythonpath = os.pathsep.join([str(site), str(ROOT)])
    return Gateway(config, "-w", "2", cwd=tmp_path, env={"PYTHONPATH": pythonpath}), config


def _config(port: int, generation: int) -> dict[str, object]:
    backend = {"host": [f"127.0.0.1:{port}"], "url_pattern": f"/__echo/g{generation}"}
    endpoints = [{"endpoint": "/gen", "backend": [backend]}]
    return {"version": 3, "port": port, "echo_endpoint": True, "endpoints": endpoints}


def test_quickcheck_stopped_child_during_a_reload_does_not_hold_the_shutdown(tmp_path: Path) -> None:
    """A SIGTERM while the supervisor's reload check waits for a stopped child: the child is killed at
    the bound, and the reload is not reported as applied by the workers that drained meanwhile."""
    port = free_port()
    gateway, config = _gateway(tmp_path, port)
    try:
        gateway.worker_pids(2)
        (tmp_path / "stop").touch()
        write_json(config, _config(port, 2))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 \(SIGHUP\): checking")
        time.sleep(0.5)  # the check's child is forked and stopped
        started = time.monotonic()
        assert gateway.stop(timeout=30) == 0  # a SIGTERM
        took = time.monotonic() - started
        assert took < 20, took  # the 10 s bound, the check here, the drain
        assert "schema quick check: child" in gateway.log
        assert "reload 1: not applied, shutting down" in gateway.log
        assert "applied by" not in gateway.log
    finally:
        gateway.kill()


def _checks_of(parents: set[int]) -> list[int]:
    """The quick-check interpreters whose parent is one of ``parents``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) in parents and b"krakenpy.config.quickcheck" in cmdline:
            found.append(int(entry.name))
    return found


def test_quickcheck_shutdown_while_workers_check_a_reload_is_not_applied_by_0_of_0(tmp_path: Path) -> None:
    """A SIGTERM once the workers have the reload and are checking it: those that exit on the way out
    do not make it "applied by 0/0 workers"."""
    port = free_port()
    gateway, config = _gateway(tmp_path, port)
    try:
        workers = set(gateway.worker_pids(2).values())
        (tmp_path / "slow").touch()
        # the file changes between the supervisor's check and the workers' reads: they check it themselves
        _changed_after_the_supervisors_check(gateway, tmp_path, config, port, workers)
        deadline = time.monotonic() + 20
        while len(_checks_of(workers)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_checks_of(workers)) == 2, gateway.log  # both workers are checking it
        assert gateway.stop(timeout=30) == 0
        assert "reload 1: shutting down before every worker had answered" in gateway.log
        assert "applied by" not in gateway.log
    finally:
        gateway.kill()


def _checks(tmp_path: Path) -> list[tuple[str, int]]:
    """The checks made in children so far: ("fork" | "spawn", parent pid)."""
    path = tmp_path / "checks"
    lines = path.read_text().split() if path.exists() else []
    return [(kind, int(pid)) for kind, pid in zip(lines[::2], lines[1::2], strict=True)]


def _changed_after_the_supervisors_check(
    gateway: Gateway, tmp_path: Path, config: Path, port: int, workers: set[int]
) -> None:
    """A reload whose file changes once the supervisor has read and checked it, before the workers read
    it: the workers are stopped meanwhile (the reload waits in their channel)."""
    forks = sum(1 for kind, _ in _checks(tmp_path) if kind == "fork")
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        write_json(config, _config(port, 2))
        gateway.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while sum(1 for kind, _ in _checks(tmp_path) if kind == "fork") == forks and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sum(1 for kind, _ in _checks(tmp_path) if kind == "fork") == forks + 1, gateway.log
        write_json(config, _config(port, 3))
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)


def test_quickcheck_reload_workers_take_the_supervisors_verdict(tmp_path: Path) -> None:
    """A reload of the file the supervisor checked starts no check interpreter in the workers (they take
    its verdict); one whose file changed in between does, in each worker."""
    port = free_port()
    gateway, config = _gateway(tmp_path, port)
    try:
        workers = set(gateway.worker_pids(2).values())
        supervisor = gateway.proc.pid
        started = _checks(tmp_path)
        assert started == [("fork", supervisor)], started  # the start-up check, in the CLI's fork
        write_json(config, _config(port, 2))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 applied by 2/2 workers")
        assert _checks(tmp_path) == [("fork", supervisor)] * 2  # the supervisor's check only
        _changed_after_the_supervisors_check(gateway, tmp_path, config, port, workers)
        gateway.wait_log(r"reload 2 applied by 0/2 workers")  # the digest differs: refused
        assert "the configuration changed again" in gateway.log
        spawned = sorted(pid for kind, pid in _checks(tmp_path) if kind == "spawn")
        assert spawned == sorted(workers), _checks(tmp_path)  # each worker checked the new file itself
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def test_quickcheck_document_hash_only_for_documents_json_holds_exactly() -> None:
    import datetime

    from krakenpy.config.quickcheck import document_hash

    assert document_hash(_VALID) == document_hash(json.loads(json.dumps(_VALID))) is not None
    assert document_hash({**_VALID, "name": "x"}) != document_hash(_VALID)
    # a YAML date, NaN, a set: JSON would change or refuse them, so no verdict is keyed by them
    for odd in (datetime.date(2026, 1, 1), float("nan"), {1}):
        assert document_hash({**_VALID, "name": odd}) is None
