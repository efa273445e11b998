"""A stop while a worker's gateway is still starting (its hooks run after its port opens: a NATS
subscription's first connect, up to 2 s) is prompt: the start is given up and the drain begins.
Before, the worker waited for the start to end first (here: a start held until a file appears)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import ROOT, free_port
from tests.server.process import Gateway, wait_http, write_json
from tests.server.test_fork_signals import _SLOW_START


def test_a_stop_while_the_gateway_starts_gives_the_start_up(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SLOW_START.format(release=str(tmp_path / "release")))
    port = free_port()
    doc = {
        "version": 3,
        "port": port,
        "endpoints": [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:18000"], "url_pattern": "/"}]}],
    }
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    gateway = Gateway(write_json(tmp_path / "krakend.json", doc), "-w", "1", cwd=tmp_path, env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")  # served while the start waits
        sent = time.monotonic()
        gateway.signal(signal.SIGTERM)
        try:
            code = gateway.proc.wait(10)  # the start would have held it 30 s
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 10 s after the stop:\n{gateway.log}") from None
        assert code == 0, gateway.log
        assert time.monotonic() - sent < 5
        gateway.wait_log(r"stopped while starting: start given up \(pid \d+, worker 1\)")
        assert "listening on" not in gateway.log and "Traceback" not in gateway.log, gateway.log
    finally:
        gateway.kill()
