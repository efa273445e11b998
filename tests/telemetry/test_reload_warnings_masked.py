"""The ``run`` supervisor's lines mask with the redactor of the configuration it serves, and a
reload it accepts brings its own: the ``reload N: K warning(s): …`` line, which quotes the new
configuration's warnings, was written while the old configuration's redactor still masked, so a
value under a key only the new ``redact`` list names went to the log as it was."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from tests.cli_gateway import gateway_process
from tests.conftest import free_port
from tests.telemetry.test_basic_log_redaction import _lines, _wait_for

CANARY = "reload-warn-c4n4ry-61fe"


def _doc(port: int, *, warned: bool) -> dict[str, Any]:
    """``warned``: a ``redact`` list naming ``sesame`` and a backend whose ``sd: dns`` host (which
    quotes a value under it) is warned about."""
    if not warned:
        return {"version": 3, "port": port, "endpoints": []}
    host = f"ftp://127.0.0.1/?sesame={CANARY}"
    return {
        "version": 3,
        "port": port,
        "extra_config": {"telemetry/access_log": {"redact": {"query_keys": ["sesame"]}}},
        "endpoints": [{"endpoint": "/a", "backend": [{"host": [host], "url_pattern": "/", "sd": "dns"}]}],
    }


async def test_a_reloads_warnings_line_masks_with_the_new_configuration(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(_doc(port, warned=False)))
    with gateway_process(config, port=port, workers=1) as proc, _lines(proc) as lines:
        config.write_text(json.dumps(_doc(port, warned=True)))
        proc.send_signal(signal.SIGHUP)
        await _wait_for(lines, "reload 1 applied by 1/1 workers")
        said = await _wait_for(lines, "reload 1: endpoints[0].backend[0].host[0]: ")
    assert "sesame=[REDACTED]" in said, "".join(lines)
    logged = [line for line in lines if "KRAKEND" in line and CANARY in line]
    assert not logged, logged
