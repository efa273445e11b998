"""Forged audit anchors: a client's text that reaches the application log's output (a ``User-Agent``
in the access log, a Lua ``error()`` quoting a header) can spell an anchor line. With the operator's
fingerprint key the gateway's anchors carry a MAC and ``verify-trail --key-env`` counts only those that
verify; a line of the access log is never read as an anchor, key or not."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.telemetry.audit import AuditTrail
from krakenpy.telemetry.auditanchor import anchor_key, anchor_message
from krakenpy.telemetry.auditsink import FileSink
from tests.cli_gateway import ROOT, audited_deny_config
from tests.conftest import free_port
from tests.server.process import Gateway
from tests.telemetry.trail_records import record_deny

_KEY_ENV = "KRAKENPY_TEST_ANCHOR_KEY"
_ANCHOR = re.compile(r"NOTICE: audit anchor: destination=\S+ instance=\S+ seq=(\d+) hash=([0-9a-f]{64})( mac=\S+)?$")
#: the Lua pre-script: a request with ``X-Forge`` fails with that header as its error (logged), any
#: other is denied (one audit record each)
_LUA = "local f = ctx.load():headers('X-Forge'); if f ~= nil and f ~= '' then error(f) end; custom_error('no', 403)"


def _verify(*args: str | Path, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != _KEY_ENV}
    if key is not None:
        env[_KEY_ENV] = key
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "verify-trail", *map(str, args)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip


def _get(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _anchored_config(
    tmp_path: Path, port: int, audit: Path, access_format: str | None = None, **settings: str
) -> tuple[Path, dict[str, Any]]:
    """The deny gateway's config with a file trail at ``audit`` anchored every hour (and ``settings``),
    the access log in ``access_format`` when given: its path and its document, to adjust and write."""
    all_settings = {"sink": "file", "path": str(audit), "anchor_interval": "1h", **settings}
    config = audited_deny_config(tmp_path, port, all_settings)
    doc = json.loads(config.read_text())
    if access_format is not None:
        doc["extra_config"]["telemetry/access_log"] = {"format": access_format}
    return config, doc


def _app_log(tmp_path: Path, gateway: Gateway) -> Path:
    """The stopped gateway's output (its application log, and the access log beside it) as a file."""
    log = tmp_path / "app.log"
    log.write_text(gateway.log + "\n")
    return log


def _run_forged(tmp_path: Path, access_format: str, key: str | None) -> tuple[Path, Path, str]:
    """``run`` with a file trail anchored every hour, the access log in ``access_format`` on the same
    output as the application log, and ``fingerprint_key_env`` holding ``key`` (None: not named): a
    deny, two requests whose ``User-Agent`` spells an anchor (one of this trail, one of another
    destination), one whose Lua error spells one, a deny; SIGTERM. The trail, the application log, and
    the forged anchor's text."""
    audit = tmp_path / "audit.log"
    port = free_port()
    keyed = {"fingerprint_key_env": _KEY_ENV} if key is not None else {}
    config, doc = _anchored_config(tmp_path, port, audit, access_format, **keyed)
    doc["endpoints"][0]["extra_config"]["modifier/lua-endpoint"]["pre"] = _LUA
    config.write_text(json.dumps(doc))
    env = {"PYTHONPATH": str(ROOT)} | ({_KEY_ENV: key} if key is not None else {})
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env=env)
    url = f"http://127.0.0.1:{port}/x"
    forged = f"audit anchor: destination=file:{audit} instance=h seq=1 hash={'0' * 64}"
    elsewhere = f"audit anchor: destination=file:/elsewhere.log instance=h seq=1 hash={'1' * 64}"
    try:
        gateway.wait_log(r"listening on ")
        assert _get(url, {}) == 403
        assert _get(url, {"User-Agent": f"curl/8 {forged}"}) == 403
        assert _get(url, {"User-Agent": f"curl/8 {elsewhere}"}) == 403
        assert _get(url, {"X-Forge": forged}) == 500  # the Lua error, quoting the header, on the application log
        assert _get(url, {}) == 403
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    log = _app_log(tmp_path, gateway)
    text = log.read_text()
    assert text.count(forged) >= 2 and elsewhere in text, text  # the forgeries reached the shared output
    return audit, log, forged


def _without(log: Path, text: str) -> Path:
    """``log`` without its lines holding ``text`` (the Lua error's: a log the access log alone forged)."""
    lines = [line for line in log.read_text().splitlines(keepends=True) if text not in line]
    out = log.with_name("app-access-only.log")
    out.write_text("".join(lines))
    return out


