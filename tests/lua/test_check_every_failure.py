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
    # lua-endpoint's post is never run (KrakenD loads only a router-level pre): said to have no effect, not
    # compiled, so its syntax error is no error of the file
    posted = level == "backend"
    assert [e.split(": ", 2)[1] for e in errors] == [
        f"{where}.pre",
        *([f"{where}.post"] if posted else []),
        f"{where}.sources[0]",
        f"{where}.sources[2]",
        f"{where}.sources[3]",
    ], out.stderr
    assert "pre-script:1:" in errors[0], out.stderr
    if posted:
        assert "post-script:1:" in errors[1], out.stderr
    first, second, gone = errors[-3:]
    assert "first.lua:1:" in first and "second.lua:" in second and "gone.lua" in gone, out.stderr
    assert f"{5 if posted else 4} error(s)" in out.stderr, out.stderr
    if not posted:
        assert f"WARNING: {where}.post: accepted; no effect" in out.stderr, out.stderr
