"""A worker the supervisor restarts (it died) says nothing the start already said: the build's warnings and
KrakenD's start lines come once per start and once per reload, not again for each replacement (worker 1's
replacement before any reload printed them all again). What the replacement itself does (its death, its
own ``listening`` line) is still logged (real CLI, ``-w 2``, SIGKILL)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.server.process import Gateway, write_json

CEL = "endpoints[0].extra_config.validation/cel[0].check_expr: never evaluated: mentions none of req, resp, JWT"


def _config(port: int) -> dict[str, Any]:
    backend = {"host": [f"127.0.0.1:{port}"], "url_pattern": "/__health"}
    extra = {"validation/cel": [{"check_expr": "1 + 1 == 2"}]}
    endpoint = {"endpoint": "/e", "extra_config": extra, "backend": [backend]}
    return {"version": 3, "port": port, "listen_ip": "127.0.0.1", "endpoints": [endpoint]}


def test_a_restarted_worker_does_not_say_the_start_again(tmp_path: Path) -> None:
    port = free_port()
    config = write_json(tmp_path / "krakend.json", _config(port))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        first = gateway.worker_pids(2)[1]
        gateway.wait_log(r"Listening on port")
        os.kill(first, signal.SIGKILL)
        gateway.wait_log(rf"worker 1 \(pid {first}\) died \(killed by SIGKILL\): restarting")
        second = gateway.wait_log(r"listening on .* \(pid (\d+), worker 1\)", count=2)[1].group(1)
        gateway.signal(signal.SIGHUP)  # said once more, by the reload; not by the replacement after it
        gateway.wait_log(r"reload 1 applied by 2/2 workers")
        os.kill(int(second), signal.SIGKILL)
        gateway.wait_log(r"listening on .* worker 1\)", count=3)
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    log = gateway.log
    assert log.count(CEL) == 2, log
    assert log.count(f"reload 1: {CEL}") == 1, log
    assert log.count("Starting the KrakenD instance") == 1, log
    assert log.count("[SERVICE: Gin] Listening on port") == 1, log
    assert log.count("died (killed by SIGKILL): restarting") == 2, log
    assert len([line for line in log.splitlines() if "listening on" in line and "worker 1)" in line]) == 3, log
