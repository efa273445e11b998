"""The run directory of ``run -w N``: made private, a worker's snapshot kept when it exits, removed
whole; none (and a warning) where no directory can be made, instead of a failed start."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from krakenpy.server import rundir


def test_made_private_retired_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rundir, "_SHM", str(tmp_path / "no-shm"))  # no /dev/shm: the temporary directory
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = rundir.create()
    assert made is not None and Path(made).parent == tmp_path
    assert Path(made).name.startswith(f"krakenpy-{os.getpid()}-")
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o700
    Path(made, rundir.live_name(42)).write_text("{}")
    rundir.retire(made, 42)
    rundir.retire(made, 43)  # never wrote one: nothing to keep, no error
    assert [n for n in os.listdir(made) if n != rundir.LOCK][0].startswith("gone-42-")
    rundir.remove(made)
    assert not os.path.exists(made)
    assert made not in rundir._HELD  # its lock file closed with it


@pytest.mark.parametrize("clock", ["running", "frozen"])
def test_a_reused_pid_keeps_both_workers_snapshots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: str) -> None:
    """A later worker given an exited worker's pid (long runs, a container's small pid space): both
    retired snapshots stay, the first is not renamed over, also when the clock reads the same twice
    (stepped back, coarse, frozen)."""
    if clock == "frozen":
        monkeypatch.setattr(rundir.time, "time_ns", lambda: 1_800_000_000_000_000_000)
    for body in ("first", "second"):
        Path(tmp_path, rundir.live_name(4242)).write_text(body)
        rundir.retire(str(tmp_path), 4242)
    assert sorted(p.read_text() for p in tmp_path.glob("gone-4242-*.json")) == ["first", "second"]


def test_what_a_worker_killed_while_writing_left_goes_with_it(tmp_path: Path) -> None:
    """A worker killed while it wrote its snapshot, or a merged file, left the temporary file (a
    snapshot's size of tmpfs, memory) until the gateway stopped: one more at each such kill."""
    for name in (".tmp-4242", ".tmp-merged-4242", ".tmp-4243"):
        Path(tmp_path, name).write_text('{"pid": 42')
    Path(tmp_path, rundir.live_name(4242)).write_text("{}")
    rundir.retire(str(tmp_path), 4242)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("gone-")) == [".tmp-4243"]


def _no_temporary_directory() -> str:
    raise FileNotFoundError(2, "No usable temporary directory found")


def _read_only(**_kwargs: object) -> str:
    raise OSError(30, "Read-only file system")


