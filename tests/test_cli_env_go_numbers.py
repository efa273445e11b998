"""A ``KRAKEND_*`` variable is text, decoded as the file's strings are (koanf's weak decoding, Go's
``strconv``): ``KRAKEND_PORT=017`` is port 15 (a leading 0 is octal), ``" 9000"`` is no integer, a
boolean is Go's ``ParseBool``'s (``yes`` is none). Python's ``int()``/``"yes"`` used to read them
otherwise than the same text written in the file (real CLI)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.cli_gateway import check_config, gateway_process
from tests.conftest import free_port


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "krakend.json"
    backend = {"url_pattern": "/__health", "host": ["127.0.0.1:8000"]}
    config.write_text(json.dumps({"version": 3, "port": 8080, "endpoints": [{"endpoint": "/a", "backend": [backend]}]}))
    return config


def test_a_port_with_a_leading_zero_is_octal_as_in_the_file(tmp_path: Path) -> None:
    port = free_port()
    with gateway_process(_config(tmp_path), port=port, env={"KRAKEND_PORT": f"0{port:o}"}):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__health", timeout=5) as answer:
            assert answer.status == 200


@pytest.mark.parametrize(("name", "value"), [("KRAKEND_PORT", " 9000"), ("KRAKEND_DEBUG_ENDPOINT", "yes")])
def test_what_go_does_not_parse_is_an_error_naming_the_variable(tmp_path: Path, name: str, value: str) -> None:
    config = _config(tmp_path)
    if name == "KRAKEND_DEBUG_ENDPOINT":
        config.write_text(json.dumps({**json.loads(config.read_text()), "debug_endpoint": False}))
    out = check_config(config, env={name: value})
    assert out.returncode == 1, out.stderr
    assert name in out.stderr, out.stderr


def test_go_booleans_and_integers_still_read(tmp_path: Path) -> None:
    out = check_config(_config(tmp_path), "-d", env={"KRAKEND_PORT": "0x2382", "KRAKEND_DEBUG_ENDPOINT": "T"})
    assert out.returncode == 0, out.stderr
    assert "port=9090 " in out.stdout, out.stdout
