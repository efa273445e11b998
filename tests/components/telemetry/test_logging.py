from __future__ import annotations

import logging
import re
import socket
import time
from pathlib import Path

import pytest

from krakenpy.errors import ConfigError
from krakenpy.telemetry.settings import parse_logging
from krakenpy.telemetry.writer import flush_stdout
from tests.components.telemetry.conftest import doc, recording_app


def test_parse_logging_krakend_defaults_and_fallbacks() -> None:
    o = parse_logging({"level": "warning", "format": "json", "syslog_facility": "kern"}, "p")
    assert o.level == logging.WARNING and o.format == "default" and o.syslog_facility == "local3"
    assert not o.stdout and not o.syslog


@pytest.mark.parametrize(
    ("raw", "field"),
    [({"level": "LOUD"}, "p.level"), ({"level": "INFO", "format": "custom"}, "p.custom_format"),
     ({"level": "INFO", "format": "custom", "custom_format": "%{nope}"}, "p.custom_format")],
)  # fmt: skip
def test_parse_logging_rejects_what_cannot_work(raw: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_logging(raw, "p")
    assert err.value.issues[0].path == field


async def test_logging_stdout_default_format_with_prefix(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    base = await upstream(recording_app([], status=500))
    s = await served(
        doc(
            [{"endpoint": "/x", "backend": [{"host": [base], "url_pattern": "/y"}]}],
            extra_config={"telemetry/logging": {"level": "ERROR", "prefix": "[KRAKEND]", "stdout": True}},
        )
    )
    logging.getLogger("krakenpy.test").warning("below the level")
    await s.client.get("/x", headers={"X-Request-Id": "r-1"})
    flush_stdout()  # a line written within the batch interval of an earlier test's is still queued
    out = capfd.readouterr().out
    assert "below the level" not in out
    line = next(li for li in out.splitlines() if "[ENDPOINT: /x]" in li)
    assert re.match(
        r"^\[KRAKEND\] \d{4}/\d\d/\d\d - \d\d:\d\d:\d\d\.\d{3} \x1b\[31m▶ ERROR\x1b\[0m "
        r"\[ENDPOINT: /x\]\[BACKEND: /y\] invalid status code 500 .* request_id=r-1$",
        line,
    )
    await s.gateway.close()
    assert logging.getLogger("krakenpy").propagate  # the setup is undone with the gateway


async def test_logging_custom_format(served, capfd) -> None:  # type: ignore[no-untyped-def]
    s = await served(
        doc(
            [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/y"}]}],
            extra_config={
                "telemetry/logging": {
                    "level": "INFO",
                    "stdout": True,
                    "format": "custom",
                    "custom_format": "%{level:.4s}|%{module}|%{request_id}|%{message}",
                }
            },  # fmt: skip
        )
    )
    logging.getLogger("krakenpy.test").info("hello")
    await s.gateway.close()
    assert "INFO|KRAKEND|-|hello" in capfd.readouterr().out.splitlines()


def _syslog_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    """A local syslog daemon's socket (a datagram socket on a path), the gateway pointed at it."""
    path = str(tmp_path / "syslog.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(2)
    monkeypatch.setenv("KRAKENPY_SYSLOG_ADDRESS", path)
    return receiver


async def test_logging_syslog_with_facility(served, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    receiver = _syslog_receiver(tmp_path, monkeypatch)
    s = await served(
        doc(
            [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/y"}]}],
            extra_config={
                "telemetry/logging": {"level": "DEBUG", "prefix": "[GW]", "syslog": True, "syslog_facility": "local5"}
            },
        )
    )
    logging.getLogger("krakenpy.test").error("broken Authorization: Bearer abc")
    data = receiver.recv(8192).decode()
    receiver.close()
    await s.gateway.close()
    assert data.startswith(f"<{21 * 8 + 3}>") and "[GW][" in data
    assert data.endswith("ERROR > broken Authorization: Bearer [REDACTED]")


def test_syslog_stamp_is_gos() -> None:
    """Go's ``time.Stamp``: a one-digit day padded with a space (``Dec  6``), two digits as they are."""
    from krakenpy.telemetry.syslog import go_stamp

    early = time.mktime((2026, 12, 6, 7, 8, 9, 0, 0, -1))
    late = time.mktime((2026, 12, 16, 17, 8, 9, 0, 0, -1))
    assert go_stamp(early) == "Dec  6 07:08:09" and go_stamp(late) == "Dec 16 17:08:09"


async def test_syslog_failure_line_carries_the_request_id(served, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    receiver = _syslog_receiver(tmp_path, monkeypatch)
    s = await served(
        doc(
            [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/y"}]}],
            extra_config={"telemetry/logging": {"level": "ERROR", "prefix": "[GW]", "syslog": True}},
        )
    )
    resp = await s.client.get("/x", headers={"X-Request-Id": "req-synthetic-1"})
    assert resp.status >= 500
    data = receiver.recv(8192).decode()
    receiver.close()
    await s.gateway.close()
    assert "[ENDPOINT: /x][BACKEND: /y]" in data and data.endswith(" request_id=req-synthetic-1"), data
