"""httpcache's freshness rules on parsed values."""

from __future__ import annotations

from email.utils import formatdate

from krakenpy.httpcache.control import (
    can_stale_on_error,
    can_store,
    freshness,
    http_date,
    parse_cache_control,
    response_lifetime,
    seconds,
)

T0 = 1_800_000_000.0


def test_control_parse_directives() -> None:
    assert parse_cache_control('max-age=60, no-cache, foo="bar" ,') == {"max-age": "60", "no-cache": "", "foo": "bar"}
    assert parse_cache_control("") == {}


def test_control_seconds_like_go_duration() -> None:
    assert seconds("60") == 60 and seconds("1.5") == 1.5
    assert seconds("inf") is None and seconds("1e3") is None and seconds("") is None


def test_control_dates() -> None:
    assert http_date(formatdate(T0, usegmt=True)) == T0
    assert http_date("Sunday, 06-Nov-94 08:49:37 GMT") is not None
    assert http_date("nope") is None and http_date("") is None


def test_control_lifetime_max_age_wins_over_expires() -> None:
    expires = formatdate(T0 + 100, usegmt=True)
    assert response_lifetime({"max-age": "5"}, expires, T0) == 5
    assert response_lifetime({}, expires, T0) == 100
    assert response_lifetime({}, "0", T0) == 0
    assert response_lifetime({}, "", T0) == 0


def test_control_freshness_rules() -> None:
    assert freshness({}, {"no-cache": ""}, T0, 60, T0) == "transparent"
    assert freshness({"no-cache": ""}, {}, T0, 60, T0) == "stale"
    assert freshness({}, {"only-if-cached": ""}, None, 0, T0) == "fresh"
    assert freshness({}, {}, None, 60, T0) == "stale"  # no Date: always stale
    assert freshness({}, {}, T0, 60, T0 + 59) == "fresh"
    assert freshness({}, {}, T0, 60, T0 + 60) == "stale"
    assert freshness({}, {"max-age": "10"}, T0, 60, T0 + 20) == "stale"
    assert freshness({}, {"min-fresh": "30"}, T0, 60, T0 + 40) == "stale"
    assert freshness({}, {"max-stale": "30"}, T0, 60, T0 + 80) == "fresh"
    assert freshness({}, {"max-stale": ""}, T0, 0, T0 + 1e6) == "fresh"


def test_control_store_and_stale_if_error() -> None:
    assert (
        can_store({}, {"private": ""}) and not can_store({"no-store": ""}, {}) and not can_store({}, {"no-store": ""})
    )
    assert can_stale_on_error({"stale-if-error": ""}, {}, None, T0)
    assert can_stale_on_error({"stale-if-error": "60"}, {}, T0, T0 + 59)
    assert not can_stale_on_error({"stale-if-error": "60"}, {}, T0, T0 + 60)
    assert not can_stale_on_error({"stale-if-error": "60"}, {}, None, T0)
    assert not can_stale_on_error({}, {}, T0, T0)
    assert can_stale_on_error({}, {"stale-if-error": "5"}, T0, T0 + 1)
