"""``krakenpy check`` refuses a ``telemetry/logging`` ``format`` outside KrakenD's schema enum
(default, logstash, custom) at its JSON path, and accepts the three (real CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_gateway import check_config


def _config(tmp_path: Path, fmt: str) -> Path:
    logging: dict[str, object] = {"level": "ERROR", "stdout": True, "format": fmt}
    if fmt == "custom":
        logging["custom_format"] = "%{message}"
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps({"version": 3, "extra_config": {"telemetry/logging": logging}, "endpoints": []}))
    return path


def test_check_refuses_an_unknown_logging_format(tmp_path: Path) -> None:
    done = check_config(_config(tmp_path, "xml"))
    assert done.returncode == 1, done
    assert "extra_config.telemetry/logging.format: 'xml' is not one of" in done.stdout + done.stderr, done


@pytest.mark.parametrize("fmt", ["default", "logstash", "custom"])
def test_check_accepts_krakend_logging_formats(tmp_path: Path, fmt: str) -> None:
    done = check_config(_config(tmp_path, fmt))
    assert done.returncode == 0, done
