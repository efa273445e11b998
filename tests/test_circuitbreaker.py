"""gobreaker's state machine, step by step with a hand-moved clock."""

from __future__ import annotations

import logging

import pytest

from krakenpy.circuitbreaker import Breaker, BreakerOpen, log_change


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fail(b: Breaker) -> None:
    b.failure(b.before())


def _ok(b: Breaker) -> None:
    b.success(b.before())


def test_breaker_trips_when_consecutive_failures_exceed_max_errors() -> None:
    b = Breaker(interval=0, timeout=10, max_errors=1, clock=Clock())
    _fail(b)
    assert b.state == "closed"
    _fail(b)
    assert b.state == "open"
    with pytest.raises(BreakerOpen, match="^circuit breaker is open$"):
        b.before()


def test_breaker_max_errors_zero_trips_on_first_failure() -> None:
    b = Breaker(interval=0, timeout=10, max_errors=0, clock=Clock())
    _fail(b)
    assert b.state == "open"


def test_breaker_flapping_backend_never_trips() -> None:
    b = Breaker(interval=0, timeout=10, max_errors=1, clock=Clock())
    for _ in range(50):
        _fail(b)
        _ok(b)  # a success resets the streak
    assert b.state == "closed"


def test_breaker_half_open_admits_exactly_one_probe() -> None:
    clock = Clock()
    b = Breaker(interval=0, timeout=10, max_errors=0, clock=clock)
    _fail(b)
    clock.now += 9.9
    with pytest.raises(BreakerOpen):
        b.before()
    clock.now += 0.1
    probe = b.before()
    assert b.state == "half-open"
    with pytest.raises(BreakerOpen, match="^too many requests$"):
        b.before()
    b.success(probe)
    assert b.state == "closed"
    _ok(b)


def test_breaker_failed_probe_opens_again_for_timeout() -> None:
    clock = Clock()
    b = Breaker(interval=0, timeout=5, max_errors=0, clock=clock)
    _fail(b)
    clock.now += 5
    b.failure(b.before())
    assert b.state == "open"
    clock.now += 4.9
    with pytest.raises(BreakerOpen):
        b.before()


def test_breaker_zero_timeout_means_sixty_seconds() -> None:
    clock = Clock()
    b = Breaker(interval=0, timeout=0, max_errors=0, clock=clock)
    _fail(b)
    clock.now += 59
    with pytest.raises(BreakerOpen):
        b.before()
    clock.now += 1
    b.before()
    assert b.state == "half-open"


def test_breaker_interval_resets_counts() -> None:
    clock = Clock()
    b = Breaker(interval=30, timeout=10, max_errors=2, clock=clock)
    _fail(b)
    _fail(b)
    clock.now += 30  # new generation: the streak is forgotten
    _fail(b)
    _fail(b)
    assert b.state == "closed"
    _fail(b)
    assert b.state == "open"


def test_breaker_outcome_of_older_generation_is_ignored() -> None:
    clock = Clock()
    b = Breaker(interval=0, timeout=10, max_errors=0, clock=clock)
    slow = b.before()
    _fail(b)  # trips while "slow" is in flight
    clock.now += 10
    b.success(slow)  # reported in the half-open generation: ignored
    assert b.state == "half-open"


def test_breaker_cancelled_probe_frees_the_slot() -> None:
    clock = Clock()
    b = Breaker(interval=0, timeout=1, max_errors=0, clock=clock)
    _fail(b)
    clock.now += 1
    b.cancelled(b.before())
    b.success(b.before())
    assert b.state == "closed"


def test_breaker_log_status_change_line(caplog: pytest.LogCaptureFixture) -> None:
    b = Breaker(interval=0, timeout=10, max_errors=0, name="users", on_change=log_change, clock=Clock())
    with caplog.at_level(logging.WARNING, logger="krakenpy.circuitbreaker"):
        _fail(b)
    assert caplog.messages == ["[CB] Circuit breaker named 'users' went from 'closed' to 'open'"]
