"""A component's build warning (a CEL check or a ``security/policies`` JWT section that is never
evaluated) is said once per start and once per reload: the components logged it as they built besides
adding it to the build's warnings, so every process that built said it again (the first worker's
start printed it twice, each other worker once more, and a reload once per worker besides its summary,
which showed only the first three warnings)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.server.process import Gateway, write_json

CEL = "endpoints[0].extra_config.validation/cel[0].check_expr: never evaluated: mentions none of req, resp, JWT"
POLICIES = "endpoints[0].extra_config.security/policies.jwt: never evaluated without auth/validator"


def _config(port: int, endpoints: int) -> dict[str, Any]:
    backend = {"host": [f"127.0.0.1:{port}"], "url_pattern": "/__health"}
    extra = {"validation/cel": [{"check_expr": "1 + 1 == 2"}], "security/policies": {"jwt": {"policies": ["true"]}}}
    listed = [{"endpoint": f"/e{i}", "extra_config": extra, "backend": [backend]} for i in range(endpoints)]
    return {"version": 3, "port": port, "listen_ip": "127.0.0.1", "endpoints": listed}


def test_a_components_build_warning_is_said_once_per_start_and_per_reload(tmp_path: Path) -> None:
    port = free_port()
    config = write_json(tmp_path / "krakend.json", _config(port, 1))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        gateway.worker_pids(2)
        gateway.wait_log(r"KRAKEND INFO: Starting the KrakenD instance")
        started = gateway.log
        assert started.count(CEL) == 1, started
        assert started.count(POLICIES) == 1, started
        # a reload with four endpoints: eight warnings, each said once (not three, not once per worker)
        write_json(config, _config(port, 4))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 applied by 2/2 workers")
    finally:
        gateway.stop()
    reloaded = gateway.log[len(started) :]
    for i in range(4):
        for warning in (CEL, POLICIES):
            line = f"reload 1: {warning.replace('endpoints[0]', f'endpoints[{i}]')}"
            assert reloaded.count(line) == 1, reloaded
    assert reloaded.count("never evaluated") == 8, reloaded
    assert reloaded.count("reload 1: 8 warning(s)\n") == 1, reloaded
