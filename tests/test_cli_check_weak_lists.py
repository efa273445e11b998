"""KrakenD decodes the lists of strings (``host``, ``allow``, ``deny``, ``input_headers``,
``input_query_strings``) with koanf's weak decoding: a number or a boolean is read as its text, which
its schema (``check --lint``) refuses. ``check`` and ``run`` read it the same way and say it at its JSON
path (a warning, an error with ``--lint``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_gateway import check_config


def _config(tmp_path: Path, doc: dict[str, Any]) -> Path:
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps({"version": 3, **doc}))
    return config


def _backend(**fields: Any) -> dict[str, Any]:
    return {"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/", **fields}]}]}


@pytest.mark.parametrize(
    ("host", "where", "kind", "text"),
    [
        (5, "", "a number", "'5'"),
        (True, "", "a boolean", "'1'"),
        (1e20, "", "a number", "'100000000000000000000'"),
        (["127.0.0.1:8000", 5], "[1]", "a number", "'5'"),
    ],
)
def test_a_number_in_a_host_list_is_said_at_its_path(
    tmp_path: Path, host: Any, where: str, kind: str, text: str
) -> None:
    config = _config(tmp_path, _backend(host=host))
    said = f"endpoints[0].backend[0].host{where}: {kind}, not a string: read as {text}"
    out = check_config(config)
    assert out.returncode == 0, out.stderr
    assert f"WARNING: {said}" in out.stderr, out.stderr
    linted = check_config(config, "--lint")
    assert linted.returncode == 1, linted.stderr
    assert f"ERROR: {said}" in linted.stderr, linted.stderr


@pytest.mark.parametrize("field", ["allow", "deny", "input_headers", "input_query_strings"])
def test_a_number_in_another_list_of_strings_is_said(tmp_path: Path, field: str) -> None:
    config = _config(tmp_path, _backend(host=["127.0.0.1:8000"], **{field: [7]}))
    out = check_config(config, "--lint")
    assert out.returncode == 1, out.stderr
    assert f"ERROR: endpoints[0].backend[0].{field}[0]: a number, not a string: read as '7'" in out.stderr


def test_an_async_agents_backend_host_is_said_at_its_path(tmp_path: Path) -> None:
    agent = {
        "name": "a",
        "connection": {"max_retries": 1},
        "consumer": {"topic": "t"},
        "backend": [{"url_pattern": "/", "host": 5}],
        "extra_config": {"async/amqp": {"name": "q", "host": "amqp://127.0.0.1:5672", "exchange": "e"}},
    }
    out = check_config(_config(tmp_path, {"async_agent": [agent]}), "--skip-components")
    assert "async_agent[0].backend[0].host: a number, not a string: read as '5'" in out.stderr, out.stderr