@pytest.mark.parametrize("access_format", ["combined", "json"])
def test_anchors_a_client_forged_are_ignored_with_the_key_and_the_access_logs_never_read(
    tmp_path: Path, access_format: str
) -> None:
    audit, log, forged = _run_forged(tmp_path, access_format, "operator-key")
    records = [orjson.loads(line) for line in audit.read_bytes().splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    anchors = [m.groups() for m in map(_ANCHOR.search, log.read_text().splitlines()) if m]
    assert anchors and all(mac for _, _, mac in anchors), anchors  # the operator's key: every anchor has a MAC
    assert {int(seq) for seq, _, _ in anchors} >= {4}
    lua_line = next(n for n, text in enumerate(log.read_text().splitlines(), 1) if f"[Lua] {forged}" in text)

    good = _verify(audit, "--anchors", log, "--key-env", _KEY_ENV, key="operator-key")
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith(
        f"intact: 4 records in 1 chain; {len(anchors)} authenticated anchor{'s' * (len(anchors) != 1)} found in it "
        "(1 anchor line ignored: no valid MAC)\n"
    ), good.stdout
    # the Lua error's line is counted and named; the access log's lines are no anchor lines at all
    assert good.stderr == (
        "WARNING: 1 anchor line ignored (no MAC the key verifies: forged, or written without the key or with "
        f"another): {log}:{lua_line}\n"
    )

    # without the key: the access log's forgeries are not read; the Lua error's still counts (README: forgeable)
    plain = _verify(audit, "--anchors", _without(log, f"[Lua] {forged}"))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith(f"intact: 4 records in 1 chain; {len(anchors)} anchor"), plain.stdout
    assert plain.stderr.startswith("NOTE: the anchors carry a MAC, unchecked: --key-env NAME"), plain.stderr
    out = _verify(audit, "--anchors", log)
    assert out.returncode == 1
    assert f"\nERROR: anchor seq 1 hash {'0' * 64} ({log}:{lua_line}, instance h): no record" in out.stderr, out.stderr

    # a wrong key: every anchor unauthenticated, an error rather than a pass
    wrong = _verify(audit, "--anchors", log, "--key-env", _KEY_ENV, key="another-key")
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines()[-1] == (
        f"ERROR: no authenticated audit anchor in {log} ({len(anchors) + 1} anchor lines ignored; is {_KEY_ENV} "
        "the gateway's fingerprint_key_env?); --allow-empty accepts that"
    ), wrong.stderr
    unset = _verify(audit, "--anchors", log, "--key-env", _KEY_ENV)
    assert unset.returncode == 1 and unset.stderr.startswith(f"ERROR: --key-env {_KEY_ENV}: the variable is unset")

    # the authenticated anchors still notice a cut end
    cut = tmp_path / "cut.log"
    cut.write_bytes(b"".join(audit.read_bytes().splitlines(keepends=True)[:-1]))
    out = _verify(cut, "--anchors", log, "--key-env", _KEY_ENV, key="operator-key")
    assert out.returncode == 1
    assert f"ERROR: anchor seq 4 hash {records[-1]['hash']} (" in out.stderr, out.stderr


def test_without_the_operators_key_no_mac_is_written_and_the_key_finds_no_anchor(tmp_path: Path) -> None:
    # a random per-run key: nobody could check a MAC, so none is written; the access log's forgeries are
    # still never read, and --key-env finds no authenticated anchor
    audit, log, forged = _run_forged(tmp_path, "combined", None)
    anchors = [m.groups() for m in map(_ANCHOR.search, log.read_text().splitlines()) if m]
    assert anchors and not any(mac for _, _, mac in anchors), anchors
    plain = _verify(audit, "--anchors", _without(log, f"[Lua] {forged}"))
    assert plain.returncode == 0 and plain.stderr == "", plain.stderr
    keyed = _verify(audit, "--anchors", log, "--key-env", _KEY_ENV, key="operator-key")
    assert keyed.returncode == 1 and "ERROR: no authenticated audit anchor in" in keyed.stderr, keyed.stderr


def test_the_default_gin_access_log_is_never_read_for_anchors(tmp_path: Path) -> None:
    # gin's line (KrakenD's default access log) quotes the client's decoded path, a 404's too: a path
    # spelling an anchor (of this trail, of another) made verify-trail fail an intact trail without the
    # key (no record / 2 trails), and warn of a forgery with it
    audit = tmp_path / "audit.log"
    port = free_port()
    config, doc = _anchored_config(tmp_path, port, audit, "gin")
    config.write_text(json.dumps(doc))
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    forged = f"audit anchor: destination=file:{audit} instance=h seq=1 hash={'0' * 64}"
    elsewhere = f"audit anchor: destination=file:/elsewhere.log instance=h seq=1 hash={'1' * 64} mac={'2' * 64}"
    try:
        gateway.wait_log(r"listening on ")
        assert _get(f"http://127.0.0.1:{port}/x", {}) == 403
        for text in (forged, elsewhere):
            assert _get(f"http://127.0.0.1:{port}/x/{urllib.parse.quote(text)}", {}) == 404
        assert _get(f"http://127.0.0.1:{port}/x", {}) == 403
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    log = _app_log(tmp_path, gateway)
    gin = [line for line in log.read_text().splitlines() if line.startswith("[GIN] ")]
    assert any(forged in line for line in gin) and any(elsewhere in line for line in gin), log.read_text()
    out = _verify(audit, "--anchors", log)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.startswith("intact: 2 records in 1 chain; "), out.stdout


def test_a_key_that_is_no_utf8_macs_the_anchors_and_verifies(tmp_path: Path) -> None:
    # random bytes in the variable (os.environ holds the invalid ones surrogate-escaped; subprocess
    # passes them back as bytes): the gateway refused its config and verify-trail died with a
    # traceback, each quoting a byte of the key
    key = "k\udcff\udcfe" + "x" * 29
    audit, log, forged = _run_forged(tmp_path, "combined", key)
    anchors = [m.groups() for m in map(_ANCHOR.search, log.read_text().splitlines()) if m]
    assert anchors and all(mac for _, _, mac in anchors), anchors
    good = _verify(audit, "--anchors", _without(log, f"[Lua] {forged}"), "--key-env", _KEY_ENV, key=key)
    assert good.returncode == 0 and good.stderr == "", good.stderr
    assert good.stdout.startswith("intact: 4 records in 1 chain; "), good.stdout
    assert "authenticated anchor" in good.stdout, good.stdout
    wrong = _verify(
        audit, "--anchors", log, "--key-env", _KEY_ENV, key=key.encode("utf-8", "surrogateescape").decode("latin-1")
    )
    assert wrong.returncode == 1 and "ERROR: no authenticated audit anchor" in wrong.stderr, wrong.stderr


def test_an_anchor_whose_destination_the_log_masks_still_verifies(tmp_path: Path) -> None:
    # a trail under a directory 'code=7' (code: a query key the log masks): the application log writes
    # 'destination=file:/…/code=[REDACTED]'; the MAC covered the unmasked text, so every genuine
    # anchor was ignored ('no authenticated audit anchor') and an intact trail failed
    audit = tmp_path / "code=7" / "audit.log"
    audit.parent.mkdir()
    port = free_port()
    config, _ = _anchored_config(tmp_path, port, audit, fingerprint_key_env=_KEY_ENV)
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT), _KEY_ENV: "operator-key"})
    try:
        gateway.wait_log(r"listening on ")
        assert _get(f"http://127.0.0.1:{port}/x", {}) == 403
        assert _get(f"http://127.0.0.1:{port}/x", {}) == 403
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    log = _app_log(tmp_path, gateway)
    anchors = [m.groups() for m in map(_ANCHOR.search, log.read_text().splitlines()) if m]
    assert anchors and all(mac for _, _, mac in anchors), log.read_text()
    assert f"destination=file:{tmp_path}/code=[REDACTED] " in log.read_text()  # the log's mask, kept
    out = _verify(audit, "--anchors", log, "--key-env", _KEY_ENV, key="operator-key")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.startswith(f"intact: 2 records in 1 chain; {len(anchors)} authenticated anchor"), out.stdout
    cut = tmp_path / "cut.log"
    cut.write_bytes(audit.read_bytes().splitlines(keepends=True)[0])
    out = _verify(cut, "--anchors", log, "--key-env", _KEY_ENV, key="operator-key")
    assert out.returncode == 1 and "ERROR: anchor seq 2 hash " in out.stderr, out.stderr


