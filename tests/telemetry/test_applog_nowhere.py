"""``telemetry/logging`` with ``stdout`` and ``syslog`` off: the application log goes nowhere (as in
KrakenD), not to standard error through ``logging.lastResort`` (real CLI, a backend that refuses)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from tests.cli_gateway import gateway_process, stop
from tests.conftest import free_port


def test_failures_go_nowhere_when_stdout_and_syslog_are_off(tmp_path: Path) -> None:
    port, refused = free_port(), free_port()
    config = tmp_path / "krakend.json"
    config.write_text(
        json.dumps(
            {
                "version": 3,
                "port": port,
                "listen_ip": "127.0.0.1",
                "extra_config": {"telemetry/logging": {"level": "ERROR", "prefix": "[P]", "stdout": False}},
                "endpoints": [
                    {"endpoint": "/b", "backend": [{"host": [f"http://127.0.0.1:{refused}"], "url_pattern": "/e"}]}
                ],
            }
        )
    )
    with gateway_process(config, port=port) as proc:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/b", timeout=10).read()
        except urllib.error.HTTPError as err:
            assert err.code == 500
        out, err_text = stop(proc)
    assert '"/b"' in out  # the access log still prints: the request was served and failed
    assert "[ENDPOINT: /b]" not in err_text, err_text
    assert "[ENDPOINT: /b]" not in out, out
