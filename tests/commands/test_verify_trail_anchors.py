"""``verify-trail --anchors`` / ``--anchor``: the trail's head, logged out of band by the gateway
(``telemetry/audit`` ``anchor_interval``), lets ``verify-trail`` notice records cut from the trail's
end, which the hash chain alone cannot (any prefix of a chain verifies)."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from krakenpy.telemetry.audit import AuditTrail
from krakenpy.telemetry.auditsink import FileSink
from tests.cli_gateway import ROOT, audited_deny_config
from tests.conftest import free_port
from tests.server.process import Gateway
from tests.telemetry.trail_records import record_deny

_ANCHOR = re.compile(r"NOTICE: audit anchor: destination=(\S+) instance=(\S+) seq=(\d+) hash=([0-9a-f]{64})$")


def _verify(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "krakenpy", "verify-trail", *map(str, args)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _gateway_run(tmp_path: Path) -> tuple[Path, Path]:
    """``run`` with a file trail anchored every hour (so only the first batch after a quiet spell and
    each stop anchor): 3 denies, a SIGHUP to the same file, 2 denies, a SIGHUP that removes the trail,
    a SIGHUP that adds it back, 2 denies, SIGTERM. The trail file and the application log."""
    audit = tmp_path / "audit.log"
    port = free_port()
    settings = {"sink": "file", "path": str(audit), "anchor_interval": "1h"}
    config = audited_deny_config(tmp_path, port, settings)
    audited = config.read_text()
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}/x"
    try:
        gateway.wait_log(r"listening on ")
        assert [_status(url) for _ in range(3)] == [403] * 3
        gateway.signal(signal.SIGHUP)  # the same trail: the old one stops (its head anchored), the new continues
        gateway.wait_log(r"reload 1 applied by 1/1 workers")
        assert [_status(url) for _ in range(2)] == [403] * 2
        doc = orjson.loads(audited)
        del doc["extra_config"]["telemetry/audit"]
        config.write_bytes(orjson.dumps(doc))
        gateway.signal(signal.SIGHUP)  # the trail removed: its head anchored
        gateway.wait_log(r"reload 2 applied by 1/1 workers")
        assert _status(url) == 403  # no trail, no record
        config.write_text(audited)
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 3 applied by 1/1 workers")
        assert [_status(url) for _ in range(2)] == [403] * 2
        assert gateway.stop() == 0, gateway.log  # SIGTERM: the last head anchored at the stop
    finally:
        gateway.kill()
    log = tmp_path / "app.log"
    log.write_text(gateway.log + "\n")
    return audit, log


def _forged(line: bytes) -> bytes:
    """``line``'s record denied no more, chained again over its own ``prev_hash``: the chain still
    verifies (a rewritten tail), only its hash differs."""
    rec = orjson.loads(line)
    del rec["hash"]
    rec["decision"] = "allow"
    rec["hash"] = hashlib.sha256(rec["prev_hash"].encode() + orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return orjson.dumps(rec) + b"\n"


def test_a_tail_cut_from_a_real_gateways_trail_fails_its_anchors_not_the_plain_check(tmp_path: Path) -> None:
    audit, log = _gateway_run(tmp_path)
    lines = audit.read_bytes().splitlines(keepends=True)
    records = [orjson.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6, 7]
    anchors = [m.groups() for m in map(_ANCHOR.search, log.read_text().splitlines()) if m]
    assert {a[0] for a in anchors} == {f"file:{audit}"} and {a[1] for a in anchors} == {records[0]["instance"]}
    by_seq = {int(seq): digest for _, _, seq, digest in anchors}
    # each stop anchors its head (the reload to the same file, the reload that removed the trail, SIGTERM):
    # seq 3, 5 and 7; besides, each trail's first batch at once (seq 1, 4, 6); no two lines for one head
    assert {3, 5, 7} <= set(by_seq) <= {1, 3, 4, 5, 6, 7}, anchors
    assert len(anchors) == len(by_seq)
    assert all(records[seq - 1]["hash"] == digest for seq, digest in by_seq.items())

    whole = _verify(audit, "--anchors", log)
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout.startswith(f"intact: 7 records in 1 chain; {len(by_seq)} anchors found in it\n"), whole.stdout

    cut = tmp_path / "cut.log"
    cut.write_bytes(b"".join(lines[:-1]))  # the last record cut: the chain alone still verifies
    plain = _verify(cut)
    assert plain.returncode == 0 and plain.stdout.startswith("intact: 6 records in 1 chain\n"), plain.stderr
    out = _verify(cut, "--anchors", log)
    assert out.returncode == 1 and out.stdout == ""
    line = next(n for n, text in enumerate(log.read_text().splitlines(), 1) if f"hash={by_seq[7]}" in text)
    assert out.stderr == (
        f"ERROR: anchor seq 7 hash {by_seq[7]} ({log}:{line}, instance {records[0]['instance']}): no record of "
        "the trail has that hash: records were cut from its end, or rewritten\n"
        "the trail's 6 records continue their chains\n"
    )

    cut.write_bytes(b"".join(lines[:3]))  # back to the first reload: every later anchor is named
    out = _verify(cut, "--anchors", log)
    assert out.returncode == 1
    named = [int(m) for m in re.findall(r"^ERROR: anchor seq (\d+) ", out.stderr, re.M)]
    assert named == sorted(seq for seq in by_seq if seq > 3), out.stderr

    rewritten = tmp_path / "rewritten.log"
    rewritten.write_bytes(b"".join(lines[:-1]) + _forged(lines[-1]))
    assert _verify(rewritten).returncode == 0  # a consistent chain
    out = _verify(rewritten, "--anchors", log)
    assert out.returncode == 1 and f"ERROR: anchor seq 7 hash {by_seq[7]} (" in out.stderr, out.stderr

    # --anchor SEQ:HASH alone, and with --partial (a trail that starts mid-chain)
    assert _verify(audit, "--anchor", f"7:{by_seq[7]}").returncode == 0
    tail = tmp_path / "tail.log"
    tail.write_bytes(b"".join(lines[3:]))
    assert _verify(tail, "--partial", "--anchor", f"7:{by_seq[7]}").returncode == 0
    tail.write_bytes(b"".join(lines[3:6]))
    out = _verify(tail, "--partial", "--anchor", f"7:{by_seq[7]}")
    assert out.returncode == 1 and out.stderr.startswith(f"ERROR: anchor seq 7 hash {by_seq[7]} (--anchor): no record")


async def _trail(path: Path, records: int) -> list[bytes]:
    trail = AuditTrail(FileSink(str(path)), service="gw", config_hash="c", destination=f"file:{path}")
    record_deny(trail, records)
    await trail.drain()
    await trail.sink.close()
    return path.read_bytes().splitlines(keepends=True)


def _anchor_line(destination: str, rec: dict[str, object]) -> str:
    return f"2026/12/06 10:00:00 KRAKEND NOTICE: audit anchor: destination={destination} instance=h seq={rec['seq']} hash={rec['hash']}\n"  # noqa: E501


async def test_anchors_with_allow_empty_destinations_and_a_wrong_seq(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lines = await _trail(path, 2)
    last = orjson.loads(lines[-1])
    log = tmp_path / "app.log"

    log.write_text("2026/12/06 10:00:00 KRAKEND INFO: nothing anchored\n")
    out = _verify(path, "--anchors", log)  # a log without anchors: its level dropped them, or anchors are off
    assert out.returncode == 1 and out.stderr.startswith(f"ERROR: no audit anchor in {log} "), out.stderr
    assert _verify(path, "--anchors", log, "--allow-empty").returncode == 0
    given = _verify(path, "--anchors", log, "--anchor", f"2:{last['hash']}")  # an anchor given: the log still has none
    assert given.returncode == 1 and given.stderr.startswith("ERROR: no audit anchor in"), given.stderr
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert _verify(empty, "--anchors", log, "--allow-empty").returncode == 0  # nothing written, nothing anchored

    log.write_text(_anchor_line(f"file:{path}", last))
    out = _verify(empty, "--anchors", log, "--allow-empty")  # emptied after its records were anchored
    assert out.returncode == 1 and out.stderr.startswith(f"ERROR: anchor seq 2 hash {last['hash']} ({log}:1, "), out
    # a trail record that spells an anchor (stdout sink: the same output) is no anchor
    spelt = orjson.dumps({"ts": "x", "user_agent": f"audit anchor: destination=a instance=b seq=9 hash={'f' * 64}"})
    log.write_bytes(spelt + b"\n")
    assert _verify(path, "--anchors", log).stderr.startswith("ERROR: no audit anchor in")

    other = {"seq": 1, "hash": "e" * 64}
    log.write_text(_anchor_line(f"file:{path}", last) + _anchor_line("http:http://c/x%20y", other))
    out = _verify(path, "--anchors", log)
    assert out.returncode == 1
    assert out.stderr == (
        f"ERROR: the logs anchor 2 trails (file:{path}, http:http://c/x y): name this one's with --destination\n"
    )
    mine = _verify(path, "--anchors", log, "--destination", f"file:{path}")
    assert mine.returncode == 0 and mine.stdout.startswith("intact: 2 records in 1 chain; 1 anchor found in it\n")
    assert _verify(path, "--anchors", log, "--destination", "http:http://c/x y").returncode == 1
    none = _verify(path, "--anchors", log, "--destination", "stdout:")
    assert none.returncode == 1 and none.stderr.startswith(f"ERROR: no audit anchor of stdout: in {log} ("), none

    out = _verify(path, "--anchor", f"1:{last['hash']}")  # the hash of seq 2
    assert out.returncode == 1
    assert out.stderr.startswith(f"ERROR: anchor seq 1 hash {last['hash']} (--anchor): the record with that hash ")
    assert f"({path}:2) has seq 2\n" in out.stderr
    bad = _verify(path, "--anchor", "1:xyz")
    assert bad.returncode == 1 and "SEQ:HASH" in bad.stderr


def test_each_worker_anchors_its_own_chain(tmp_path: Path) -> None:
    # run -w 2: one chain per worker in one file, each worker's head anchored at its stop
    audit = tmp_path / "audit.log"
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"sink": "file", "path": str(audit), "anchor_interval": "1h"})
    gateway = Gateway(config, "-w", "2", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    try:
        gateway.worker_pids(2)
        assert [_status(f"http://127.0.0.1:{port}/x") for _ in range(8)] == [403] * 8  # a connection each
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    log = tmp_path / "app.log"
    log.write_text(gateway.log + "\n")
    lines = audit.read_bytes().splitlines(keepends=True)
    last = {orjson.loads(line)["instance"]: orjson.loads(line) for line in lines}
    anchors = {(m[2], int(m[3]), m[4]) for m in map(_ANCHOR.search, log.read_text().splitlines()) if m}
    assert {(i, r["seq"], r["hash"]) for i, r in last.items()} <= anchors  # every chain's head
    assert _verify(audit, "--anchors", log).returncode == 0
    cut = tmp_path / "cut.log"
    cut.write_bytes(b"".join(lines[:-1]))
    assert _verify(cut).returncode == 0
    out = _verify(cut, "--anchors", log)
    gone = orjson.loads(lines[-1])
    assert out.returncode == 1 and f"ERROR: anchor seq {gone['seq']} hash {gone['hash']} (" in out.stderr, out.stderr


async def test_destination_names_a_collector_as_configured_or_as_the_anchors_show_it(tmp_path: Path) -> None:
    """An anchor names a collector's path by a digest (a webhook's path is its credential):
    ``--destination`` takes the URL as configured (user information, query and fragment or not) or as
    the lines spell it; both pick the same trail's anchors."""
    from krakenpy.telemetry.auditanchor import shown_destination

    path = tmp_path / "audit.log"
    last = orjson.loads((await _trail(path, 2))[-1])
    url = "http:https://hooks.example/services/T0/B0/XyZ"
    shown = shown_destination(url)
    log = tmp_path / "app.log"
    log.write_text(
        _anchor_line(shown, last) + _anchor_line("http:https://hooks.example/~0", {"seq": 1, "hash": "e" * 64})
    )
    for given in (url, "http:https://ops:pw@hooks.example/services/T0/B0/XyZ?t=1#f", shown):
        out = _verify(path, "--anchors", log, "--destination", given)
        assert out.returncode == 0 and out.stdout.startswith("intact: 2 records in 1 chain; 1 anchor found in it"), out
    another = "http:https://hooks.example/services/T0/B0/Other"
    other = _verify(path, "--anchors", log, "--destination", another)
    assert other.returncode == 1 and f"no audit anchor of {another}" in other.stderr
