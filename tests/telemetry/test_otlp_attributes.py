"""OTLP key-values from the encoded-item cache: the same encoding as without it, whatever the order."""

from __future__ import annotations

from krakenpy.telemetry import otlp
from krakenpy.telemetry.otlp import attributes
from krakenpy.telemetry.trace.otlptext import ENCODED_LEN, ENCODED_MAX


def test_attributes_cache_keeps_bool_int_float_and_str_apart() -> None:
    # True == 1 == 1.0 and hash alike: each must keep its own OTLP type, in either order
    first = [attributes({"k": v}) for v in (1, True, 1.0, "1", 1, True)]
    again = [attributes({"k": v}) for v in ("1", 1.0, True, 1, True, 1)]
    assert first == [
        [{"key": "k", "value": {"intValue": "1"}}],
        [{"key": "k", "value": {"boolValue": True}}],
        [{"key": "k", "value": {"doubleValue": 1.0}}],
        [{"key": "k", "value": {"stringValue": "1"}}],
        [{"key": "k", "value": {"intValue": "1"}}],
        [{"key": "k", "value": {"boolValue": True}}],
    ]
    assert again == [first[3], first[2], first[1], first[0], first[1], first[0]]


def test_attributes_unhashable_values_and_pairs() -> None:
    # a header's list of values cannot be a cache key: encoded all the same, with the other items
    got = attributes({"a": "x", "h": ["v1", 2], "n": 3})
    assert got == [
        {"key": "a", "value": {"stringValue": "x"}},
        {"key": "h", "value": {"arrayValue": {"values": [{"stringValue": "v1"}, {"intValue": "2"}]}}},
        {"key": "n", "value": {"intValue": "3"}},
    ]
    assert attributes(iter([("a", "x"), ("n", 3)])) == [got[0], got[2]]


def test_attributes_cache_skips_request_ids_and_long_values() -> None:
    long = "u" * (ENCODED_LEN + 1)
    attributes({"http.request.id": "rid-once", "url.full": long})
    kept = {(k, v) for k, v, _ in otlp._ENCODED}
    assert ("http.request.id", "rid-once") not in kept
    assert ("url.full", long) not in kept
    assert attributes({"url.full": long}) == [{"key": "url.full", "value": {"stringValue": long}}]


def test_attributes_cache_never_keeps_client_text() -> None:
    # a token in a URL path or a user agent must not outlive the batch that exported it
    client = {"url.full": "http://b/u/tok-c1", "user_agent.original": "ua-c", "client.address": "10.9.8.7"}
    attributes(client)
    kept = {v for _, v, _ in otlp._ENCODED}
    assert not kept & {"http://b/u/tok-c1", "ua-c", "10.9.8.7"}


def test_attributes_cache_empties_when_full_and_keeps_caching() -> None:
    for i in range(ENCODED_MAX + 10):
        attributes({"k": i})
    assert len(otlp._ENCODED) <= ENCODED_MAX
    attributes({"http.route": "/after-reload"})
    assert ("http.route", "/after-reload", str) in otlp._ENCODED
    route = [{"key": "http.route", "value": {"stringValue": "/after-reload"}}]
    assert attributes({"http.route": "/after-reload"}) == route
