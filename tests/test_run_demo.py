"""``make run``'s script: loopback by default, says where it listens, a configurable demo-backend
port, a clear error for a busy port, a hint the chosen sample really serves."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

SCRIPT = ROOT / "sample-configs" / "run_demo.py"


def _start(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRAKEND_", "FC_"))}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _hint(proc: subprocess.Popen[str], timeout: float = 30.0) -> list[str]:
    """The script's lines up to and including the ``try:`` hint."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("try: "):
            return lines
    raise AssertionError(f"no hint: {lines} {proc.stderr.read() if proc.stderr else ''}")


def _get(url: str, timeout: float = 15.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return err


@pytest.mark.parametrize(
    ("sample", "path"),
    [
        ("krakend.json", "/users/1"),
        ("sequential.json", "/posts/20/with-author"),
        ("flexible/krakend.tmpl", "/users/1"),
    ],
)
def test_run_demo_serves_on_loopback_with_a_working_hint(sample: str, path: str) -> None:
    port, backend = free_port(), free_port()
    proc = _start(
        "--config", str(ROOT / "sample-configs" / sample), "--port", str(port), "--backend-port", str(backend)
    )
    try:
        lines = _hint(proc)
        assert f"gateway on http://127.0.0.1:{port}" in lines[-2] and "this machine only" in lines[-2]
        assert lines[-1].startswith(f"try: curl -s http://127.0.0.1:{port}{path} ")
        assert b'"' in _get(f"http://127.0.0.1:{port}{path}")  # a JSON answer from the demo backend
        listening = socket.socket()
        with listening:
            # bound to loopback only: the same port is still free on another local address
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
            listening.bind(("127.0.0.2", port))
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("sample", "answer"),
    [
        # a publish, then the subscriber's GET: the hint must not be a GET that waits out its timeout
        ("pubsub.json", '{}{"n":1}'),
        ("mcp.json", '"name":"user_profile"'),
    ],
)
def test_run_demo_hint_answers_at_once_for_samples_without_a_plain_get(sample: str, answer: str) -> None:
    """The ``try:`` line is a command that answers: run as printed, by a shell, with curl."""
    assert shutil.which("curl"), "curl is missing (make install-test-deps installs it)"
    port, backend = free_port(), free_port()
    proc = _start(
        "--config", str(ROOT / "sample-configs" / sample), "--port", str(port), "--backend-port", str(backend)
    )
    try:
        hint = _hint(proc)[-1]
        command = hint.removeprefix("try: ").removesuffix("(Ctrl-C stops both)").strip()
        assert command.startswith("curl -s ") and f"http://127.0.0.1:{port}/" in command, hint
        _get(f"http://127.0.0.1:{port}/__health")  # the gateway is up
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=4)
        assert out.returncode == 0 and answer in out.stdout, (hint, out)
    finally:
        _stop(proc)


def test_run_demo_busy_backend_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        proc = _start("--port", str(free_port()), "--backend-port", str(busy))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"cannot use port {busy} for the demo backend on 127.0.0.1: already in use" in err
    assert f"BACKEND_PORT={busy + 1}" in err
    assert "Traceback" not in err


def test_run_demo_refuses_the_lambda_sample_with_a_pointer() -> None:
    proc = _start("--config", str(ROOT / "sample-configs" / "lambda.json"), "--port", str(free_port()))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "lambda_demo.py" in out


def test_run_demo_demo_backend_reports_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, str(ROOT / "sample-configs" / "demo_backend.py"), "--port", str(busy)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{busy}" in out.stderr and "Traceback" not in out.stderr
