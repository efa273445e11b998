"""A stop signal that reaches ``krakenpy run`` before its supervisor installed its handlers (the
imports, the configuration's load and checks, the sockets bound: ~0.3 s) stops it cleanly: exit 0,
no worker forked or left behind. Before, SIGTERM there had its default action (exit status −15) and
SIGINT raised ``KeyboardInterrupt`` wherever it landed (:mod:`krakenpy.server.earlystop`)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from krakenpy.server import earlystop
from tests.conftest import ROOT, free_port
from tests.server.process import Gateway, write_json

#: loaded by the CLI below (PYTHONPATH): ``serve`` (the step before the supervisor) says it has been
#: reached, then waits for the file ``release`` (at most 30 s): a long start, made deterministic
_HELD_SERVE = """
import time
from pathlib import Path
from krakenpy.server import runner

_serve = runner.serve

def _held(*args, **kwargs):
    Path({starting!r}).touch()
    until = time.monotonic() + 30
    while not Path({release!r}).exists() and time.monotonic() < until:
        time.sleep(0.01)
    return _serve(*args, **kwargs)

runner.serve = _held
"""


def _config(tmp_path: Path) -> Path:
    doc = {
        "version": 3,
        "port": free_port(),
        "endpoints": [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:18000"], "url_pattern": "/"}]}],
    }
    return write_json(tmp_path / "krakend.json", doc)


def _session(sid: int) -> list[int]:
    """The processes of session ``sid`` (the CLI's: it was started in a new session), the CLI's
    workers included, whoever their parent is now."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _catches(pid: int, sig: int) -> bool:
    """Whether ``pid`` has a handler for ``sig`` (``SigCgt`` of /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_during_the_start_ends_it_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    site = tmp_path / "site"
    site.mkdir()
    starting, release = tmp_path / "starting", tmp_path / "release"
    (site / "sitecustomize.py").write_text(_HELD_SERVE.format(starting=str(starting), release=str(release)))
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    gateway = Gateway(_config(tmp_path), "-w", "2", cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 20
        while not starting.exists() and gateway.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert starting.exists(), gateway.log
        gateway.signal(sig)
        time.sleep(0.2)  # the signal handled while the start goes on
        release.touch()
        assert gateway.proc.wait(20) == 0, gateway.log
        assert "worker 1 started" not in gateway.log and "listening on" not in gateway.log
        assert _session(gateway.proc.pid) == []
        assert "Traceback" not in gateway.log, gateway.log
    finally:
        gateway.kill()


def test_a_stop_as_early_as_it_can_be_caught_ends_it_cleanly(tmp_path: Path) -> None:
    """The real CLI, signalled the moment its process can catch SIGTERM (polled in /proc): exit 0 and
    nothing of it left, whichever step of the start the signal found."""
    config = _config(tmp_path)
    for _ in range(3):
        gateway = Gateway(config, "-w", "2", cwd=tmp_path)
        try:
            pid = gateway.proc.pid
            deadline = time.monotonic() + 20
            while not _catches(pid, signal.SIGTERM) and gateway.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
            gateway.signal(signal.SIGTERM)
            assert gateway.proc.wait(20) == 0, gateway.log
            assert _session(pid) == [], gateway.log
        finally:
            gateway.kill()


def test_a_second_stop_cuts_a_start_that_hangs(tmp_path: Path) -> None:
    """The start held for good (its ``release`` never comes): a second SIGTERM a second or more after
    the first ends it, exit 0, rather than only SIGKILL."""
    site = tmp_path / "site"
    site.mkdir()
    starting = tmp_path / "starting"
    (site / "sitecustomize.py").write_text(_HELD_SERVE.format(starting=str(starting), release=str(tmp_path / "no")))
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    gateway = Gateway(_config(tmp_path), "-w", "2", cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 20
        while not starting.exists() and gateway.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        gateway.signal(signal.SIGTERM)
        gateway.signal(signal.SIGTERM)  # the same stop twice at once: no cut
        time.sleep(0.5)
        assert gateway.proc.poll() is None
        time.sleep(0.7)
        gateway.signal(signal.SIGTERM)
        assert gateway.proc.wait(10) == 0, gateway.log
        assert _session(gateway.proc.pid) == []
    finally:
        gateway.kill()


def test_install_off_the_main_thread_records_nothing_and_raises_nothing() -> None:
    """``cli.main(["run", ...])`` called from a program's own thread: ``signal.signal`` refuses there,
    so nothing is installed (the command runs on; a ValueError escaped before)."""
    errors: list[BaseException] = []

    def go() -> None:
        try:
            earlystop.install(["run"])
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    thread.join()
    try:
        assert errors == []
        assert signal.getsignal(signal.SIGTERM) is not earlystop._record
    finally:
        earlystop.uninstall()