@pytest.mark.parametrize("patch", ["gettempdir", "mkdtemp"])
def test_no_usable_directory_is_a_warning(
    patch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A read-only root file system without /dev/shm: gettempdir() finds no usable directory, or
    the one it names refuses a new one. The gateway still starts (a scrape shows worker 1's only)."""
    monkeypatch.setattr(rundir, "_SHM", str(tmp_path / "no-shm"))
    if patch == "gettempdir":
        monkeypatch.setattr(tempfile, "gettempdir", _no_temporary_directory)
    else:
        monkeypatch.setattr(tempfile, "mkdtemp", _read_only)
    with caplog.at_level(logging.WARNING, logger="krakenpy"):
        assert rundir.create() is None
    assert "no run directory for the workers' metrics" in caplog.text


def _held(path: Path) -> int:
    """``path``'s lock file held (shared) by this process, as a running gateway's supervisor does."""
    fd = os.open(path / rundir.LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def test_directories_of_killed_gateways_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway whose processes were all killed at once left its directory (its lock file held by
    nobody): the next one removes it; a running gateway's (its lock held, here by this process,
    whatever its pid), one without a lock file and other names stay."""
    monkeypatch.setattr(rundir, "_SHM", str(tmp_path))
    gone = tmp_path / "krakenpy-1-abc"
    running = tmp_path / "krakenpy-999999999-def"  # a pid of another namespace: not one of this one's
    unlocked = tmp_path / "krakenpy-2-ghi"
    for path in (gone, running, unlocked, tmp_path / "krakenpy-x-y", tmp_path / "other-1-z"):
        path.mkdir()
    (gone / "live-1.json").write_text("{}")
    (gone / rundir.LOCK).write_text("")
    fd = _held(running)
    try:
        made = rundir.create()
    finally:
        os.close(fd)
    assert made is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [running.name, unlocked.name, "krakenpy-x-y", "other-1-z", Path(made).name]
    )
    rundir.remove(made)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="no unshare")
def test_the_sweep_leaves_a_running_gateway_of_another_pid_namespace(tmp_path: Path) -> None:
    """Two containers of a pod (or ``docker --ipc=host``) share /dev/shm, not their pid namespace:
    a gateway started in a new one (``unshare``: its pids are 1, 2...) sweeps while this process,
    whose pid it cannot see, holds its own directory (this process stands for its supervisor)."""
    code = f"from krakenpy.server import rundir; rundir._SHM = {str(tmp_path)!r}; print(rundir.create())"
    live = tmp_path / f"krakenpy-{os.getpid()}-live"
    live.mkdir()
    fd = _held(live)
    try:
        done = subprocess.run(
            ["unshare", "-Urpf", "--mount-proc", sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.close(fd)
    if done.returncode:
        pytest.skip(f"no user and pid namespace here: {done.stderr.strip()}")
    assert live.exists()
    assert Path(done.stdout.strip()).parent == tmp_path


@pytest.fixture
def worker_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> rundir.WorkerDir:
    """This process as a supervisor that made its run directory (holding its lock) and, at once, as a
    worker of it (the worker's place reset after the test)."""
    monkeypatch.setattr(rundir, "_SHM", str(tmp_path))
    monkeypatch.setattr(rundir, "_CURRENT", None)
    made = rundir.create()
    assert made is not None
    return rundir.enter(made, 1)


def _path(found: rundir.WorkerDir) -> str:
    assert found.path is not None  # a directory: run -w N
    return found.path


async def test_a_worker_told_by_its_channel_leaves_as_an_orphan(worker_dir: rundir.WorkerDir) -> None:
    """A dying supervisor's files close before its workers get another parent: a worker that read the
    channel's end still sees the supervisor's pid as its parent's. Told by the channel, it writes no
    last snapshot for nobody, makes no removed directory again, and removes it (the last one out)."""
    path = _path(worker_dir)
    assert os.getppid() == worker_dir.parent
    asked: list[bool] = []

    async def hook(last: bool) -> None:
        asked.append(last)

    worker_dir.on_stop.append(hook)
    rundir.orphan()
    shutil.rmtree(path)
    assert not rundir.restore(path)  # removed and not made again
    os.mkdir(path)
    Path(path, rundir.LOCK).write_text("")
    await rundir.leave()
    assert asked == [False]
    assert not os.path.exists(path)


async def test_the_last_worker_out_removes_the_run_directory(worker_dir: rundir.WorkerDir) -> None:
    """A worker whose supervisor is gone leaves the directory to another that still holds the lock
    (the inherited one: a forked process here, writing its last snapshot after the first left),
    and that one, the last out, removes it: no removal races a snapshot."""
    path = _path(worker_dir)
    rundir.orphan()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other worker: its last snapshot once the first left, then out
        code = 1
        try:
            os.close(write)
            os.read(read, 1)
            Path(path, rundir.live_name(os.getpid())).write_text("{}")
            rundir._last_out(path)
            code = 0
        finally:
            os._exit(code)
    os.close(read)
    try:
        await rundir.leave()
        assert os.path.isdir(path)  # the other still holds the lock: not removed under it
        assert path not in rundir._HELD
    finally:
        os.write(write, b"x")
        os.close(write)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not os.path.exists(path)
