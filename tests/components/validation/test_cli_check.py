"""``krakenpy check`` (the real CLI) reports bad CEL expressions and JSON Schemas at their JSON paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _check(tmp_path: Path, extra: dict[str, object], *flags: str) -> subprocess.CompletedProcess[str]:
    doc = {
        "version": 3,
        "host": ["http://127.0.0.1:8000"],
        "endpoints": [{"endpoint": "/a", "method": "POST", "backend": [{"url_pattern": "/a"}], "extra_config": extra}],
    }
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEND_")}
    argv = [sys.executable, "-m", "krakenpy", "check", "-c", str(path), *flags]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


def test_cli_check_reports_cel_syntax_errors_and_schema_errors(tmp_path: Path) -> None:
    extra = {
        "validation/cel": [{"check_expr": "req_method == 'POST'"}, {"check_expr": "req_params.Id =="}],
        "validation/json-schema": {"properties": {"age": {"minimum": "zero"}}},
    }
    out = _check(tmp_path, extra)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "endpoints[0].extra_config.validation/cel[1].check_expr: CEL syntax error" in text
    assert "endpoints[0].extra_config.validation/json-schema.properties.age.minimum: invalid JSON Schema" in text
    assert "Traceback" not in text


def test_cli_check_accepts_valid_checks_and_warns_about_skipped_ones(tmp_path: Path) -> None:
    extra = {
        "validation/cel": [{"check_expr": "req_method == 'POST'"}, {"check_expr": "req_method == 1"}],
        "validation/json-schema": {"type": "object", "required": ["name"]},
    }
    out = _check(tmp_path, extra)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Syntax OK!" in out.stdout
    assert "validation/cel[1].check_expr: skipped, as KrakenD does: type check failed" in out.stdout + out.stderr


def test_cli_check_rejects_a_cel_item_without_check_expr(tmp_path: Path) -> None:
    out = _check(tmp_path, {"validation/cel": [{"check_exp": "req_method == 'POST'"}]})
    assert out.returncode == 1
    assert "validation/cel[0]" in out.stdout + out.stderr
