from __future__ import annotations

import logging
from pathlib import Path

import orjson

from krakenpy.telemetry.settings import parse_logstash
from tests.cli_gateway import check_config
from tests.components.telemetry.conftest import doc


def test_parse_logstash_enabled() -> None:
    assert parse_logstash({"enabled": True}, "p") is True
    assert parse_logstash({}, "p") is False


async def test_logstash_lines_are_clean_json(served, capfd) -> None:  # type: ignore[no-untyped-def]
    s = await served(
        doc(
            [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/y"}]}],
            extra_config={
                "telemetry/logging": {"level": "INFO", "prefix": "[KRAKEND]", "stdout": True},
                "telemetry/logstash": {"enabled": True},
            },
        )
    )
    logging.getLogger("krakenpy.test").info('quote " and token=abc')
    await s.gateway.close()
    lines = [li for li in capfd.readouterr().out.splitlines() if li.startswith("{")]
    record = orjson.loads(lines[-1])
    assert record["message"] == 'quote " and token=[REDACTED]'
    assert record["module"] == "[KRAKEND]" and record["level"] == "INFO" and record["@version"] == 1
    assert list(record) == sorted(record) and "host" in record


def test_logstash_without_logging_is_a_check_warning(tmp_path: Path) -> None:
    """KrakenD makes its logstash logger on top of telemetry/logging's: without it, lura's basic
    text logger writes the log. krakenpy writes the JSON lines asked for, and ``check`` says the two
    differ (it said nothing); with telemetry/logging there is nothing to say."""
    endpoints = [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/y"}]}]
    alone = tmp_path / "alone.json"
    alone.write_text(orjson.dumps(doc(endpoints, extra_config={"telemetry/logstash": {"enabled": True}})).decode())
    both = tmp_path / "both.json"
    extra = {"telemetry/logstash": {"enabled": True}, "github_com/devopsfaith/krakend-gologging": {"level": "INFO"}}
    both.write_text(orjson.dumps(doc(endpoints, extra_config=extra)).decode())
    result = check_config(alone)
    assert result.returncode == 0, result.stderr
    said = [line for line in (result.stdout + result.stderr).splitlines() if "telemetry/logstash" in line]
    assert len(said) == 1 and "without telemetry/logging KrakenD ignores it" in said[0]
    assert check_config(alone, "--lint").returncode != 0
    result = check_config(both)
    assert result.returncode == 0 and "telemetry/logging KrakenD ignores" not in result.stdout + result.stderr
