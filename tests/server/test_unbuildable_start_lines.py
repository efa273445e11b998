"""A start whose configuration does not build (a Lua source missing) says so once: its errors and their
count as ``check`` prints them, then ``the configuration does not build: not serving``; no ``giving
up: draining 0 workers`` after it (nothing served: nothing drains). A stop says how many workers it
drains in plain words (``1 worker``, not ``1 workers``) (real CLI)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.cli_gateway import gateway_process
from tests.conftest import ROOT, free_port
from tests.server.process import write_json


def test_a_configuration_that_does_not_build_is_said_once_and_nothing_drains(tmp_path: Path) -> None:
    lua = {"modifier/lua-endpoint": {"sources": ["missing.lua"], "pre": "x()"}}
    endpoint = {"endpoint": "/x", "extra_config": lua, "backend": [{"host": ["http://127.0.0.1:19"]}]}
    config = write_json(tmp_path / "krakend.json", {"version": 3, "port": free_port(), "endpoints": [endpoint]})
    done = subprocess.run(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-w", "2"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert said.count("missing.lua: No such file or directory") == 1, said
    assert said.count("1 error(s) in ") == 1, said
    assert said.count("the configuration does not build: not serving") == 1, said
    assert "draining" not in said and "giving up" not in said, said


def test_a_stop_counts_its_workers_in_plain_words(tmp_path: Path) -> None:
    port = free_port()
    config = write_json(tmp_path / "krakend.json", {"version": 3, "port": port, "endpoints": []})
    with gateway_process(config, port=port, workers=1) as proc:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert "SIGTERM: draining 1 worker (max_shutdown_wait_time" in out, out
