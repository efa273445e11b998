"""``python -m bench.corpus``: its verdicts on small configs made here, and the ``check`` count beside them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.corpus import check, judge, main

HOST = ["http://127.0.0.1:18999"]


def _write(
    folder: Path, name: str, extra: dict[str, Any] | None = None, root: dict[str, Any] | None = None, **endpoint: Any
) -> Path:
    doc: dict[str, Any] = {
        "version": 3,
        "extra_config": extra or {},
        "endpoints": [{"endpoint": "/a", "backend": [{"host": HOST, "url_pattern": "/a"}], **endpoint}],
        **(root or {}),
    }
    path = folder / name
    path.write_bytes(orjson.dumps(doc))
    return path


def _lua_backend(folder: Path, name: str, sources: list[str]) -> Path:
    doc = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": f"/{i}",
                "backend": [
                    {
                        "host": HOST,
                        "url_pattern": "/",
                        "extra_config": {"modifier/lua-backend": {"sources": [source], "pre": "print(1)"}},
                    }
                ],
            }
            for i, source in enumerate(sources)
        ],
    }
    path = folder / name
    path.write_bytes(orjson.dumps(doc))
    return path


def test_needs_files_lists_every_missing_file(tmp_path: Path) -> None:
    path = _lua_backend(tmp_path, "c.json", ["one.lua", "two.lua", "one.lua"])
    verdict = asyncio.run(judge(path))
    assert verdict.status == "needs files"
    assert verdict.reason == f"missing: {tmp_path / 'one.lua'}, {tmp_path / 'two.lua'}"


def test_a_genuine_build_error_beside_a_missing_file_is_refused(tmp_path: Path) -> None:
    """A missing file first and a script that does not compile after it: KrakenD would refuse the
    config even with the file, so it is not a config that merely needs files."""
    (tmp_path / "bad.lua").write_text("this is ( not lua\n")
    path = _lua_backend(tmp_path, "c.json", ["missing.lua", "bad.lua"])
    verdict = asyncio.run(judge(path))
    assert verdict.status == "refused"
    assert "syntax error" in verdict.reason


def test_a_field_accepted_without_effect_makes_the_config_partial(tmp_path: Path) -> None:
    """Registration with a Revoke Server is asked for and not done: not everything the config asks for."""
    revoker = {"N": 100, "P": 0.0000001, "hash_name": "optimal", "TTL": 1500, "port": 1234}
    revoker |= {"token_keys": ["jti"], "revoke_server_ping_url": "http://127.0.0.1:18998/ping"}
    path = _write(tmp_path, "c.json", {"auth/revoker": revoker})
    verdict = asyncio.run(judge(path))
    assert verdict.status == "partial"
    assert verdict.missing == ["auth/revoker.revoke_server_ping_url"]
    # `check` names no unsupported namespace for it: a field is not a namespace
    assert check(path).passes


def test_namespaces_krakend_reads_elsewhere_are_flagged_not_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, "c.json", {"qos/ratelimit/router": {"max_rate": 10}})
    verdict = asyncio.run(judge(path))
    assert verdict.status == "full"
    assert verdict.misplaced == ["extra_config.qos/ratelimit/router"]


def test_check_counts_an_unsupported_namespace_and_a_refusal(tmp_path: Path) -> None:
    ee = _write(tmp_path, "ee.json", extra_config={"modifier/response-headers": {"add": {"X-A": ["1"]}}})
    unknown = _write(tmp_path, "unknown.json", {"security/secure-headers": {}})
    plugin = _write(
        tmp_path,
        "plugin.json",
        root={"plugin": {"folder": "./plugins/", "pattern": ".so"}},
        extra_config={"plugin/req-resp-modifier": {"name": ["mine"]}},
    )
    assert check(ee).code == 0 and check(ee).unsupported == ["modifier/response-headers"]
    assert check(unknown).passes  # an unknown namespace is not unsupported: KrakenD ignores it too
    refused = check(plugin)
    assert refused.code == 1 and "Go plugins" in refused.error
    assert asyncio.run(judge(ee)).status == "partial"


def test_main_prints_both_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "full.json")
    _lua_backend(tmp_path, "files.json", ["gone.lua"])
    assert main(["--corpus", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "**1 full** · **0 partial** · **1 needs files** · **0 refused** (of 2)" in out
    assert "naming no unsupported namespace: **2** of 2" in out
    assert main(["--corpus", str(tmp_path), "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["check_passes"] == 2
    assert [c["check"]["passes"] for c in report["configs"]] == [True, True]
