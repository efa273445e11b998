"""An empty key (``{"": null}``) is an unknown key like any other, and its JSON path shows it: it was
reported at a path ending on a dot (``extra_config.security/cors.``, read as the namespace itself) or,
at the top level, at the root. Spelt ``""`` as jq writes it: ``extra_config.security/cors.""``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli_gateway import check_config


def _doc() -> dict[str, Any]:
    backend = {"host": ["http://127.0.0.1:18099"], "url_pattern": "/", "": 1}
    endpoint = {
        "endpoint": "/a",
        "backend": [backend],
        "extra_config": {"qos/ratelimit/router": {"": None, "max_rate": 10}, "proxy": {"": None}},
    }
    extra = {"security/cors": {"": None, "allow_origins": ["*"]}, "": {}}
    return {"version": 3, "": None, "extra_config": extra, "endpoints": [endpoint]}


def test_an_empty_key_is_an_unknown_key_at_a_path_that_shows_it(tmp_path: Path) -> None:
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(_doc()))
    out = check_config(config)
    lines = out.stderr.splitlines()
    assert out.returncode == 1, out.stderr
    # the strict namespaces (krakenpy's own guards): an error even without --lint
    assert 'ERROR: extra_config.security/cors."": unknown key' in lines, out.stderr
    assert 'ERROR: endpoints[0].extra_config.qos/ratelimit/router."": unknown key' in lines, out.stderr
    # elsewhere a warning, as any unknown key
    for path in ('endpoints[0].extra_config.proxy.""', 'endpoints[0].backend[0].""', '""'):
        assert f"WARNING: {path}: unknown key: ignored" in lines, out.stderr
    assert 'WARNING: extra_config."": unknown namespace: ignored' in lines, out.stderr
    assert "2 error(s) in" in out.stderr
    linted = check_config(config, "--lint")
    for path in ('endpoints[0].extra_config.proxy.""', 'endpoints[0].backend[0].""', '""'):
        assert f"ERROR: {path}: unknown key" in linted.stderr.splitlines(), linted.stderr
    assert 'ERROR: extra_config."": unknown namespace' in linted.stderr.splitlines(), linted.stderr
