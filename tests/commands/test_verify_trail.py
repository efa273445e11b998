"""``krakenpy verify-trail``: the audit trail a real gateway wrote (``run -w 2``, then a restart)
checked by the real CLI: intact, then altered, cut, reordered, split over two files, torn, and with
records dropped before chaining."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from krakenpy.telemetry.audit import AuditTrail
from krakenpy.telemetry.auditsink import FileSink
from tests.cli_gateway import ROOT, audited_deny_config
from tests.conftest import free_port
from tests.server.process import Gateway
from tests.telemetry.trail_records import record_deny


def _verify(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "verify-trail", *map(str, args)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


async def _gateway_trail(tmp_path: Path) -> list[bytes]:
    """Two runs of a two-worker gateway denying every request (a Lua ``custom_error``) into one file.

    Each run's requests wait for both workers' "listening" lines: a worker reads the file's last
    record when it builds, so one still building while the other served would start its chain from
    a record of this run (valid, but the cuts and swaps below take a run's chain starts to name the
    file as it was before the run)."""
    audit = tmp_path / "audit.log"
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"sink": "file", "path": str(audit)})
    for _ in range(2):  # a run, then a restart that continues the file
        gateway = Gateway(config, "-w", "2", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
        try:
            gateway.worker_pids(2)  # both built, so both read the file before its first record of this run
            for _ in range(12):  # a connection each: the workers share them
                async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/x") as resp:
                    assert resp.status == 403
        finally:
            code = gateway.stop()
        assert code == 0, gateway.log  # the supervisor exits once both workers drained their trails
    return audit.read_bytes().splitlines(keepends=True)


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


async def test_a_real_gateways_trail_verifies_and_each_break_is_named(tmp_path: Path) -> None:
    lines = await _gateway_trail(tmp_path)
    records = [orjson.loads(line) for line in lines]
    assert len(lines) == 24  # 12 a run: lines 13-24 are the restart's
    chains = {r["instance"]: [x["seq"] for x in records if x["instance"] == r["instance"]] for r in records}
    trail = _write(tmp_path / "trail.log", lines)

    ok = _verify(trail)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"intact: 24 records in {len(chains)} chain"), ok.stdout
    for instance, seqs in chains.items():
        restarts = seqs.count(1) - 1
        shown = f", {restarts} restart{'s' * (restarts > 1)}" if restarts else ""
        counted = f"{len(seqs)} record{'s' * (len(seqs) != 1)}"  # a worker may take a single connection
        assert f"  {instance}: seq 1..{seqs[-1]}, {counted}{shown}\n" in ok.stdout, ok.stdout

    # a record altered: its own hash no longer matches
    altered = lines.copy()
    altered[5] = altered[5].replace(b'"decision":"deny"', b'"decision":"allow"')
    out = _verify(_write(tmp_path / "altered.log", altered))
    assert out.returncode == 1
    assert out.stderr.startswith(f"ERROR: {tmp_path / 'altered.log'}:6: its hash does not match its content")
    assert "the 5 records before it continue their chains" in out.stderr

    # a record taken out of the middle of its instance's chain: the first run's busier worker's 2nd
    busiest = max(chains, key=lambda name: sum(r["instance"] == name for r in records[:12]))
    mine = [i for i in range(12) if records[i]["instance"] == busiest]  # 6 or more
    gone, later = mine[1], mine[2]
    out = _verify(_write(tmp_path / "cut.log", lines[:gone] + lines[gone + 1 :]))
    assert out.returncode == 1
    assert f"cut.log:{later}: instance {busiest}: seq 3 does not follow seq 1 (line {mine[0] + 1})" in out.stderr

    # the first run's records gone: the restart's chains start from records no longer there
    out = _verify(_write(tmp_path / "restart.log", lines[12:]))
    assert out.returncode == 1 and "restart.log:1: instance " in out.stderr, out.stderr
    assert "a chain start (seq 1) whose prev_hash is no record before it" in out.stderr

    # a file rotated in the middle: both in order pass; the second alone only as a partial trail or
    # from the first file's last hash
    head, tail = _write(tmp_path / "a.log", lines[:later]), _write(tmp_path / "b.log", lines[later:])
    assert _verify(head, tail).returncode == 0
    alone = _verify(tail)
    assert alone.returncode == 1 and f"b.log:1: instance {busiest}: its first record has seq 3, not 1" in alone.stderr
    partial = _verify(tail, "--partial")
    assert partial.returncode == 0 and partial.stdout.startswith(f"intact: {24 - later} records"), partial.stdout
    continued = _verify(_write(tmp_path / "one.log", [lines[later]]), "--prev-hash", records[gone]["hash"])
    assert continued.returncode == 0, continued.stderr

    # two records of one instance swapped, and a torn last line
    mixed = lines.copy()
    mixed[gone], mixed[later] = lines[later], lines[gone]
    swapped = _verify(_write(tmp_path / "swapped.log", mixed))
    assert swapped.returncode == 1 and f"swapped.log:{gone + 1}: " in swapped.stderr, swapped.stderr
    torn = _verify(_write(tmp_path / "torn.log", lines[:-1] + [lines[-1][:40]]))
    assert torn.returncode == 1 and "torn.log:24: not JSON (a line with no newline" in torn.stderr, torn.stderr
    # records of two instances interleave in any order (within the first run: a restart's first record
    # names the record last in the file when it started, so it cannot come before that one)
    across = [i for i in range(11) if records[i]["instance"] != records[i + 1]["instance"]]
    for i in across[:1]:
        interleaved = lines[:i] + [lines[i + 1], lines[i]] + lines[i + 2 :]
        assert _verify(_write(tmp_path / "interleaved.log", interleaved)).returncode == 0


async def test_records_dropped_before_chaining_are_counted_and_fail_strict(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    trail = AuditTrail(FileSink(str(path)), service="gw", config_hash="c", queue_size=2)
    for _ in range(2):
        record_deny(trail, 3)  # the third of each burst finds the queue full: its seq is skipped
        await trail.drain()
    await trail.sink.close()
    seqs = [orjson.loads(line)["seq"] for line in path.read_bytes().splitlines()]
    assert seqs == [1, 2, 4, 5], seqs
    out = _verify(path)
    assert out.returncode == 0 and "4 records, 1 dropped before chaining (seq gaps)" in out.stdout, out.stdout
    strict = _verify(path, "--strict")
    assert strict.returncode == 1 and strict.stderr == "ERROR: 1 record was dropped before chaining (--strict)\n"


def test_an_unreadable_file_and_a_bad_hash_are_usage_errors(tmp_path: Path) -> None:
    out = _verify(tmp_path / "missing.log")
    missing = f"ERROR: {tmp_path / 'missing.log'}: cannot read: No such file or directory\n"
    assert out.returncode == 1 and out.stderr == missing
    bad = _verify(tmp_path / "missing.log", "--prev-hash", "xyz")
    assert bad.returncode == 1 and "64 lowercase hex digits" in bad.stderr


def test_stdin_is_read_with_a_dash(tmp_path: Path) -> None:
    del tmp_path
    args: Any = [sys.executable, "-m", "krakenpy", "verify-trail", "-"]
    out = subprocess.run(args, input=b"{}\n", capture_output=True, timeout=60, cwd=ROOT)
    assert out.returncode == 1 and out.stderr.startswith(b"ERROR: <stdin>:1: no hash or prev_hash")


async def test_a_dash_given_twice_reads_stdin_once(tmp_path: Path) -> None:
    # the second '-' read a standard input the first had closed: a traceback (ValueError)
    path = tmp_path / "audit.log"
    trail = AuditTrail(FileSink(str(path)), service="gw", config_hash="c")
    record_deny(trail)
    await trail.drain()
    await trail.sink.close()
    args: Any = [sys.executable, "-m", "krakenpy", "verify-trail", "-", "-"]
    out = subprocess.run(args, input=path.read_text(), capture_output=True, timeout=60, cwd=ROOT, text=True)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.startswith("intact: 1 record in 1 chain\n") and "seq 1..1, 1 record\n" in out.stdout, out.stdout


async def test_a_trail_truncated_to_nothing_fails_unless_allowed(tmp_path: Path) -> None:
    # "intact: 0 records" and exit 0: a trail emptied by truncation (the simplest tampering) passed
    path = tmp_path / "audit.log"
    trail = AuditTrail(FileSink(str(path)), service="gw", config_hash="c")
    record_deny(trail, 2)
    await trail.drain()
    await trail.sink.close()
    assert _verify(path).returncode == 0
    path.write_bytes(b"")  # truncated
    out = _verify(path)
    assert out.returncode == 1 and out.stdout == "", out.stdout
    assert out.stderr == "ERROR: no records: the trail is empty (truncated?); --allow-empty accepts that\n"
    allowed = _verify(path, "--allow-empty")
    assert allowed.returncode == 0 and allowed.stdout == "intact: 0 records in 0 chains\n", allowed.stderr
    args: Any = [sys.executable, "-m", "krakenpy", "verify-trail", "-"]
    empty_stdin = subprocess.run(args, input=b"", capture_output=True, timeout=60, cwd=ROOT)
    assert empty_stdin.returncode == 1 and b"ERROR: no records" in empty_stdin.stderr
    assert "--allow-empty" in _verify("--help").stdout
