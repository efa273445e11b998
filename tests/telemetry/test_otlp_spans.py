"""Spans written as OTLP/JSON text from their records: the same document the dict encoding gives."""

from __future__ import annotations

from typing import Any

import orjson

from krakenpy.telemetry.otlp import SCOPE, attributes, attributes_text, spans_body, spans_json
from krakenpy.telemetry.trace.spans import CLIENT, INTERNAL, SERVER, Span, SpanShape, shape_for

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _expected(span: Span) -> dict[str, Any]:
    """The span as the dict encoder writes it (the reference the text must match)."""
    out: dict[str, Any] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": span.kind,
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": attributes(span.all_attributes()),
        "status": {"code": span.status, "message": span.status_message}
        if span.status_message
        else {"code": span.status},
    }
    if span.parent_id:
        out["parentSpanId"] = span.parent_id
    if span.events:
        out["events"] = [{"name": n, "timeUnixNano": str(t), "attributes": attributes(a)} for n, t, a in span.events]
    return out


def _spans() -> list[Span]:
    shape = SpanShape({"krakend.stage": "proxy", "http.route": '/a"b', "env": "é"})
    plain = Span(TRACE, None, "GET /x", SERVER, {"url.full": "/x?q=1", "http.response.status_code": 200, "ok": True})
    shaped = Span(TRACE, plain.span_id, '/a"b', INTERNAL, {"complete": False, "canceled": True})
    shaped.static = shape
    shaped.error('upstream said "no"\n')
    bare = Span(TRACE, shaped.span_id, "/empty", INTERNAL, {})
    bare.static = shape
    client = Span(TRACE, shaped.span_id, "/c", CLIENT, {"dns-duration": 0.25, "h": ["v1", 2]})
    client.static = SpanShape({})
    client.events = [("first-byte-time", 5, {}), ("e2", 6, {"n": 1})]
    for span in (plain, shaped, bare, client):
        span.end_ns = span.start_ns + 1000
    return [plain, shaped, bare, client]


def test_spans_body_matches_the_dict_encoding() -> None:
    spans = _spans()
    resource = {"service.name": "gw", "n": 3}
    records = [s.record() for s in spans]
    doc = orjson.loads(spans_body(records, attributes_text(resource)))
    scope = doc["resourceSpans"][0]["scopeSpans"][0]
    assert doc["resourceSpans"][0]["resource"]["attributes"] == attributes(resource)
    assert scope["scope"] == SCOPE
    assert scope["spans"] == [_expected(s) for s in spans]
    assert spans_json(records, resource) == doc


def test_spans_body_writes_bytes_that_were_not_utf8_as_replacement() -> None:
    # a client's bytes that were not UTF-8 (surrogate escapes) are written as U+FFFD, not refused
    span = Span(TRACE, None, "GET /\udcff", SERVER, {"user_agent.original": "x\udcffy"})
    got = orjson.loads(spans_body([span.record()], ""))["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert got["name"] == "GET /\ufffd"
    assert got["attributes"] == [{"key": "user_agent.original", "value": {"stringValue": "x\ufffdy"}}]


def test_spans_body_shape_encoded_once_and_first() -> None:
    spans = _spans()
    shape = spans[1].static
    assert shape is not None
    before = shape.encoded
    spans_body([s.record() for s in spans], "")
    assert before is None and shape.encoded == attributes_text(shape.attributes)
    body = spans_body([spans[1].record()], "")
    keys = [a["key"] for a in orjson.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]]
    assert keys == ["krakend.stage", "http.route", "env", "complete", "canceled"]


def test_shape_for_declines_a_static_key_written_per_request() -> None:
    per_request = frozenset({"complete"})
    assert shape_for({"krakend.stage": "proxy", "team": "a"}, per_request) is not None
    assert shape_for({"krakend.stage": "proxy", "complete": "x"}, per_request) is None
    prefixes = ("http.request.header.",)
    assert shape_for({"http.request.header.x": "1"}, frozenset(), prefixes) is None


def test_span_all_attributes_merges_shape_and_own() -> None:
    span = Span(TRACE, None, "n", INTERNAL, {"complete": True})
    assert span.all_attributes() is span.attributes
    span.static = SpanShape({"krakend.stage": "backend"})
    assert span.all_attributes() == {"krakend.stage": "backend", "complete": True}


def test_span_ids_unique_and_never_zero() -> None:
    ids = {Span(TRACE, None, "n", INTERNAL, {}).span_id for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 16 and int(i, 16) != 0 for i in ids)


def test_otlp_client_header_names_are_never_kept() -> None:
    """report_headers names keys after client header names: the key heads of those (and of any long
    key) are written each time, so no client text stays in memory after its batch."""
    from krakenpy.telemetry.trace import otlptext

    otlptext._HEADS.clear()
    otlptext.attributes_text({"http.request.header.x-" + "a" * 40: ["v"], "k" * 300: "v", "krakend.stage": "global"})
    assert list(otlptext._HEADS) == ["krakend.stage"]


def test_otlp_per_request_durations_do_not_flush_the_cache() -> None:
    from krakenpy.telemetry.trace import otlptext

    otlptext._TEXTS.clear()
    otlptext.attributes_text({"krakend.stage": "backend-request"})
    for i in range(3000):
        otlptext.attributes_text(
            {"get-conn-duration": i / 7, "dns-duration": i / 3, "http.client.response.read.size": i}
        )
    assert ("krakend.stage", "backend-request", str) in otlptext._TEXTS


def test_otlp_hop_span_ids_never_repeat_when_the_counter_wraps() -> None:
    from krakenpy.telemetry.trace.context import _HOPS

    _HOPS.reseed()
    _HOPS.high, _HOPS.low = 0xFFF, 4090  # six ids before the 24-bit counter is spent
    _HOPS.head = _HOPS._head_of(_HOPS.prefix, _HOPS.high)
    first = _HOPS.prefix
    ids = [_HOPS.next() for _ in range(20)]
    assert len(set(ids)) == 20 and _HOPS.prefix != first
    _HOPS.reseed()
