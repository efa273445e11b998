from __future__ import annotations

import logging

import orjson

from krakenpy.telemetry.settings import parse_logstash
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
