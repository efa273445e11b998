"""``telemetry/logging``'s ``format`` outside KrakenD's list (default, logstash, custom): KrakenD runs the
file with its default pattern (a corpus config sets ``"json"``), so ``check`` warns at the field's path
and exits 0; ``--lint`` makes it an error, as KrakenD's schema lint refuses it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from tests.cli_gateway import check_config


def _check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    doc = {"version": 3, "endpoints": [], "extra_config": {"telemetry/logging": {"level": "INFO", "format": "json"}}}
    config = tmp_path / "krakend.json"
    config.write_bytes(orjson.dumps(doc))
    return check_config(config, *args)


def test_an_unknown_format_is_a_warning_at_its_path(tmp_path: Path) -> None:
    done = _check(tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "extra_config.telemetry/logging.format" in out and "'json' is not one of default, logstash, custom" in out


def test_lint_makes_it_an_error(tmp_path: Path) -> None:
    done = _check(tmp_path, "--lint")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "extra_config.telemetry/logging.format" in done.stdout + done.stderr
