"""``krakenpy run`` started with its standard output closed (``>&-``: a daemoniser, an init script) serves
and logs where it can, as KrakenD does (Go's writes to a closed descriptor fail and are ignored):
Python's ``sys.stdout`` is then ``None``, and flushing it before a fork (the config's quick check, each
worker) raised AttributeError, so the gateway never started."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson

from tests.cli_gateway import stop, wait_http
from tests.conftest import ROOT, free_port


def test_run_with_standard_output_closed_serves_and_logs_to_its_file(tmp_path: Path) -> None:
    port = free_port()
    access = tmp_path / "access.log"
    config = tmp_path / "krakend.json"
    config.write_text(
        orjson.dumps(
            {
                "version": 3,
                "port": port,
                "extra_config": {
                    "telemetry/logging": {"level": "DEBUG", "stdout": True},
                    "telemetry/access_log": {"file": str(access)},
                },
                "endpoints": [
                    {"endpoint": "/x", "backend": [{"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/__health"}]}
                ],
            }
        ).decode()
    )
    proc = subprocess.Popen(
        # the shell closes descriptor 1 for the gateway it becomes
        ["/bin/sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-w", "2"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/x", timeout=5) as resp:
            assert resp.status == 200
    finally:
        _, err = stop(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    lines = access.read_text()
    assert '| GET      "/x"' in lines and '"/__health"' in lines
