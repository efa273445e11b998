"""``security/cors`` values → options: KrakenD's effective defaults and located errors."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.cors import CorsOptions, parse_cors
from krakenpy.errors import ConfigError

P = "extra_config.security/cors"


def test_parse_cors_empty_value_gives_krakend_defaults() -> None:
    options = parse_cors({}, P)
    assert options == CorsOptions()
    assert (options.allow_origins, options.allow_headers, options.allow_methods) == (
        ("*",),
        ("*",),
        ("GET", "POST", "HEAD"),
    )
    assert (options.options_success_status, options.max_age, options.expose_headers) == (204, 0, ())


def test_parse_cors_empty_lists_fall_back_like_krakend() -> None:
    options = parse_cors({"allow_origins": [], "allow_headers": [], "allow_methods": []}, P)
    assert (options.allow_origins, options.allow_headers, options.allow_methods) == (
        ("*",),
        ("*",),
        ("GET", "POST", "HEAD"),
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("12h", 43200), ("0h", 0), ("1m30s", 90), ("1.9s", 1), ("900ms", 0), ("-1s", -1), ("-0.5s", 0), ("0", 0)],
)
def test_parse_cors_max_age_truncates_like_go(value: str, seconds: int) -> None:
    assert parse_cors({"max_age": value}, P).max_age == seconds


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ({"max_age": 3600}, f"{P}.max_age", "Go duration string"),
        ({"max_age": "12 hours"}, f"{P}.max_age", "not a Go duration"),
        ({"max_age": "9999999h"}, f"{P}.max_age", "longer than Go's maximum"),
        ({"allow_origins": "*"}, f"{P}.allow_origins", "list of strings"),
        ({"allow_headers": ["Authorization", 3]}, f"{P}.allow_headers", "list of strings"),
        ({"allow_credentials": "yes"}, f"{P}.allow_credentials", "true or false"),
        ({"options_success_status": 42}, f"{P}.options_success_status", "HTTP status"),
        ({"options_success_status": True}, f"{P}.options_success_status", "HTTP status"),
        ({"options_success_status": 100}, f"{P}.options_success_status", "HTTP status"),
    ],
)
def test_parse_cors_bad_values_are_located(raw: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cors(raw, P)
    assert [(i.path, message in i.message) for i in caught.value.issues] == [(path, True)]


def test_parse_cors_reports_every_bad_field() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cors({"max_age": 1, "debug": 1, "expose_headers": [None]}, P)
    assert sorted(i.path for i in caught.value.issues) == [f"{P}.debug", f"{P}.expose_headers", f"{P}.max_age"]


def test_parse_cors_not_an_object() -> None:
    with pytest.raises(ConfigError, match="must be an object"):
        parse_cors(["*"], P)


def test_parse_cors_status_zero_means_204() -> None:
    assert parse_cors({"options_success_status": 0}, P).options_success_status == 204
    assert parse_cors({"options_success_status": 200.0}, P).options_success_status == 200
