"""``telemetry/audit``'s file sink when the file cannot be written (a full disk: ``/dev/full``; its
directory removed): each outage is said once on the application log, the records it loses are
still counted, and the return of the file is said once too."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.cli_gateway import ROOT, audited_deny_config, deny_requests
from tests.conftest import free_port
from tests.server.process import Gateway


def _outage_lines(log: str) -> list[str]:
    """What the log said of the failed writes (the file's writer, the trail's batches)."""
    return [line for line in log.splitlines() if re.search(r"not written|cannot write|cannot create", line)]


def test_a_full_disk_is_said_once_and_its_records_counted(tmp_path: Path) -> None:
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"sink": "file", "path": "/dev/full"})
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    try:
        gateway.wait_log(r"listening on ")
        deny_requests(f"http://127.0.0.1:{port}/x", 4)
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    said = _outage_lines(gateway.log)
    assert len(said) == 1, said
    assert "/dev/full" in said[0] and "No space left on device" in said[0], said
    assert re.search(r"audit: 4 record\(s\) dropped in total", gateway.log), gateway.log


def test_a_removed_directory_is_said_once_and_its_return_once(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    folder.mkdir()
    path = folder / "audit.log"
    port = free_port()
    config = audited_deny_config(tmp_path, port, {"sink": "file", "path": str(path)})
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}/x"
    try:
        gateway.wait_log(r"listening on ")
        deny_requests(url, 1)
        shutil.rmtree(folder)
        deny_requests(url, 3)
        gateway.wait_log(r"not written")
        folder.mkdir()
        deny_requests(url, 2)
        gateway.wait_log(r"audit: the sink takes records again \(3 dropped so far\)")
        assert gateway.stop() == 0, gateway.log
    finally:
        gateway.kill()
    said = _outage_lines(gateway.log)
    assert len(said) == 1 and f"cannot create {path} again: No such file or directory" in said[0], said
    assert len(path.read_bytes().splitlines()) == 2
    assert re.search(r"audit: 3 record\(s\) dropped in total", gateway.log), gateway.log
