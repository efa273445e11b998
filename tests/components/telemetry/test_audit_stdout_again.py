"""``telemetry/audit`` on standard output through an outage (a FIFO whose reader went away, then came
back): the end of the outage is said once, by standard output's writer, with both figures (its lines
and the trail's records dropped so far); the trail said it again on a line of its own. The records on
standard output stay one per line, none blank: ``verify-trail`` finds the gap the lost records left
and nothing else (real CLI, the application log on syslog)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.cli_gateway import ROOT, audited_deny_config, deny_requests, wait_http
from tests.conftest import free_port


def _read(fd: int, lines: int, timeout: float = 10.0) -> bytes:
    """From the FIFO until it holds ``lines`` lines."""
    got = b""
    deadline = time.monotonic() + timeout
    while got.count(b"\n") < lines:
        assert time.monotonic() < deadline, got
        try:
            got += os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.05)
    return got


class _Syslog:
    """The application log, received on a unix datagram socket."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.lines: list[str] = []

    def wait(self, pattern: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            assert time.monotonic() < deadline, self.lines
            try:
                self.lines.append(self.sock.recv(65536).decode())
            except TimeoutError:
                pass


def test_stdout_says_the_end_of_an_outage_once_with_the_trails_records(tmp_path: Path) -> None:
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"sink": "stdout"})
    doc = json.loads(config.read_text())
    doc["extra_config"]["telemetry/logging"] = {"level": "INFO", "stdout": False, "syslog": True}
    doc["extra_config"]["router"] = {"disable_access_log": True}  # standard output: the trail alone
    config.write_text(json.dumps(doc))
    syslog = _Syslog(tmp_path / "syslog.sock")
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    out = os.open(fifo, os.O_WRONLY)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KRAKENPY_SYSLOG_ADDRESS": str(tmp_path / "syslog.sock")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-w", "1"],
        cwd=tmp_path,
        env=env,
        stdout=out,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(out)
    url = f"http://127.0.0.1:{port}/x"
    try:
        wait_http(f"http://127.0.0.1:{port}/__health", proc)  # type: ignore[arg-type]
        deny_requests(url, 2)
        trail = _read(reader, 2)
        os.close(reader)  # the reader goes away: standard output refuses every write (EPIPE)
        deny_requests(url, 3)
        syslog.wait(r"audit: 3 record\(s\) not written|audit: 1 record\(s\) not written")
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # it comes back
        deny_requests(url, 2)
        trail += _read(reader, 2)
        syslog.wait(r"writing again|takes records again")
        time.sleep(0.3)  # a second line, if any, comes with the same batch
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        syslog.wait(r"dropped in total")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()
        os.close(reader)
        syslog.sock.close()
    again = [line for line in syslog.lines if "again" in line]
    assert len(again) == 1, syslog.lines
    assert re.search(
        r"stdout: writing again \(\d+ line\(s\) dropped so far; audit: 3 record\(s\) dropped so far\)", again[0]
    )
    lines = trail.splitlines(keepends=True)
    assert len(lines) == 4 and all(line.startswith(b"{") for line in lines), lines
    # the three records lost were chained: verify-trail names the gap, at the first record after it
    whole = _verify(tmp_path / "whole.jsonl", trail)
    assert whole.returncode == 1 and "whole.jsonl:3: instance " in whole.stderr, whole.stderr
    assert "seq 6 does not follow seq 2" in whole.stderr, whole.stderr
    # and each side of it is whole: no blank or extra line on either
    assert _verify(tmp_path / "before.jsonl", b"".join(lines[:2])).returncode == 0
    after = _verify(tmp_path / "after.jsonl", b"".join(lines[2:]), "--partial")
    assert after.returncode == 0 and "2 records in 1 chain" in after.stdout, after.stderr


def _verify(path: Path, trail: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    path.write_bytes(trail)
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "verify-trail", *args, str(path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
