"""``check`` prints what the components log while it builds them with the warnings; a line logged at
ERROR or CRITICAL keeps its level in sight (``WARNING: (logged at ERROR) …``), where it was printed as a
plain warning. ``check`` still exits 0: the build went through, and ``run`` starts with the same line
in its log at ERROR.

No component logs at ERROR while it is built today (every sample and corpus config was checked for
one), so the real ``check`` runs in this process with the real build wrapped in one that logs as a
component would first: the only stand-in."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import krakenpy.gateway
from krakenpy.cli import main


@pytest.fixture
def logging_build(monkeypatch: pytest.MonkeyPatch) -> None:
    real = krakenpy.gateway.build_gateway

    async def build(*args: Any, **kwargs: Any) -> Any:
        log = logging.getLogger("krakenpy.telemetry")
        log.error("[SERVICE: X] cannot reach %s", "collector")
        log.critical("[SERVICE: Y] gave up")
        log.warning("[SERVICE: Z] slow")
        return await real(*args, **kwargs)

    monkeypatch.setattr(krakenpy.gateway, "build_gateway", build)


def test_a_line_logged_at_error_keeps_its_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], logging_build: None
) -> None:
    doc = {
        "version": 3,
        "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/", "host": ["127.0.0.1:8000"]}]}],
    }
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    code = main(["check", "-c", str(config)])
    err = capsys.readouterr().err.splitlines()
    assert code == 0, err
    assert "WARNING: (logged at ERROR) [SERVICE: X] cannot reach collector" in err
    assert "WARNING: (logged at CRITICAL) [SERVICE: Y] gave up" in err
    assert "WARNING: [SERVICE: Z] slow" in err
    assert "3 warning(s) in " + str(config) in err
