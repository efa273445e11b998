"""``verify-trail``'s count of what a failure leaves standing reads as English at 0 and 1 too: a
torn line after one record said ``the 1 records before it continue their chains`` (real CLI, a trail
written by the real file sink)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from krakenpy.telemetry.audit import AuditTrail
from krakenpy.telemetry.auditsink import FileSink
from tests.cli_gateway import ROOT
from tests.telemetry.trail_records import record_deny


def _verify(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "verify-trail", *map(str, args)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


async def _records(path: Path, count: int) -> list[bytes]:
    trail = AuditTrail(FileSink(str(path)), service="gw", config_hash="c", destination=f"file:{path}")
    record_deny(trail, count)
    await trail.drain()
    await trail.sink.close()
    return path.read_bytes().splitlines(keepends=True)


async def test_a_break_after_one_record_or_none_is_counted_in_the_singular(tmp_path: Path) -> None:
    lines = await _records(tmp_path / "audit.log", 3)
    torn = b'{"ts":"2026-12-06T19:21:47.7\n'  # a record a dead process left cut short, ended by the next
    one = tmp_path / "one.log"
    one.write_bytes(lines[0] + torn + lines[1])
    out = _verify(one)
    assert out.returncode == 1
    assert out.stderr == f"ERROR: {one}:2: not JSON\nthe record before it continues its chain\n", out.stderr

    none = tmp_path / "none.log"
    none.write_bytes(torn + lines[0])
    out = _verify(none)
    assert out.returncode == 1
    assert out.stderr == f"ERROR: {none}:1: not JSON\nno record before it\n", out.stderr

    two = tmp_path / "two.log"
    two.write_bytes(lines[0] + lines[1] + torn)
    out = _verify(two)
    assert out.returncode == 1
    assert out.stderr.endswith(":3: not JSON\nthe 2 records before it continue their chains\n"), out.stderr


async def test_an_anchor_missing_from_a_one_record_trail_is_counted_in_the_singular(tmp_path: Path) -> None:
    lines = await _records(tmp_path / "audit.log", 2)
    trail = tmp_path / "cut.log"
    trail.write_bytes(lines[0])  # the second record cut from the end
    second = orjson.loads(lines[1])
    out = _verify(trail, "--anchor", f"{second['seq']}:{second['hash']}")
    assert out.returncode == 1
    assert out.stderr.endswith("\nthe trail's record continues its chain\n"), out.stderr
