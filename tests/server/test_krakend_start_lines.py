"""KrakenD's own start lines (``Starting the KrakenD instance``, gin's ``Listening on port``), word for
word and once per start (not once per worker): log-based readiness checks written for KrakenD match."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import free_port
from tests.server.process import Gateway, write_json


def test_krakend_start_lines_once_per_start(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "krakend.json"
    write_json(config, {"version": 3, "port": port, "listen_ip": "127.0.0.1", "endpoints": []})
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        gateway.wait_log(r"listening on .* \(pid \d+, worker 2\)")
        gateway.wait_log(r"listening on .* \(pid \d+, worker 1\)")
        gateway.wait_log(rf"KRAKEND INFO: \[SERVICE: Gin\] Listening on port: {port}$")
    finally:
        gateway.stop()
    log = gateway.log
    assert log.count("KRAKEND INFO: Starting the KrakenD instance") == 1, log
    assert log.count(f"[SERVICE: Gin] Listening on port: {port}") == 1, log
