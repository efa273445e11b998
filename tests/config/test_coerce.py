"""Weak typing of the core fields (koanf/mapstructure WeaklyTypedInput)."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.config.coerce import coerce_weak


def _doc(
    service: dict[str, Any] | None = None, endpoint: dict[str, Any] | None = None, backend: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        **(service or {}),
        "endpoints": [{**(endpoint or {}), "backend": [dict(backend or {})]}],
        "async_agent": [{"backend": [dict(backend or {})]}],
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, 1),
        (False, 0),
        ("3", 3),
        (" 4 ", " 4 "),  # Go's ParseInt takes no spaces: left for the schema to refuse
        ("0x10", 16),
        ("017", 15),
        ("-017", -15),
        ("08", "08"),
        ("0_17", 15),  # Go's base 0 takes an underscore between digits
        ("1_000", 1000),
        ("0x_1f", 31),
        ("+1", 1),
        ("9223372036854775807", 2**63 - 1),
        # what Go's ParseInt refuses is left for the schema: a non-ASCII digit (Python's int() reads it),
        # a misplaced underscore, a value above int64
        ("\u0663", "\u0663"),
        ("\uff11\uff12", "\uff11\uff12"),
        ("1__0", "1__0"),
        ("1_", "1_"),
        ("0x", "0x"),
        ("9223372036854775808", "9223372036854775808"),
        ("-9223372036854775809", "-9223372036854775809"),
        ("", 0),
        (2.0, 2),
        (2.5, 2.5),
        ("two", "two"),
        (None, None),
    ],
)
def test_coerce_int_field(value: Any, expected: Any) -> None:
    doc = _doc(endpoint={"concurrent_calls": value})
    coerce_weak(doc)
    got = doc["endpoints"][0]["concurrent_calls"]
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, True), (0, False), ("true", True), ("F", False), ("1", True), ("", False), ("yes", "yes"), ([], [])],
)
def test_coerce_bool_field(value: Any, expected: Any) -> None:
    doc = _doc(backend={"is_collection": value})
    coerce_weak(doc)
    for owner in (doc["endpoints"][0], doc["async_agent"][0]):
        got = owner["backend"][0]["is_collection"]
        assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, "3"),
        (True, "1"),
        (1.5, "1.5"),
        (2.0, "2"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "0.00000015"),
        ({}, {}),
    ],
)
def test_coerce_string_field(value: Any, expected: Any) -> None:
    doc = _doc(service={"name": value})
    coerce_weak(doc)
    assert doc["name"] == expected


def test_coerce_single_value_to_list() -> None:
    doc = _doc(service={"host": "http://a", "port": "8080", "version": "3"}, backend={"host": "http://b", "allow": "x"})
    coerce_weak(doc)
    assert doc["host"] == ["http://a"] and doc["port"] == 8080 and doc["version"] == 3
    assert doc["endpoints"][0]["backend"][0] == {"host": ["http://b"], "allow": ["x"]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a,b", ["a", "b"]), ("a, b", ["a", " b"]), ("", []), (5, ["5"]), ([False, "x"], ["0", "x"]), ({}, {})],
)
def test_coerce_list_field_as_koanf_does(value: Any, expected: Any) -> None:
    doc = _doc(endpoint={"input_headers": value})
    coerce_weak(doc)
    assert doc["endpoints"][0]["input_headers"] == expected


def test_coerce_leaves_durations_and_missing_fields_alone() -> None:
    doc = _doc(service={"timeout": 3}, endpoint={"timeout": 5})
    coerce_weak(doc)
    assert doc["timeout"] == 3 and doc["endpoints"][0] == {"timeout": 5, "backend": [{}]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://a:8000,http://b:8000", ["http://a:8000", "http://b:8000"]),
        ("http://ada:p,w@h:8000,http://b", ["http://ada:p,w@h:8000", "http://b"]),
        ("http://b,http://ada:p,,w@h", ["http://b", "http://ada:p,,w@h"]),
        ("http://a/x,y@h", ["http://a/x", "y@h"]),  # past the authority: no user information cut
        ("http://ada:a,b,c@h", ["http://ada:a,b,c@h"]),
        ("h:1,", ["h:1", ""]),
    ],
)
def test_a_comma_inside_a_hosts_user_information_does_not_split_it(value: str, expected: list[str]) -> None:
    doc = _doc(backend={"host": value})
    said = coerce_weak(doc)
    assert doc["endpoints"][0]["backend"][0]["host"] == expected
    whole = any("," in host for host in expected)
    paths = ["endpoints[0].backend[0].host", "async_agent[0].backend[0].host"]
    assert [issue.path for issue in said] == paths * whole
