"""The pieces of a CORS policy: the Fetch header-list rules, origin matching, canonical names."""

from __future__ import annotations

import logging
from typing import SupportsIndex

import pytest
from multidict import CIMultiDict

from krakenpy.cors import CorsOptions, CorsPolicy, parse_cors
from krakenpy.cors.policy import MAX_EMPTY, MAX_OWS, accepts_header_list, canonical_header


def ranks(*names: str) -> tuple[dict[str, int], int]:
    ordered = sorted(set(names))
    return {n: i for i, n in enumerate(ordered)}, max((len(n) for n in ordered), default=0)


E = [""] * MAX_EMPTY  # the most empty field lines tolerated
ACCEPTED = {
    (): [[""], [","], ["\t, , "], E],
    ("x-foo",): [
        ["x-foo"],
        [""],
        ["\tx-foo ,"],
        [" x-foo\t,"],
        ["," * MAX_EMPTY + "x-foo"],
        [*E, "x-foo"],
    ],
    ("x-foo", "x-bar", "x-baz"): [
        ["x-bar"],
        ["x-bar,x-baz,x-foo"],
        ["x-baz,x-foo,"],
        [" x-bar , x-baz , x-foo ,"],
        ["x-bar" + "," * (MAX_EMPTY + 1) + "x-foo"],  # 16 empty elements between two names
        ["x-bar", "x-foo"],
        ["x-bar", "x-baz,x-foo"],
        [*E, "x-bar", "x-foo"],
    ],
}
REJECTED = {
    (): [["x-bar"], ["," * (MAX_EMPTY + 1)], [*E, ""]],
    ("x-foo",): [
        ["x-bar"],
        ["x-foo  "],
        ["  x-foo"],
        ["x-foo\t\t"],
        ["X-Foo"],  # not lower-case
        ["," * (MAX_EMPTY + 1) + "x-foo"],
        [*E, "", "x-foo"],
    ],
    ("x-foo", "x-bar", "x-baz"): [
        ["x-qux"],
        ["x-bar,x-baz,x-baz"],  # duplicate
        ["x-foo,x-bar"],  # unsorted
        ["x-foo", "x-bar"],  # unsorted across lines
        ["x-quxbaz,x-foo"],
        ["x-bar\t\t,x-baz"],
        [" x-bar\t,\tx-baz\t ,x-foo"],
        ["x-bar" + "," * (MAX_EMPTY + 2) + "x-foo"],
    ],
}


@pytest.mark.parametrize(("names", "values"), [(n, v) for n, vs in ACCEPTED.items() for v in vs])
def test_accepts_header_list_accepted(names: tuple[str, ...], values: list[str]) -> None:
    assert accepts_header_list(*ranks(*names), values)


@pytest.mark.parametrize(("names", "values"), [(n, v) for n, vs in REJECTED.items() for v in vs])
def test_accepts_header_list_rejected(names: tuple[str, ...], values: list[str]) -> None:
    assert not accepts_header_list(*ranks(*names), values)


def test_accepts_header_list_whitespace_only_element_may_have_two_bytes() -> None:
    # rs/cors checks the budget before each byte, so "  " trims to an empty element but "   " fails
    assert accepts_header_list(*ranks("x-a"), ["x-a,  "])
    assert not accepts_header_list(*ranks("x-a"), ["x-a,   "])


class WatchedValue(str):
    """A header value that records the bounds of every comma search made in it."""

    searches: list[tuple[int | None, int | None]]

    def find(self, sub: str, start: SupportsIndex | None = None, end: SupportsIndex | None = None) -> int:  # type: ignore[override]
        self.searches.append((None if start is None else int(start), None if end is None else int(end)))
        return super().find(sub, start, end)


def test_accepts_header_list_huge_value_is_cheap_and_refused() -> None:
    positions, longest = ranks("content-type", "x-api-key")
    huge = WatchedValue("a" * 2_000_000 + ",content-type")
    huge.searches = []
    assert accepts_header_list(positions, longest, [huge]) is False
    # a bounded window per name: the two megabytes are never scanned for a comma
    assert huge.searches and all(end is not None and end <= 2 * MAX_OWS + longest + 1 for _, end in huge.searches)
    many = ["x-api-key," + "," * 10_000]
    assert accepts_header_list(positions, longest, many) is False