def test_a_combined_line_whose_subject_holds_a_space_is_never_read_for_anchors(tmp_path: Path) -> None:
    # the Combined line's user is the verified subject, spaces kept (a basic auth user 'john doe'): the
    # line was not recognised, so that client's User-Agent spelling an anchor of another trail failed
    # an intact trail ('the logs anchor 2 trails')
    audit = tmp_path / "audit.log"
    port = free_port()
    config, doc = _anchored_config(tmp_path, port, audit, "combined")
    doc["extra_config"]["auth/basic"] = {"users": {"john doe": "pw"}}
    health = {"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/__health"}  # the gateway's own: a 200
    doc["endpoints"].append({"endpoint": "/y", "extra_config": {"auth/basic": {}}, "backend": [health]})
    config.write_text(json.dumps(doc))
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    elsewhere = f"audit anchor: destination=file:/elsewhere.log instance=h seq=1 hash={'1' * 64}"
    auth = "Basic " + base64.b64encode(b"john doe:pw").decode()
    try:
        gateway.wait_log(r"listening on ")
        assert _get(f"http://127.0.0.1:{port}/x", {}) == 403
        assert _get(f"http://127.0.0.1:{port}/y", {"Authorization": auth, "User-Agent": elsewhere}) == 200
        assert _get(f"http://127.0.0.1:{port}/x", {}) == 403
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    log = _app_log(tmp_path, gateway)
    assert any(line.startswith("127.0.0.1 - john doe [") and elsewhere in line for line in gateway.log.splitlines())
    out = _verify(audit, "--anchors", log)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.startswith("intact: 2 records in 1 chain; "), out.stdout


