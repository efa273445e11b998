from __future__ import annotations

import logging
import re

import orjson
import pytest

from krakenpy.telemetry.applog import AppLogOptions, LineHandler, install_handlers, make_formatter
from krakenpy.telemetry.exchange import CURRENT, Exchange
from krakenpy.telemetry.logfmt import PatternError, PatternFormatter
from krakenpy.telemetry.writer import LineWriter


def _record(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("krakenpy.test", level, __file__, 12, msg, None, None, "fn")


def test_pattern_formatter_default_krakend_line() -> None:
    line = make_formatter(AppLogOptions(prefix="[KRAKEND]")).format(_record("[ENDPOINT: /x] boom"))
    assert re.match(
        r"^\[KRAKEND\] \d{4}/\d\d/\d\d - \d\d:\d\d:\d\d\.\d{3} \x1b\[31m▶ ERROR\x1b\[0m \[ENDPOINT: /x\] boom$", line
    )
    info = make_formatter(AppLogOptions(prefix="[KRAKEND]")).format(_record("hi", logging.INFO))
    assert info.endswith(" ▶ INFO\x1b[0m hi")


def test_pattern_formatter_logstash_pattern_is_valid_json() -> None:
    line = make_formatter(AppLogOptions(prefix="[X]", format="logstash")).format(_record('say "hi"'))
    doc = orjson.loads(line)
    assert doc["message"] == 'say "hi"' and doc["level"] == "ERROR" and doc["module"] == "KRAKEND"
    assert doc["@timestamp"].endswith("+00:00")


def test_pattern_formatter_custom_verbs_and_printf() -> None:
    fmt = PatternFormatter("%{level:.4s}|%{level:-8s}|%{module}|%{shortfile}|%{pid:d}|%{message}")
    out = fmt.format(_record("m", logging.WARNING))
    assert re.match(r"^WARN\|WARNING \|KRAKEND\|test_logfmt\.py:12\|\d+\|m$", out)


@pytest.mark.parametrize("pattern", ["%{nope}", "%{level:zz}", "%{color:blink}", "%{level"])
def test_pattern_formatter_rejects_unknown_verbs(pattern: str) -> None:
    with pytest.raises(PatternError):
        PatternFormatter(pattern)


def test_formatters_carry_the_request_id_and_redact() -> None:
    exchange = Exchange()
    exchange.request_id = "req-1"
    token = CURRENT.set(exchange)
    try:
        default = make_formatter(AppLogOptions()).format(_record("GET http://h/x?token=T0K"))
        placed = PatternFormatter("%{request_id} %{message}").format(_record("x"))
        stash = orjson.loads(make_formatter(AppLogOptions(logstash=True)).format(_record("m")))
    finally:
        CURRENT.reset(token)
    assert default.endswith("GET http://h/x?token=[REDACTED] request_id=req-1")
    assert placed == "req-1 x"
    assert stash["request_id"] == "req-1"


def test_logstash_formatter_sorted_keys_and_microseconds() -> None:
    line = make_formatter(AppLogOptions(logstash=True, prefix="[GW]")).format(_record("m", logging.INFO))
    doc = orjson.loads(line)
    assert list(doc) == sorted(doc)
    assert doc["module"] == "[GW]" and doc["@version"] == 1 and doc["level"] == "INFO"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$", doc["@timestamp"])


def test_basic_formatter_is_luras_basic_logger() -> None:
    line = make_formatter(AppLogOptions(format="basic")).format(_record("Starting", logging.INFO))
    assert re.match(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d KRAKEND INFO: Starting$", line)


def test_install_handlers_replaces_and_restores(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "app.log"
    writer = LineWriter.open(str(path))
    logger = logging.getLogger("krakenpy")
    before = list(logger.handlers)
    undo = install_handlers([LineHandler(writer, make_formatter(AppLogOptions(format="basic")))], logging.WARNING)
    logging.getLogger("krakenpy.x").info("hidden")
    logging.getLogger("krakenpy.x").warning("shown")
    undo()
    writer.close()
    assert path.read_text().splitlines()[-1].endswith("KRAKEND WARNING: shown")
    assert "hidden" not in path.read_text()
    assert logger.handlers == before


def test_install_handlers_undone_in_build_order_by_a_hot_reload(tmp_path) -> None:  # type: ignore[no-untyped-def]
    logger = logging.getLogger("krakenpy")
    before = (list(logger.handlers), logger.level, logger.propagate)
    first_writer, second_writer = LineWriter.open(str(tmp_path / "1.log")), LineWriter.open(str(tmp_path / "2.log"))
    first = LineHandler(first_writer, make_formatter(AppLogOptions(format="basic")))
    second = LineHandler(second_writer, make_formatter(AppLogOptions(format="basic")))
    undo_first = install_handlers([first], logging.INFO)
    undo_second = install_handlers([second], logging.INFO)  # the reloaded gateway, built before the old closes
    undo_first()  # the old gateway is closed: the new one's output stays
    assert logger.handlers == [second]
    logging.getLogger("krakenpy.x").warning("after the reload")
    undo_second()  # shutdown: the original set-up is back
    assert (list(logger.handlers), logger.level, logger.propagate) == before
    first_writer.close()
    second_writer.close()
    assert (tmp_path / "2.log").read_text().splitlines()[-1].endswith("KRAKEND WARNING: after the reload")
