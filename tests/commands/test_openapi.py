"""``krakenpy openapi export``: the real CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests.corpus import CORPUS, needs_corpus

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "openapi", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def _config(tmp_path: Path) -> Path:
    doc = {
        "version": 3,
        "name": "CLI API",
        "extra_config": {"documentation/openapi": {"version": "9.9", "host": "api.test"}},
        "endpoints": [
            {
                "endpoint": "/gold/{id}",
                "backend": [{"host": ["http://h"], "url_pattern": "/"}],
                "extra_config": {"documentation/openapi": {"audience": ["gold"], "summary": "Gold only"}},
            },
            {"endpoint": "/all", "backend": [{"host": ["http://h"], "url_pattern": "/"}]},
        ],
    }
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return path


def test_openapi_cli_export_to_stdout(tmp_path: Path) -> None:
    out = _cli("export", "-c", str(_config(tmp_path)))
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    validate(document)
    assert document["info"] == {"title": "CLI API", "version": "9.9"}
    assert list(document["paths"]) == ["/gold/{id}", "/all"]


def test_openapi_cli_export_to_a_file_with_audience(tmp_path: Path) -> None:
    target = tmp_path / "out" / "openapi.json"
    target.parent.mkdir()
    out = _cli("-c", str(_config(tmp_path)), "-o", str(target), "--audience", "gold")  # "export" is the default
    assert out.returncode == 0, out.stderr
    assert "written to" in out.stderr and out.stdout == ""
    document = json.loads(target.read_text())
    assert list(document["paths"]) == ["/gold/{id}"]
    assert [p.name for p in target.parent.iterdir()] == ["openapi.json"]  # no temporary file left


def test_openapi_cli_errors(tmp_path: Path) -> None:
    assert "not supported" in _cli("export", "-c", str(_config(tmp_path)), "--legacy").stderr
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "version": 3,
                "endpoints": [
                    {
                        "endpoint": f"/{n}",
                        "backend": [{"host": ["http://h"], "url_pattern": "/"}],
                        "extra_config": {"documentation/openapi": {"operation_id": "dup"}},
                    }
                    for n in ("a", "b")
                ],
            }
        )
    )
    out = _cli("export", "-c", str(bad))
    assert out.returncode == 1 and "operation id 'dup'" in out.stderr and "Traceback" not in out.stderr
    missing = _cli("export", "-c", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


@needs_corpus
@pytest.mark.parametrize(
    "name", ["022-simifiniicto-simfiny-api-gateway.json", "023-solomonai-backend-api-gateway-prod.json"]
)
def test_openapi_cli_exports_the_corpus_configs(name: str) -> None:
    out = _cli("export", "-c", str(CORPUS / name))
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    validate(document)
    assert document["info"]["contact"]["name"] == "yoan yomba"
