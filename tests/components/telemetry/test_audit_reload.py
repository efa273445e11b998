"""``telemetry/audit`` through a hot reload: a reload to the same destination continues the process's
chain (``verify-trail`` counts no restart, ``seq`` runs on), the old configuration's records written
first; another destination starts a chain of its own."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from krakenpy.telemetry.audit import AuditTrail, verify_trail
from krakenpy.telemetry.auditsink import FileSink
from tests.cli_gateway import ROOT, audited_deny_config
from tests.conftest import free_port
from tests.server.process import Gateway
from tests.telemetry.trail_records import record_deny


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_sighup_reload_to_the_same_file_continues_the_chain(tmp_path: Path) -> None:
    # a reload started a new chain at seq 1 in the same process: verify-trail said "1 restart"
    audit = tmp_path / "audit.log"
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"sink": "file", "path": str(audit)})
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    try:
        gateway.wait_log(r"listening on ")
        url = f"http://127.0.0.1:{port}/x"
        assert [_status(url) for _ in range(3)] == [403] * 3
        config.write_text(config.read_text().replace("403)", "401)"))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 applied by 1/1 workers")
        assert [_status(url) for _ in range(3)] == [401] * 3
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    records = [orjson.loads(line) for line in audit.read_bytes().splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["response"]["status"] for r in records] == [403] * 3 + [401] * 3
    assert records[2]["policy"]["config_hash"] != records[3]["policy"]["config_hash"]
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "verify-trail", str(audit)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"intact: 6 records in 1 chain\n  {records[0]['instance']}: seq 1..6, 6 records\n"


@pytest.mark.parametrize("between", ["removed", "elsewhere"])
def test_a_trail_a_reload_removes_and_a_later_one_adds_back_continues_the_chain(tmp_path: Path, between: str) -> None:
    # the trail added back started a new chain at seq 1 in the same process: "1 restart"
    audit = tmp_path / "audit.log"
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"sink": "file", "path": str(audit)})
    audited = config.read_text()
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    try:
        gateway.wait_log(r"listening on ")
        url = f"http://127.0.0.1:{port}/x"
        assert [_status(url) for _ in range(2)] == [403] * 2
        doc = orjson.loads(audited)
        if between == "removed":
            del doc["extra_config"]["telemetry/audit"]
        else:  # another file meanwhile: a chain of its own there
            doc["extra_config"]["telemetry/audit"]["path"] = str(tmp_path / "other.log")
        config.write_bytes(orjson.dumps(doc))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 applied by 1/1 workers")
        assert _status(url) == 403  # not audited, or audited elsewhere
        config.write_text(audited.replace("403)", "401)"))
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 2 applied by 1/1 workers")
        assert [_status(url) for _ in range(2)] == [401] * 2
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    records = [orjson.loads(line) for line in audit.read_bytes().splitlines()]
    assert [(r["seq"], r["response"]["status"]) for r in records] == [(1, 403), (2, 403), (3, 401), (4, 401)]
    out = subprocess.run(
        [sys.executable, "-m", "krakenpy", "verify-trail", str(audit)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"intact: 4 records in 1 chain\n  {records[0]['instance']}: seq 1..4, 4 records\n"


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


async def test_records_queued_after_the_swap_go_after_the_old_trails_and_a_new_destination_starts_anew(
    tmp_path: Path,
) -> None:
    path, other = tmp_path / "audit.log", tmp_path / "other.log"
    old = AuditTrail(FileSink(str(path)), service="gw", config_hash="a", destination=f"file:{path}")
    await old.start()
    record_deny(old, 2)
    # two reloads in a row: the second swaps in before the first's trail ever started
    middle = AuditTrail(FileSink(str(path)), service="gw", config_hash="b", destination=f"file:{path}")
    middle.follow(old)
    record_deny(middle)
    new = AuditTrail(FileSink(str(path)), service="gw", config_hash="c", destination=f"file:{path}")
    new.follow(middle)
    record_deny(new, 2)
    await new.start()  # it waits for both trails before it to end
    record_deny(old)  # a request the old configuration was still serving
    elsewhere = AuditTrail(FileSink(str(other)), service="gw", config_hash="d", destination=f"file:{other}")
    elsewhere.follow(new)
    record_deny(elsewhere)
    await elsewhere.start()
    await elsewhere.stop()  # another file: its own chain, written at once
    closing = asyncio.create_task(middle.stop())  # closed before the old one (its requests ended first)
    await asyncio.sleep(0.1)
    # the old trail has not ended: the later configurations wait, none of their records written yet
    assert not closing.done()
    assert {orjson.loads(line)["policy"]["config_hash"] for line in _lines(path)} <= {"a"}
    await old.stop()
    await closing
    await new.stop()
    records = [orjson.loads(line) for line in _lines(path)]
    assert [(r["seq"], r["policy"]["config_hash"]) for r in records] == [
        (1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "c"), (6, "c"),
    ]  # fmt: skip
    assert verify_trail(_lines(path))
    assert [orjson.loads(line)["seq"] for line in _lines(other)] == [1]
    assert verify_trail(_lines(other))