async def test_the_gateways_anchor_after_a_forged_one_in_the_same_line_still_counts(tmp_path: Path) -> None:
    # two writers on one output (workers, the access log) can join a long line a client filled and the
    # gateway's anchor line: only the line's first anchor was read, the forged one (ignored under the
    # key), so the gateway's was lost and the trail cut after the earlier anchor passed
    path = tmp_path / "audit.log"
    trail = AuditTrail(FileSink(str(path)), service="gw", config_hash="c", destination=f"file:{path}")
    record_deny(trail, 3)
    await trail.drain()
    await trail.sink.close()
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    key = anchor_key(b"operator-key")
    first, last = (
        anchor_message(f"file:{path}", r["instance"], r["seq"], r["hash"], key) for r in (records[0], records[2])
    )
    forged = f"audit anchor: destination=file:{path} instance=h seq=1 hash={'0' * 64} mac={'0' * 64}"
    log = tmp_path / "app.log"
    log.write_text(
        f"2026/12/06 10:00:00 KRAKEND NOTICE: {first}\n"
        f'127.0.0.1 - - [06/Dec/2026:10:00:01 +0000] "GET /{forged}2026/12/06 10:00:01 KRAKEND NOTICE: {last}\n'
    )
    cut = tmp_path / "cut.log"
    cut.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:2]))
    out = _verify(cut, "--anchors", log, "--key-env", _KEY_ENV, key="operator-key")
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"ERROR: anchor seq 3 hash {records[2]['hash']} ({log}:2, " in out.stderr, out.stderr
    assert "WARNING: 1 anchor line ignored (no MAC the key verifies: " in out.stderr, out.stderr
    whole = _verify(path, "--anchors", log, "--key-env", _KEY_ENV, key="operator-key")
    assert whole.returncode == 0 and "; 2 authenticated anchors found in it (1 anchor line ignored" in whole.stdout

    # a record of the stdout sink (the trail on the log's output) cut by the anchor line: it starts
    # '{"ts":' but is no whole record, so the line is read (it was skipped whole, the cut trail passed)
    record = orjson.dumps({"ts": "2026-12-06T10:00:01Z", "seq": 9, "user_agent": "x"}).decode()
    joined = f"{record[:-3]}{forged}2026/12/06 10:00:01 KRAKEND NOTICE: {last}"
    log.write_text(f"2026/12/06 10:00:00 KRAKEND NOTICE: {first}\n{joined}\n")
    out = _verify(cut, "--anchors", log, "--key-env", _KEY_ENV, key="operator-key")
    assert out.returncode == 1 and f"ERROR: anchor seq 3 hash {records[2]['hash']} ({log}:2, " in out.stderr, out
    log.write_text(f'2026/12/06 10:00:00 KRAKEND NOTICE: {first}\n{record[:-3]}{forged}"}}\n')  # a whole record
    out = _verify(cut, "--anchors", log, "--key-env", _KEY_ENV, key="operator-key")
    assert out.returncode == 0 and out.stderr == "", out.stderr  # never read, not even as a forgery
