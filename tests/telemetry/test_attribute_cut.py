"""The span attribute value cut (``OTEL_*ATTRIBUTE_VALUE_LENGTH_LIMIT``) on records as the layers and
the cold paths make them, written by the real OTLP/JSON writer."""

from __future__ import annotations

from typing import Any

import orjson

from krakenpy.telemetry.otlp import spans_body
from krakenpy.telemetry.trace.limits import AttributeCut, cut_value
from krakenpy.telemetry.trace.spans import Span


def _written(record: tuple[Any, ...]) -> dict[str, Any]:
    [span] = orjson.loads(spans_body([record], ""))["resourceSpans"][0]["scopeSpans"][0]["spans"]
    return dict(span)


def test_strings_and_the_strings_of_arrays_are_cut_other_values_kept() -> None:
    assert cut_value("abcdef", 3) == "abc" and cut_value("ab", 3) == "ab"
    assert cut_value(["abcdef", "x", 7], 3) == ["abc", "x", 7]
    assert cut_value(("abcdef",), 0) == ("",)
    assert cut_value(123456, 2) == 123456 and cut_value(True, 0) is True and cut_value(1.5, 0) == 1.5
    assert cut_value("héllo wörld", 4) == "héll"  # characters, not bytes (as otel-go counts runes)


def test_a_cold_path_span_is_cut_with_its_event_attributes_and_a_short_one_kept_as_it_is() -> None:
    span = Span("0af7651916cd43dd8448eb211c80319c", None, "invoke " + "n" * 40, 3, {"a": "x" * 40, "n": 5})
    span.event("retry", {"why": "y" * 40})
    span.end_ns = span.start_ns + 1
    cut = AttributeCut(8)
    written = _written(cut.record(span.record()))
    values = {a["key"]: a["value"] for a in written["attributes"]}
    assert values == {"a": {"stringValue": "x" * 8}, "n": {"intValue": "5"}}
    assert written["events"][0]["attributes"] == [{"key": "why", "value": {"stringValue": "y" * 8}}]
    assert written["name"] == "invoke " + "n" * 40  # the name is no attribute
    short = Span("0af7651916cd43dd8448eb211c80319c", None, "s", 1, {"a": "x" * 8}).record()
    assert cut.record(short) is short
