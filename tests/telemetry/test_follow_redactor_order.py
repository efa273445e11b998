"""The root logger's handlers follow the redactor of the gateways built in this process
(:func:`krakenpy.telemetry.applog.follow_redactor`): once the gateways are closed, whatever the order
(a reload builds the next one before closing the previous), a handler masks with the redactor it had
before them, never with a closed gateway's (its rules gone stale, its memory held)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from krakenpy.telemetry.applog import AppLogOptions, make_formatter
from krakenpy.telemetry.logfmt import BasicFormatter

#: a value under a query key only the first configuration masks
CANARY = "order-c4n4ry-5e21"


@pytest.fixture
def basic_logger() -> Iterator[tuple[BasicFormatter, io.StringIO]]:
    """The command line's basic logger's formatter (``cli._basic_logging``) on the root logger,
    writing to a buffer."""
    sink = io.StringIO()
    formatter = make_formatter(AppLogOptions(format="basic"))
    assert isinstance(formatter, BasicFormatter)
    handler = logging.StreamHandler(sink)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield formatter, sink
    finally:
        root.removeHandler(handler)


def _doc(query_key: str) -> dict[str, Any]:
    return {
        "version": 3,
        "extra_config": {"telemetry/access_log": {"redact": {"query_keys": [query_key]}}},
        "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:10"], "url_pattern": "/"}]}],
    }


@pytest.mark.parametrize("closing", ["built order", "reverse order"])
async def test_the_handler_gets_its_own_redactor_back_once_the_gateways_are_closed(
    basic_logger: tuple[BasicFormatter, io.StringIO], closing: str
) -> None:
    formatter, sink = basic_logger
    original = formatter.redactor
    first = await build_gateway(build_service(_doc("sesame")), serving=False)
    second = await build_gateway(build_service(_doc("other")), serving=False)
    assert formatter.redactor is not original  # the latest gateway's, while it is open
    for gateway in (first, second) if closing == "built order" else (second, first):
        await gateway.close()
    assert formatter.redactor is original
    # the first configuration's rule is gone with its gateway: the default rules only
    logging.getLogger("tests.order").warning("GET /x?sesame=%s", CANARY)
    assert CANARY in sink.getvalue(), sink.getvalue()


async def test_a_failed_candidate_gives_back_the_serving_gateways_redactor(
    basic_logger: tuple[BasicFormatter, io.StringIO],
) -> None:
    formatter, _ = basic_logger
    original = formatter.redactor
    serving = await build_gateway(build_service(_doc("sesame")), serving=False)
    current = formatter.redactor
    candidate = await build_gateway(build_service(_doc("other")), serving=False)
    await candidate.close()  # a reload that failed: the serving gateway's redactor again
    assert formatter.redactor is current
    third = await build_gateway(build_service(_doc("third")), serving=False)
    await serving.close()  # the reload applied: the serving one retired, the third still masks
    assert formatter.redactor is not current and formatter.redactor is not original
    await third.close()
    assert formatter.redactor is original
