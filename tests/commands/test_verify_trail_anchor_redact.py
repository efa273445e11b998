"""A real ``run`` whose redaction lists query keys named like the anchor's fields (``hash``, ``seq``,
``instance``, ``destination``, ``mac``) and a header ``anchor``: its anchors were masked
(``hash=[REDACTED]``) and ``verify-trail --anchors`` found none. They read back now, an intact trail
passes and one cut at its end fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.cli_gateway import ROOT, audited_deny_config, check_config
from tests.conftest import free_port
from tests.server.process import Gateway

_KEY_ENV = "KRAKENPY_TEST_ANCHOR_REDACT_KEY"


def _verify(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != _KEY_ENV} | {_KEY_ENV: "operator-key"}
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "verify-trail", *map(str, args)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_anchors_read_back_when_the_redaction_names_their_fields(tmp_path: Path) -> None:
    audit = tmp_path / "audit.log"
    port = free_port()
    settings = {"sink": "file", "path": str(audit), "anchor_interval": "1h", "fingerprint_key_env": _KEY_ENV}
    config = audited_deny_config(tmp_path, port, settings)
    doc = json.loads(config.read_text())
    redact = {"query_keys": ["hash", "seq", "instance", "destination", "mac"], "headers": ["anchor"]}
    doc["extra_config"]["telemetry/access_log"] = {"redact": redact}
    config.write_text(json.dumps(doc))
    env = {"PYTHONPATH": str(ROOT), _KEY_ENV: "operator-key"}
    checked = check_config(config, env=env)
    assert checked.returncode == 0 and "anchor" not in checked.stdout + checked.stderr, checked
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env=env)
    try:
        gateway.wait_log(r"listening on ")
        for _ in range(3):
            assert _status(f"http://127.0.0.1:{port}/x") == 403
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    log = tmp_path / "app.log"
    log.write_text(gateway.log + "\n")
    assert "audit anchor: destination=file:" in gateway.log and "hash=[REDACTED]" not in gateway.log, gateway.log

    good = _verify(audit, "--anchors", log, "--key-env", _KEY_ENV)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("intact: 3 records in 1 chain; "), good.stdout
    assert "authenticated anchor" in good.stdout, good.stdout

    lines = audit.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.log"
    cut.write_bytes(b"".join(lines[:-1]))
    bad = _verify(cut, "--anchors", log, "--key-env", _KEY_ENV)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "no record of the trail has that hash" in bad.stderr, bad.stderr
