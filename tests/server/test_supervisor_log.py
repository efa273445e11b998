"""The supervisor's own lines follow ``telemetry/logging``: a JSON-lines stream stays JSON lines when a
worker dies and when the gateway drains (real CLI)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.conftest import free_port
from tests.server.process import Gateway, write_json


def test_supervisor_log_uses_the_configured_logstash_format(tmp_path: Path) -> None:
    port = free_port()
    config = write_json(
        tmp_path / "krakend.json",
        {
            "version": 3,
            "port": port,
            "listen_ip": "127.0.0.1",
            "extra_config": {"telemetry/logging": {"level": "INFO", "format": "logstash", "stdout": True}},
            "endpoints": [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
        },
    )
    gateway = Gateway(config, "-w", "1", cwd=tmp_path)
    try:
        pid = next(iter(gateway.worker_pids(1).values()))
        os.kill(pid, signal.SIGKILL)
        gateway.wait_log(rf"worker 1 \(pid {pid}\) died \(killed by SIGKILL\): restarting")
        gateway.wait_log(r"listening on .* worker 1", count=2)
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    lines = [line for line in gateway.log.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line, the supervisor's included, is JSON
    messages = [record["message"] for record in records]
    assert any("died (killed by SIGKILL)" in m for m in messages), messages
    assert any(m.startswith("SIGTERM: draining") for m in messages), messages
    assert {record["level"] for record in records} >= {"INFO", "WARNING"}
