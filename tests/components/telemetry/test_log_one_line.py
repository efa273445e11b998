"""An application-log record is one line in every format: CR and LF in its text (a failure quoting a
client's value) are written ``\\r`` and ``\\n``, so a client cannot forge a log line."""

from __future__ import annotations

import logging
import sys

import orjson
import pytest

from krakenpy.telemetry.applog import AppLogOptions, make_formatter
from krakenpy.telemetry.logfmt import one_line
from tests.components.telemetry.conftest import doc, recording_app

FORGED = "bad q=x\r\n 2026/12/02 - 15:00:00.000 ▶ ERROR [ENDPOINT: /admin] INJECTED\rtail\\n"
ESCAPED = "bad q=x\\r\\n 2026/12/02 - 15:00:00.000 ▶ ERROR [ENDPOINT: /admin] INJECTED\\rtail\\n"


def _record(message: str, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("line one\nline two")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord("krakenpy.failures", logging.ERROR, __file__, 1, "%s", (message,), info)


@pytest.mark.parametrize(
    "options",
    [
        AppLogOptions(format="default"),
        AppLogOptions(format="default", prefix="[GW]"),
        AppLogOptions(format="basic"),
        AppLogOptions(format="custom", custom_format="%{level:.4s}|%{module}|%{message}|%{request_id}"),
        AppLogOptions(format="logstash"),
        AppLogOptions(logstash=True),
    ],
    ids=["default", "prefix", "basic", "custom", "logstash-format", "telemetry-logstash"],
)
def test_every_format_writes_a_record_as_one_line(options: AppLogOptions) -> None:
    formatter = make_formatter(options)
    for exc in (False, True):
        line = formatter.format(_record(FORGED, exc))
        assert "\r" not in line and "\n" not in line, (options, line)
        if options.logstash or options.format == "logstash":  # JSON: its encoder escapes, the text stays
            assert orjson.loads(line)["message"].startswith(FORGED), line
        else:
            assert ESCAPED in line, line
            if exc:
                assert "Traceback (most recent call last):\\n" in line and "ValueError: line one\\nline two" in line


def test_one_line_leaves_other_text_alone() -> None:
    assert one_line("a\\nb\tc é") == "a\\nb\tc é"
    assert one_line("\r\n") == "\\r\\n"


async def test_lua_error_quoting_a_client_value_is_one_line(served, upstream, capfd) -> None:  # type: ignore[no-untyped-def]
    """End to end: a Lua error carrying a client's decoded %0D%0A, through the default format on
    standard output, is one line (it ended the failure line and forged the next)."""
    base = await upstream(recording_app([]))
    s = await served(
        doc(
            [
                {
                    "endpoint": "/x/{id}",
                    "backend": [{"host": [base], "url_pattern": "/y"}],
                    "extra_config": {"modifier/lua-proxy": {"pre": "error('bad q=' .. request.load():params('Id'))"}},
                }
            ],
            extra_config={"telemetry/logging": {"level": "INFO", "stdout": True}},
        )
    )
    forged = "/x/x%0D%0A%2015:00:00.000%20%E2%96%B6%20ERROR%20INJECTED"
    resp = await s.client.get(forged, headers={"X-Request-Id": "r-1"})
    assert resp.status == 500
    await s.gateway.close()
    lines = capfd.readouterr().out.splitlines()
    failure = [li for li in lines if "[ENDPOINT: /x/{id}]" in li]
    assert len(failure) == 1, lines
    assert "bad q=x\\r\\n 15:00:00.000 ▶ ERROR INJECTED" in failure[0], failure
    assert failure[0].endswith("request_id=r-1"), failure
    # (gin's access line carries the error as gin writes it, ``Error #01: …``, raw as in Go: not an app log line)
    assert not [li for li in lines if li.startswith(" 15:00:00.000") and "request_id" in li], lines
