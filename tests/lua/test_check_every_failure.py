"""``check`` says every compile failure of one Lua block in one run: its ``pre`` and ``post`` code and
each of its ``sources``, each at its own JSON path with the file's name (it stopped at the ``pre``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_gateway import check_config

BLOCK = "endpoints[0].extra_config.{ns}"


@pytest.mark.parametrize(("ns", "level"), [("modifier/lua-endpoint", "endpoint"), ("modifier/lua-backend", "backend")])
def test_every_failure_of_one_block_is_said(tmp_path: Path, ns: str, level: str) -> None:
    (tmp_path / "first.lua").write_text("local a = = 1\n")
    (tmp_path / "fine.lua").write_text("local ok = 1\n")
    (tmp_path / "second.lua").write_text("function f(\n")
    block = {"sources": ["first.lua", "fine.lua", "second.lua", "gone.lua"], "pre": "local p = = 1", "post": "x ="}
    backend: dict[str, object] = {"url_pattern": "/", "host": ["http://127.0.0.1:8000"]}
    endpoint: dict[str, object] = {"endpoint": "/a", "backend": [backend]}
    (endpoint if level == "endpoint" else backend)["extra_config"] = {ns: block}
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps({"version": 3, "endpoints": [endpoint]}))
    out = check_config(config)
    where = (BLOCK if level == "endpoint" else "endpoints[0].backend[0].extra_config.{ns}").format(ns=ns)
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR: ")]
    assert out.returncode == 1, out.stderr
    assert [e.split(": ", 2)[1] for e in errors] == [
        f"{where}.pre",
        f"{where}.post",
        f"{where}.sources[0]",
        f"{where}.sources[2]",
        f"{where}.sources[3]",
    ], out.stderr
    assert "pre-script:1:" in errors[0] and "post-script:1:" in errors[1], out.stderr
    assert "first.lua:1:" in errors[2] and "second.lua:" in errors[3] and "gone.lua" in errors[4], out.stderr
    assert "5 error(s)" in out.stderr, out.stderr
