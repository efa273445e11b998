"""rs/cors v1.11.1's specification table, written as KrakenD ``security/cors`` values and run through
the edge middleware: preflights are answered (204, no body, handler not called), other requests
reach the handler and get their CORS headers on its answer."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.cors import parse_cors
from tests.cors.helpers import cors_headers, handler, request

VARY_PREFLIGHT = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
VARY_PNA = VARY_PREFLIGHT + ", Access-Control-Request-Private-Network"
FOO = ("Origin", "http://foobar.com")

# (case, security/cors value, method, request headers, expected CORS response headers)
SPEC: list[tuple[str, dict[str, Any], str, list[tuple[str, str]], dict[str, list[str]]]] = [
    ("no_origin", {}, "GET", [], {"Vary": ["Origin"]}),
    (
        "match_all_origin",
        {"allow_origins": ["*"]},
        "GET",
        [FOO],
        {"Vary": ["Origin"], "Access-Control-Allow-Origin": ["*"]},
    ),
    (
        "match_all_origin_with_credentials",
        {"allow_origins": ["*"], "allow_credentials": True},
        "GET",
        [FOO],
        {"Vary": ["Origin"], "Access-Control-Allow-Origin": ["*"], "Access-Control-Allow-Credentials": ["true"]},
    ),
    (
        "allowed_origin",
        {"allow_origins": ["http://foobar.com"]},
        "GET",
        [FOO],
        {"Vary": ["Origin"], "Access-Control-Allow-Origin": ["http://foobar.com"]},
    ),
    (
        "allowed_origin_case_insensitive",
        {"allow_origins": ["HTTP://FooBar.com"]},
        "GET",
        [("Origin", "http://FOOBAR.com")],
        {"Vary": ["Origin"], "Access-Control-Allow-Origin": ["http://FOOBAR.com"]},
    ),
    (
        "wildcard_origin",
        {"allow_origins": ["http://*.bar.com"]},
        "GET",
        [("Origin", "http://foo.bar.com")],
        {"Vary": ["Origin"], "Access-Control-Allow-Origin": ["http://foo.bar.com"]},
    ),
    (
        "disallowed_origin",
        {"allow_origins": ["http://foobar.com"]},
        "GET",
        [("Origin", "http://barbaz.com")],
        {"Vary": ["Origin"]},
    ),
    (
        "disallowed_wildcard_origin",
        {"allow_origins": ["http://*.bar.com"]},
        "GET",
        [("Origin", "http://foo.baz.com")],
        {"Vary": ["Origin"]},
    ),
    (
        "actual_method_not_allowed",
        {"allow_origins": ["http://foobar.com"], "allow_methods": ["GET"]},
        "DELETE",
        [FOO],
        {"Vary": ["Origin"]},
    ),
    (
        "max_age",
        {"allow_origins": ["http://example.com"], "allow_methods": ["GET"], "max_age": "10s"},
        "OPTIONS",
        [("Origin", "http://example.com"), ("Access-Control-Request-Method", "GET")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://example.com"],
            "Access-Control-Allow-Methods": ["GET"],
            "Access-Control-Max-Age": ["10"],
        },
    ),
    (
        "max_age_negative",
        {"allow_origins": ["http://example.com"], "allow_methods": ["GET"], "max_age": "-1s"},
        "OPTIONS",
        [("Origin", "http://example.com"), ("Access-Control-Request-Method", "GET")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://example.com"],
            "Access-Control-Allow-Methods": ["GET"],
            "Access-Control-Max-Age": ["0"],
        },
    ),
    (
        "max_age_truncated_to_zero",
        {"allow_origins": ["http://example.com"], "allow_methods": ["GET"], "max_age": "900ms"},
        "OPTIONS",
        [("Origin", "http://example.com"), ("Access-Control-Request-Method", "GET")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://example.com"],
            "Access-Control-Allow-Methods": ["GET"],
        },
    ),
    (
        "allowed_method",
        {"allow_origins": ["http://foobar.com"], "allow_methods": ["PUT", "DELETE"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "PUT")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["PUT"],
        },
    ),
    (
        "disallowed_method",
        {"allow_origins": ["http://foobar.com"], "allow_methods": ["PUT", "DELETE"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "PATCH")],
        {"Vary": [VARY_PREFLIGHT]},
    ),
    (
        "method_compared_case_sensitively",
        {"allow_origins": ["http://foobar.com"], "allow_methods": ["PUT"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "put")],
        {"Vary": [VARY_PREFLIGHT]},
    ),
    (
        "default_methods_are_get_post_head",
        {"allow_origins": ["http://foobar.com"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "PUT")],
        {"Vary": [VARY_PREFLIGHT]},
    ),
    (
        "allowed_headers",
        {"allow_origins": ["http://foobar.com"], "allow_headers": ["X-Header-1", "x-header-2", "X-HEADER-3"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "x-header-1,x-header-2")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
            "Access-Control-Allow-Headers": ["x-header-1,x-header-2"],
        },
    ),
    (
        "allowed_wildcard_header",
        {"allow_origins": ["http://foobar.com"], "allow_headers": ["*"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "x-header-1,x-header-2")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
            "Access-Control-Allow-Headers": ["x-header-1,x-header-2"],
        },
    ),
    (
        "empty_allow_headers_means_any",
        {"allow_origins": ["http://foobar.com"], "allow_headers": []},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "X-Whatever")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
            "Access-Control-Allow-Headers": ["X-Whatever"],
        },
    ),
    (
        "disallowed_header",
        {"allow_origins": ["http://foobar.com"], "allow_headers": ["X-Header-1", "x-header-2"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "x-header-1,x-header-3")],
        {"Vary": [VARY_PREFLIGHT]},
    ),
    (
        "hand_written_header_list_is_refused",
        {"allow_origins": ["*"], "allow_headers": ["X-PINGOTHER", "Content-Type"]},
        "OPTIONS",
        [
            FOO,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "X-PINGOTHER, Content-Type"),
        ],
        {"Vary": [VARY_PREFLIGHT]},
    ),
    (
        "browser_header_list_is_accepted",
        {"allow_origins": ["*"], "allow_headers": ["X-PINGOTHER", "Content-Type"]},
        "OPTIONS",
        [
            FOO,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type,x-pingother"),
        ],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["*"],
            "Access-Control-Allow-Methods": ["POST"],
            "Access-Control-Allow-Headers": ["content-type,x-pingother"],
        },
    ),
    (
        "exposed_headers_canonicalised",
        {"allow_origins": ["http://foobar.com"], "expose_headers": ["X-Header-1", "x-header-2", "content-length"]},
        "GET",
        [FOO],
        {
            "Vary": ["Origin"],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Expose-Headers": ["X-Header-1, X-Header-2, Content-Length"],
        },
    ),
    (
        "exposed_headers_not_on_preflight",
        {"allow_origins": ["http://foobar.com"], "expose_headers": ["X-Header-1"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "GET")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
        },
    ),
    (
        "allowed_credentials",
        {"allow_origins": ["http://foobar.com"], "allow_credentials": True},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "GET")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
            "Access-Control-Allow-Credentials": ["true"],
        },
    ),
    (
        "allowed_private_network",
        {"allow_origins": ["http://foobar.com"], "allow_private_network": True},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Private-Network", "true")],
        {
            "Vary": [VARY_PNA],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
            "Access-Control-Allow-Private-Network": ["true"],
        },
    ),
    (
        "private_network_not_requested",
        {"allow_origins": ["http://foobar.com"], "allow_private_network": True},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "GET")],
        {
            "Vary": [VARY_PNA],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
        },
    ),
    (
        "disallowed_private_network",
        {"allow_origins": ["http://foobar.com"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Private-Network", "true")],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
        },
    ),
    ("preflight_without_origin", {}, "OPTIONS", [("Access-Control-Request-Method", "GET")], {"Vary": [VARY_PREFLIGHT]}),
    (
        "non_preflight_options_is_actual",
        {"allow_origins": ["http://foobar.com"]},
        "OPTIONS",
        [FOO],
        {"Vary": ["Origin"], "Access-Control-Allow-Origin": ["http://foobar.com"]},
    ),
    (
        "empty_request_method_is_not_preflight",
        {"allow_origins": ["http://foobar.com"]},
        "OPTIONS",
        [FOO, ("Access-Control-Request-Method", "")],
        {"Vary": ["Origin"], "Access-Control-Allow-Origin": ["http://foobar.com"]},
    ),
    (
        "multiple_request_header_lines",
        {"allow_origins": ["http://foobar.com"], "allow_headers": ["Content-Type", "Authorization"]},
        "OPTIONS",
        [
            FOO,
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
            "Access-Control-Allow-Headers": ["authorization", "content-type"],
        },
    ),
    (
        "multiple_request_header_lines_with_ows_and_empty_elements",
        {"allow_origins": ["http://foobar.com"], "allow_headers": ["Content-Type", "Authorization"]},
        "OPTIONS",
        [
            FOO,
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization\t"),
            ("Access-Control-Request-Headers", " "),
            ("Access-Control-Request-Headers", " content-type"),
        ],
        {
            "Vary": [VARY_PREFLIGHT],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Methods": ["GET"],
            "Access-Control-Allow-Headers": ["authorization\t", " ", " content-type"],
        },
    ),
    (
        "leading_empty_request_header_line_is_not_echoed",
        {"allow_origins": ["*"], "allow_headers": ["Authorization"]},
        "OPTIONS",
        [
            FOO,
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", ""),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        {"Vary": [VARY_PREFLIGHT], "Access-Control-Allow-Origin": ["*"], "Access-Control-Allow-Methods": ["GET"]},
    ),
    (
        "every_origin_value_echoed",
        {"allow_origins": ["http://foobar.com"]},
        "GET",
        [FOO, ("Origin", "http://other.com")],
        {"Vary": ["Origin"], "Access-Control-Allow-Origin": ["http://foobar.com", "http://other.com"]},
    ),
    (
        "reflect_origin_extension",
        {"allow_origins": ["*"], "allow_credentials": True, "reflect_origin": True},
        "GET",
        [FOO],
        {
            "Vary": ["Origin"],
            "Access-Control-Allow-Origin": ["http://foobar.com"],
            "Access-Control-Allow-Credentials": ["true"],
        },
    ),
]


@pytest.mark.parametrize(("case", "cfg", "method", "headers", "expected"), SPEC, ids=[c[0] for c in SPEC])
async def test_cors_spec_table(case: str, cfg: dict[str, Any], method: str, headers, expected) -> None:
    handle, nxt = handler(parse_cors(cfg, "extra_config.security/cors"))
    response = await handle(request(method, "/foo", headers))
    assert cors_headers(response) == expected
    preflight = method == "OPTIONS" and bool(dict(headers).get("Access-Control-Request-Method"))
    if preflight:
        assert (response.status, response.body, len(nxt.calls)) == (204, b"", 0)
        assert set(response.headers) <= set(expected)  # no Content-Type, no X-Krakend
    else:
        assert (response.status, response.body, len(nxt.calls)) == (200, b"bar", 1)


async def test_cors_preflight_answer_status_is_configurable() -> None:
    handle, nxt = handler(parse_cors({"options_success_status": 200}, "p"))
    response = await handle(request("OPTIONS", "/x", [FOO, ("Access-Control-Request-Method", "GET")]))
    assert (response.status, response.body, nxt.calls) == (200, b"", [])


@pytest.mark.parametrize("allowed", [True, False])
async def test_cors_options_passthrough_reaches_the_handler(allowed: bool) -> None:
    cfg = {"allow_origins": ["http://foobar.com" if allowed else "http://other.com"], "options_passthrough": True}
    handle, nxt = handler(parse_cors(cfg, "p"))
    response = await handle(request("OPTIONS", "/x", [FOO, ("Access-Control-Request-Method", "GET")]))
    assert (response.status, response.body, len(nxt.calls)) == (200, b"bar", 1)
    expected = {"Vary": [VARY_PREFLIGHT]}
    if allowed:
        expected |= {"Access-Control-Allow-Origin": ["http://foobar.com"], "Access-Control-Allow-Methods": ["GET"]}
    assert cors_headers(response) == expected
