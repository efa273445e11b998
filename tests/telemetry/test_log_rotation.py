"""The access log's file through log rotation: moved away (logrotate's ``create``), deleted, or its
directory gone. Before, the gateway wrote on into the moved file (which logrotate then compresses and
removes: every line after a rotation lost until a restart) and never made the new one."""

from __future__ import annotations

import json
import logging
import stat
import time
import urllib.request
from pathlib import Path

import pytest

from krakenpy.telemetry.writer import LineWriter
from tests.cli_gateway import gateway_process
from tests.conftest import free_port
from tests.threaded_app import Served, ok_app


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_a_followed_file_moved_or_deleted_is_made_again(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    writer = LineWriter.open(str(path), follow=True)
    writer.write(b"a\n")
    writer.flush()
    path.rename(tmp_path / "access.log.1")  # logrotate's create mode: move, then the program makes a new one
    writer.write(b"b\n")
    writer.flush()
    path.unlink()  # an operator removed it
    writer.write(b"c\n")
    writer.flush()
    writer.close()
    assert _lines(tmp_path / "access.log.1") == ["a"]
    assert _lines(path) == ["c"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert writer.reopened == 2


def test_a_file_whose_directory_is_gone_keeps_the_old_one_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    writer = LineWriter.open(str(folder / "access.log"), follow=True)
    writer.write(b"a\n")
    writer.flush()
    moved = tmp_path / "logs.old"
    folder.rename(moved)
    caplog.set_level(logging.WARNING, logger="krakenpy.telemetry")
    for line in (b"b\n", b"c\n"):
        writer.write(line)
        writer.flush()  # no file can be made: the lines go on into the old one, nothing lost
    assert _lines(moved / "access.log") == ["a", "b", "c"]
    assert sum("cannot create" in r.getMessage() for r in caplog.records) == 1
    folder.mkdir()
    writer.write(b"d\n")
    writer.close()
    assert _lines(folder / "access.log") == ["d"] and writer.reopened == 1


def test_a_writer_not_told_to_follow_keeps_its_file(tmp_path: Path) -> None:
    """The audit trail's file sink follows rotation itself (it chains the new file to the old)."""
    path = tmp_path / "audit.log"
    writer = LineWriter.open(str(path))
    writer.write(b"a\n")
    writer.flush()
    path.rename(tmp_path / "audit.log.1")
    writer.write(b"b\n")
    writer.close()
    assert _lines(tmp_path / "audit.log.1") == ["a", "b"] and not path.exists()


def _get(port: int, path: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        assert answer.status == 200


def _until(path: Path, marker: str) -> list[str]:
    """The file's lines once one of them has ``marker``."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = _lines(path) if path.exists() else []
        if any(marker in line for line in found):
            return found
        time.sleep(0.05)
    raise AssertionError(f"{path}: no line with {marker}")


def test_the_gateways_access_log_follows_a_rotation(tmp_path: Path) -> None:
    """The real CLI: requests logged, the file moved as logrotate moves it, the next requests in a
    new file of mode 0600; then deleted, and made again."""
    log = tmp_path / "access.log"
    port = free_port()
    with Served(ok_app()) as backend:
        config = tmp_path / "krakend.json"
        doc = {
            "version": 3,
            "port": port,
            "extra_config": {"telemetry/access_log": {"stdout": False, "file": str(log)}},
            "endpoints": [
                {"endpoint": f"/r{i}", "backend": [{"host": [f"http://127.0.0.1:{backend.port}"], "url_pattern": "/"}]}
                for i in range(3)
            ],
        }
        config.write_text(json.dumps(doc))
        with gateway_process(config, port=port):
            _get(port, "/r0")
            _until(log, '"/r0"')
            log.rename(tmp_path / "access.log.1")
            _get(port, "/r1")
            assert len(_until(log, '"/r1"')) == 1  # the new file's first line
            assert stat.S_IMODE(log.stat().st_mode) == 0o600
            log.unlink()
            _get(port, "/r2")
            assert len(_until(log, '"/r2"')) == 1
    assert not any('"/r1"' in line for line in _lines(tmp_path / "access.log.1"))
