"""``verify-trail`` on hostile input (fuzzed, findings kept here): an application log or a trail whose
lines no gateway wrote reads as no anchor, or fails with a message, never with a traceback or by
filling the memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from krakenpy.commands.trail import MAX_LINE
from krakenpy.telemetry.auditanchor import anchor_key, anchor_message
from tests.cli_gateway import ROOT
from tests.commands.test_verify_trail_anchors import _trail

_KEY = "fuzz-key"


def _verify(*args: str | bytes | Path, key: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDIT_KEY": _KEY} if key else {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "verify-trail", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip


def _log(tmp_path: Path, path: Path, last: dict[str, object], *hostile: bytes) -> Path:
    """An application log: the gateway's anchor of ``last`` (under ``_KEY``), then the ``hostile`` lines."""
    genuine = anchor_message(
        f"file:{path}", "h", int(str(last["seq"])), str(last["hash"]), key=anchor_key(_KEY.encode())
    )
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"2026/12/06 NOTICE: " + line + b"\n" for line in [genuine.encode(), *hostile]))
    return log


async def test_a_seq_of_thousands_of_digits_is_no_anchor_nor_a_traceback(tmp_path: Path) -> None:
    # int() of over 4300 digits is a ValueError: no seq the gateway writes is more than 20 digits
    path = tmp_path / "audit.log"
    last = orjson.loads((await _trail(path, 2))[-1])
    fields = f"destination=file:{path} instance=h seq={'9' * 5000} hash={last['hash']}".encode()
    log = _log(tmp_path, path, last, b"audit anchor: " + fields + b" mac=" + b"0" * 64, b"audit anchor: " + fields)
    for key in (True, False):
        out = _verify(path, "--anchors", log, *(("--key-env", "AUDIT_KEY") if key else ()), key=key)
        assert out.returncode == 0, out.stderr
        found = "1 authenticated anchor" if key else "1 anchor"
        assert out.stdout.startswith(f"intact: 2 records in 1 chain; {found} found in it\n"), out.stdout


async def test_anchor_fields_that_are_no_utf8_are_read_as_a_command_line_spells_them(tmp_path: Path) -> None:
    # a destination and an instance that are no UTF-8, raw or %-quoted, were a UnicodeDecodeError
    path = tmp_path / "audit.log"
    last = orjson.loads((await _trail(path, 2))[-1])
    digest = last["hash"].encode()
    log = _log(
        tmp_path, path, last,
        b"audit anchor: destination=file:/\xff instance=h seq=2 hash=" + digest,
        b"audit anchor: destination=file:/%ff instance=%c3 seq=2 hash=" + digest,
    )  # fmt: skip
    out = _verify(path, "--anchors", log, "--key-env", "AUDIT_KEY")  # the two lines without a MAC ignored
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(
        "intact: 2 records in 1 chain; 1 authenticated anchor found in it (2 anchor lines ignored: no valid MAC)\n"
    ), out.stdout
    assert f"WARNING: 2 anchor lines ignored (no MAC the key verifies: forged, or written without the key or with " \
        f"another): {log}:2, {log}:3\n" == out.stderr  # fmt: skip

    # without the key they count: the byte 0xff names one destination, raw or %-quoted, as a command line does
    out = _verify(path, "--anchors", log, key=False)
    assert out.returncode == 1 and out.stderr == (
        f"ERROR: the logs anchor 2 trails (file:{path}, file:/\\udcff): name this one's with --destination\n"
    ), out.stderr
    out = _verify(path, "--anchors", log, "--destination", b"file:/\xff", key=False)
    assert out.returncode == 0 and out.stdout.startswith("intact: 2 records in 1 chain; 2 anchors found in it\n"), out


async def test_a_line_over_the_limit_fails_at_its_line_in_a_trail_and_in_a_log(tmp_path: Path) -> None:
    # a line of MAX_LINE + 1 bytes (a sparse file: no disk used), as /dev/zero or a binary file reads:
    # refused having read no more than the limit, where it was read whole (/dev/zero: until MemoryError)
    path = tmp_path / "audit.log"
    first = (await _trail(path, 1))[0]
    huge = tmp_path / "huge.log"
    with huge.open("wb") as handle:  # a record, then the long line
        handle.write(first)
        handle.truncate(len(first) + MAX_LINE + 1)
    out = _verify(huge)
    assert out.returncode == 1 and out.stderr == f"ERROR: {huge}:2: a line over 64 MiB: no record\n", out.stderr
    out = _verify(path, "--anchors", huge, "--allow-empty")
    assert out.returncode == 1, out.stdout
    assert out.stderr == f"ERROR: {huge}:2: a line over 64 MiB: no application log line\n", out.stderr
    with huge.open("r+b") as handle:  # a line of the limit exactly, its newline included, is read
        handle.truncate(len(first) + MAX_LINE - 1)
        handle.seek(0, 2)
        handle.write(b"\n")
    out = _verify(path, "--anchors", huge, "--allow-empty")
    assert out.returncode == 0 and out.stdout.startswith("intact: 1 record in 1 chain\n"), out


async def test_with_the_key_an_anchor_joined_to_a_gin_error_line_still_counts(tmp_path: Path) -> None:
    # gin's "Error #01:" line (a Lua error quoting a header) is recognised by its start: another worker's
    # anchor landing in it when its long text is written in two parts was skipped, and a cut trail passed
    path = tmp_path / "audit.log"
    lines = await _trail(path, 2)
    first, last = orjson.loads(lines[0]), orjson.loads(lines[-1])
    key = anchor_key(_KEY.encode())
    before = anchor_message(f"file:{path}", "h", 1, first["hash"], key=key)
    genuine = anchor_message(f"file:{path}", "h", 2, last["hash"], key=key)
    forged = f"audit anchor: destination=file:{path} instance=h seq=9 hash={'e' * 64} mac={'0' * 64}"
    log = tmp_path / "app.log"
    log.write_text(
        f"2026/12/06 NOTICE: {before}\n"
        f"Error #01: error from lua: {'x' * 5000}2026/12/06 NOTICE: {genuine}\n"
        f"Error #01: error from lua: {forged}\n"  # a client's text spelling one: skipped, not counted
    )
    cut = tmp_path / "cut.log"
    cut.write_bytes(lines[0])
    out = _verify(cut, "--anchors", log, "--key-env", "AUDIT_KEY")
    assert out.returncode == 1 and out.stderr.startswith(f"ERROR: anchor seq 2 hash {last['hash']} ({log}:2, "), out
    out = _verify(path, "--anchors", log, "--key-env", "AUDIT_KEY")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.startswith("intact: 2 records in 1 chain; 2 authenticated anchors found in it\n"), out.stdout
    # without the key no anchor of such a line counts, the gateway's or not: it could be forged (the cut passes)
    out = _verify(path, "--anchors", log, key=False)
    assert out.returncode == 0 and out.stdout.startswith("intact: 2 records in 1 chain; 1 anchor found in it\n"), out
