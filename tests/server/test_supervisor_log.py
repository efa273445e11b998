"""The supervisor's own lines follow ``telemetry/logging``: a JSON-lines stream stays JSON lines when a
worker dies and when the gateway drains; its ``level``, ``stdout`` and ``syslog`` hold for them too
(real CLI)."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

from tests.conftest import free_port
from tests.server.process import Gateway, wait_http, write_json


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


def _config(tmp_path: Path, port: int, logging: dict[str, object]) -> Path:
    return write_json(
        tmp_path / "krakend.json",
        {
            "version": 3,
            "port": port,
            "listen_ip": "127.0.0.1",
            "extra_config": {"telemetry/logging": logging},
            "endpoints": [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
        },
    )


def test_supervisor_lines_below_the_configured_level_are_not_written(tmp_path: Path) -> None:
    port = free_port()
    config = _config(tmp_path, port, {"level": "WARNING", "prefix": "[P]", "stdout": True})
    gateway = Gateway(config, "-w", "1", cwd=tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")
        assert gateway.stop() == 0  # drained: the supervisor's INFO line was logged, below WARNING
    finally:
        gateway.kill()
    assert "draining" not in gateway.log, gateway.log


def test_supervisor_lines_go_to_syslog_only_when_stdout_is_off(tmp_path: Path) -> None:
    port = free_port()
    path = str(tmp_path / "syslog.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(10)
    config = _config(tmp_path, port, {"level": "INFO", "prefix": "[P]", "stdout": False, "syslog": True})
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"KRAKENPY_SYSLOG_ADDRESS": path})
    try:
        wait_http(f"http://127.0.0.1:{port}/__health")
        assert gateway.stop() == 0
        received: list[str] = []
        while not any("draining" in line for line in received):
            received.append(receiver.recv(8192).decode())
    finally:
        gateway.kill()
        receiver.close()
    assert "draining" not in gateway.log, gateway.log  # neither standard output nor standard error
    line = next(line for line in received if "draining" in line)
    # local3, INFO; the supervisor's own pid
    assert line.startswith("<158>") and f"[P][{gateway.proc.pid}]: INFO > SIGTERM: draining 1 worker (" in line, line
