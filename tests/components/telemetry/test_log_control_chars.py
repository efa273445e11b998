"""Terminal escape sequences from a client never reach an application-log line raw: ESC, the other C0
controls, DEL and the C1 controls (U+009B is a CSI) are written escaped as Go quotes them (``\\x1b``,
``\\u009b``) in every text format and in syslog; a tab stays; the JSON formats escape C0 as Go's
encoder does (DEL and C1 are valid JSON text, left as Go leaves them)."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import orjson
import pytest

from krakenpy.telemetry.applog import AppLogOptions, make_formatter
from krakenpy.telemetry.syslog import SyslogHandler
from tests.components.telemetry.conftest import doc, recording_app

#: clear the screen, go home, write a red fake line; a C1 CSI; a bell; a tab (kept)
HOSTILE = "v=\x1b[2J\x1b[H\x1b[31mFAKE\x1b[0m \u009b1A \x07\x00\x7f\u2028\u2029\tend"
ESCAPED = "v=\\x1b[2J\\x1b[H\\x1b[31mFAKE\\x1b[0m \\u009b1A \\x07\\x00\\x7f\\u2028\\u2029\tend"


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("krakenpy.failures", logging.ERROR, __file__, 1, "%s", (message,), None)


def _controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029"]


@pytest.mark.parametrize(
    "options",
    [
        AppLogOptions(format="default"),
        AppLogOptions(format="basic"),
        AppLogOptions(format="custom", custom_format="%{level:.4s}|%{message}"),
        AppLogOptions(format="logstash"),
        AppLogOptions(logstash=True),
    ],
    ids=["default", "basic", "custom", "logstash-format", "telemetry-logstash"],
)
def test_no_format_writes_a_clients_control_characters_raw(options: AppLogOptions) -> None:
    line = make_formatter(options).format(_record(HOSTILE))
    if options.logstash or options.format == "logstash":  # JSON escapes C0 as Go's encoder does
        assert orjson.loads(line)["message"] == HOSTILE
        assert [c for c in line if ord(c) < 0x20] == []
        return
    message = line.split("\x1b[0m ", 1)[-1] if options.format == "default" else line  # (the level's own colour)
    assert _controls(message) == [], line
    assert ESCAPED in line


def test_syslog_writes_a_clients_control_characters_escaped(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    handler = SyslogHandler(address=path)
    try:
        handler.emit(_record(HOSTILE))
        data = server.recv(8192).decode()
    finally:
        handler.close()
        server.close()
        os.unlink(path)
    assert _controls(data) == [] and data.endswith(ESCAPED)


async def test_a_lua_print_of_a_clients_escape_sequence_is_escaped(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """End to end: a script printing a path parameter holding a decoded ``%1B[2J`` (clear the screen)
    through the default format on standard output."""
    base = await upstream(recording_app([]))
    s = await served(
        doc(
            [
                {
                    "endpoint": "/x/{id}",
                    "backend": [{"host": [base], "url_pattern": "/y"}],
                    "extra_config": {"modifier/lua-proxy": {"pre": "print('id=' .. request.load():params('Id'))"}},
                }
            ],
            extra_config={"telemetry/logging": {"level": "INFO", "prefix": "[KRAKEND]", "stdout": True}},
        )
    )
    resp = await s.client.get("/x/a%1B%5B2J%1B%5B31mFAKE%C2%9B1A")
    assert resp.status == 200
    await s.gateway.close()
    out = capfd.readouterr().out
    printed = [line for line in out.split("\n") if "lua: id=" in line]
    assert len(printed) == 1, out
    assert "lua: id=a\\x1b[2J\\x1b[31mFAKE\\u009b1A request_id=" in printed[0], printed


async def test_gins_error_line_writes_a_clients_escape_sequence_escaped(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """The access log (gin's, on standard output by default): a Lua error quoting a path parameter with
    a decoded ``%1B`` is written in gin's ``Error #01:`` line escaped, as in the failure's log line."""
    base = await upstream(recording_app([]))
    s = await served(
        doc(
            [
                {
                    "endpoint": "/x/{id}",
                    "backend": [{"host": [base], "url_pattern": "/y"}],
                    "extra_config": {"modifier/lua-proxy": {"pre": "error('bad ' .. request.load():params('Id'))"}},
                }
            ],
            extra_config={"telemetry/logging": {"level": "INFO", "stdout": True}},
        )
    )
    resp = await s.client.get("/x/a%1B%5D0;pwned%07%1B%5B2J%C2%9B1A")
    assert resp.status == 500
    await s.gateway.close()
    out = capfd.readouterr().out
    gin_errors = [line for line in out.split("\n") if line.startswith("Error #01: ")]
    assert len(gin_errors) == 1, out
    assert _controls(gin_errors[0]) == [], gin_errors
    assert "bad a\\x1b]0;pwned\\x07\\x1b[2J\\u009b1A" in gin_errors[0], gin_errors
    # no line holds a raw control character but the failure line's level colours
    for line in out.split("\n"):
        assert _controls(line.replace("\x1b[31m", "").replace("\x1b[0m", "")) == [], line
