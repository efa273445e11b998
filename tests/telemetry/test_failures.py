"""log_failure logs every failure and never raises, whatever the exception carries as ``status``."""

from __future__ import annotations

import enum
import logging

import pytest

from krakenpy.telemetry.failures import log_failure, was_logged
from krakenpy.telemetry.redact import Redactor


class _Code(enum.Enum):  # what a gRPC error carries: a StatusCode, no int
    NOT_FOUND = (5, "not found")


class _Failing(Exception):
    def __init__(self, text: str, status: object) -> None:
        super().__init__(text)
        self.status = status


class _StatusProperty(Exception):
    @property
    def status(self) -> int:
        raise RuntimeError("no status yet")


class _ErrorsProperty(Exception):
    @property
    def errors(self) -> tuple[BaseException, ...]:
        raise RuntimeError("no errors yet")


class _BadStr(Exception):
    def __str__(self) -> str:
        raise ValueError("cannot render")


@pytest.mark.parametrize("status", ["404", "oops", None, 404.0, _Code.NOT_FOUND, b"404", [404]])
def test_a_status_that_is_no_int_is_logged_as_an_error(status: object, caplog: pytest.LogCaptureFixture) -> None:
    exc = _Failing("the queue is gone", status)
    with caplog.at_level(logging.INFO, logger="krakenpy.failures"):
        log_failure(exc, "[ENDPOINT: /x]", Redactor())
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "[ENDPOINT: /x] the queue is gone")
    ]
    assert was_logged(exc)


def test_a_status_property_that_fails_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="krakenpy.failures"):
        log_failure(_StatusProperty("broken"), "[ENDPOINT: /x]", Redactor())
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.ERROR, "[ENDPOINT: /x] broken")]


def test_an_errors_property_that_fails_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="krakenpy.failures"):
        log_failure(_ErrorsProperty("broken"), "[ENDPOINT: /x]", Redactor())
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.ERROR, "[ENDPOINT: /x] broken")]


def test_an_exception_whose_text_fails_is_logged_by_its_type(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="krakenpy.failures"):
        log_failure(_BadStr(), "[ENDPOINT: /x]", Redactor())
    assert [r.getMessage() for r in caplog.records] == ["[ENDPOINT: /x] _BadStr"]


@pytest.mark.parametrize(
    ("status", "level"), [(404, logging.INFO), (499, logging.INFO), (500, logging.ERROR), (True, logging.ERROR)]
)
def test_an_int_status_still_sets_the_level(status: object, level: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="krakenpy.failures"):
        log_failure(_Failing("refused", status), "[ENDPOINT: /x]", Redactor())
    assert [r.levelno for r in caplog.records] == [level]