WILDCARDS = [
    ("https://*.example.com", "https://foo.example.com", True),
    ("https://*.example.com", "https://foo.bar.example.com", True),
    ("https://foo*.example.com", "https://foo.example.com", True),
    ("HTTPS://*.EXAMPLE.COM", "HTTPS://Foo.Example.COM", True),
    ("https://*.example.com:8443", "https://foo.example.com:8443", True),
    ("http://127.*:8080", "http://127.0.0.1:8080", True),
    ("http://[::1]:*", "http://[::1]:8080", True),
    ("n*", "null", True),
    # v1.11.1 matches prefix and suffix only: what sits between them is not checked
    ("https://*.example.com", "https://evil.com,https://a.example.com", True),
    ("https://*.example.com", "http://foo.example.com", False),
    ("https://*.example.com", "https://foo.other.com", False),
    ("https://*.example.com:8443", "https://foo.example.com:443", False),
    ("https://*.example.com", "https://foo.example.com:443", False),
    ("https://*.example.com", "https://.example.co", False),
    ("https://*.*.example.com", "https://a.b.example.com", False),  # the second * is literal
]


@pytest.mark.parametrize(("pattern", "origin", "allowed"), WILDCARDS)
def test_cors_policy_wildcard_origin(pattern: str, origin: str, allowed: bool) -> None:
    policy = CorsPolicy(CorsOptions(allow_origins=(pattern,)))
    assert policy.origin_allowed(origin) is allowed
    headers = CIMultiDict([("Origin", origin), ("Access-Control-Request-Method", "GET")])
    pairs = policy.preflight(headers)
    assert (("Access-Control-Allow-Origin", origin) in pairs) is allowed


def test_cors_policy_star_anywhere_allows_every_origin() -> None:
    policy = CorsPolicy(CorsOptions(allow_origins=("https://a.com", "*")))
    assert policy.actual("GET", CIMultiDict(Origin="anything")) == [
        ("Vary", "Origin"),
        ("Access-Control-Allow-Origin", "*"),
    ]


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("content-length", "Content-Length"),
        ("X-HEADER-1", "X-Header-1"),
        ("x-custom_header", "X-Custom_header"),
        ("bad header", "bad header"),
        ("ünicode", "ünicode"),
        ("", ""),
    ],
)
def test_canonical_header_like_go(name: str, canonical: str) -> None:
    assert canonical_header(name) == canonical


def test_cors_policy_credentials_with_any_origin_flag() -> None:
    assert CorsPolicy(parse_cors({"allow_credentials": True}, "p")).credentials_with_any_origin
    assert not CorsPolicy(
        parse_cors({"allow_credentials": True, "reflect_origin": True}, "p")
    ).credentials_with_any_origin
    assert not CorsPolicy(
        parse_cors({"allow_credentials": True, "allow_origins": ["https://a"]}, "p")
    ).credentials_with_any_origin


def test_cors_policy_debug_logs_decisions(caplog: pytest.LogCaptureFixture) -> None:
    policy = CorsPolicy(parse_cors({"debug": True, "allow_origins": ["https://a.com"]}, "p"))
    with caplog.at_level(logging.DEBUG, logger="krakenpy.cors"):
        policy.actual("GET", CIMultiDict(Origin="https://evil.com\x1b[31m"))
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    # the client-chosen origin is quoted, so control characters cannot forge log lines
    assert "origin 'https://evil.com\\x1b[31m' not allowed" in caplog.text


def test_cors_policy_without_debug_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    policy = CorsPolicy(parse_cors({"allow_origins": ["https://a.com"]}, "p"))
    with caplog.at_level(logging.DEBUG, logger="krakenpy.cors"):
        policy.actual("GET", CIMultiDict(Origin="https://evil.com"))
    assert caplog.records == []
