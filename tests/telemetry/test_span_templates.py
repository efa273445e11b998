"""The layers' span templates: a record written from pre-encoded parts is the same OTLP document as
the span it stands for written field by field (the dict encoding), for every template and the
values that change its text (absent sizes and ids, errors, cancels, connection times, events, a
shape-less layer, client text that JSON must escape)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from krakenpy.telemetry.otlp import spans_body
from krakenpy.telemetry.trace.spans import (
    CLIENT,
    INTERNAL,
    SERVER,
    Record,
    SpanBuffer,
    SpanShape,
    span_base,
    span_of,
    tee,
)
from krakenpy.telemetry.trace.templates import CallTemplate, ClientTemplate, ReadTemplate, ServerTemplate
from tests.telemetry.test_otlp_spans import TRACE, _expected

PARENT = "b7ad6b7169203331"


def _written(records: list[Record]) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = orjson.loads(spans_body(records, ""))["resourceSpans"][0]["scopeSpans"][0]["spans"]
    return spans


def _head(i: int, parent: str | None = PARENT, status: int = 0, message: str = "") -> tuple[Any, ...]:
    return (TRACE, f"{i:016x}", parent, 1_700_000_000_000_000_000 + i, 1_700_000_000_000_500_000 + i, status, message)


def _records() -> list[Record]:
    server = ServerTemplate(SpanShape({"krakend.stage": "global", "team": "t"}))
    proxy = CallTemplate('/a"b', SpanShape({"krakend.stage": "proxy", "http.route": '/a"b'}), {})
    bare = CallTemplate("/bare", SpanShape({}), {})
    client = ClientTemplate("/c", SpanShape({"krakend.stage": "backend-request"}), {})
    read = ReadTemplate(SpanShape({"krakend.stage": "backend-request", "http.route": "/c"}), {})
    return [
        (server, *_head(1, None), "GET", "/a/:id", '/a/1?q="x"\n', "gw:80", "ua é", "10.0.0.1", 12, "rid-1", 200, 7),
        (server, *_head(2, None, 2, "HTTP 502"), "POST", "404 Not Found", "/z", "gw", "", "", None, "", 502, 0),
        (proxy, *_head(3), True, False, None),
        (proxy, *_head(4, status=2, message='upstream said "no"'), False, True, 504),
        (bare, *_head(5), False, False, None),
        (client, *_head(6), "http://b:81/u?x=\\", "b", 81, "GET", 0, 200, 33, (0.0, 1e-05, 0.25), 1_700_000_000_1),
        (client, *_head(7, status=2, message="refused"), "http://b/u", "b", 80, "GET", 3, 0, 0, None, None),
        (read, *_head(8), 33, 0.000125),
    ]


def test_span_templates_write_what_the_dict_encoding_writes() -> None:
    records = _records()
    assert _written(records) == [_expected(span_of(r)) for r in records]


def test_span_templates_write_bytes_that_were_not_utf8_as_replacement() -> None:
    server = ServerTemplate(SpanShape({}))
    record = (server, *_head(1, None), "GET", "/\udcff", "/\udcff", "gw", "x\udcffy", "", None, "", 200, 0)
    got = _written([record])[0]
    values = {a["key"]: a["value"]["stringValue"] for a in got["attributes"] if "stringValue" in a["value"]}
    assert got["name"] == "GET /\ufffd" and values["user_agent.original"] == "x\ufffdy"
    assert values["url.full"] == values["http.route"] == "/\ufffd"


def test_span_templates_without_a_shape_keep_every_attribute_on_the_span() -> None:
    # a static key also written per request: no shape, the per-request value wins, written field by field
    proxy = CallTemplate("/p", None, {"krakend.stage": "proxy", "complete": "static"})
    client = ClientTemplate("/c", None, {"krakend.stage": "backend-request", "http.response.status_code": "x"})
    read = ReadTemplate(None, {"krakend.stage": "backend-request", "team": "t"})
    records = [
        (proxy, *_head(1), True, False, None),
        (client, *_head(2), "http://b/u", "b", 80, "GET", 0, 200, 5, None, None),
        (read, *_head(3), 5, 0.5),
    ]
    written = _written(records)
    assert written == [_expected(span_of(r)) for r in records]
    values = [{a["key"]: a["value"] for a in span["attributes"]} for span in written]
    assert values[0]["complete"] == {"boolValue": True} and values[0]["krakend.stage"] == {"stringValue": "proxy"}
    assert values[1]["http.response.status_code"] == {"intValue": "200"}
    assert values[2]["team"] == {"stringValue": "t"}


def test_span_templates_make_the_spans_opencensus_reads() -> None:
    records = _records()
    server, failed = span_of(records[0]), span_of(records[1])
    assert (server.name, server.kind, server.parent_id) == ("GET /a/:id", SERVER, None)
    assert server.all_attributes()["http.route"] == "/a/:id" and server.all_attributes()["team"] == "t"
    assert (failed.status, failed.status_message) == (2, "HTTP 502")
    assert "http.request.body.size" not in failed.attributes and "http.request.id" not in failed.attributes
    proxy = span_of(records[3])
    assert (proxy.kind, proxy.attributes) == (INTERNAL, {"http.response.status_code": 504, "complete": False,
                                                          "canceled": True})  # fmt: skip
    client = span_of(records[5])
    assert client.kind == CLIENT and client.attributes["dns-duration"] == 1e-05
    assert client.events == [("first-byte-time", 1_700_000_000_1, {})]


def test_span_buffer_takes_records_and_a_cold_path_span() -> None:
    buffer = SpanBuffer(limit=2)
    record = _records()[2]
    buffer.add(record)
    proxy = span_of(record)
    buffer.end(proxy)
    buffer.add(record)
    assert buffer.dropped == 1
    drained = buffer.drain()
    assert drained[0] is record and span_of(drained[1]) is proxy and buffer.spans == []


def test_span_buffer_tee_gives_every_target_each_record_within_its_own_bound() -> None:
    small, large = SpanBuffer(limit=1), SpanBuffer(limit=3, wake_at=2)
    woken: list[bool] = []
    large.on_full(lambda: woken.append(True))
    both = tee([small, large])
    records = _records()[:3]
    for record in records:
        both.add(record)
    assert both.drain() == [] and both.dropped == 0  # a tee keeps nothing itself
    assert small.drain() == records[:1] and small.dropped == 2
    assert large.drain() == records and large.dropped == 0 and woken == [True]


def test_span_made_from_a_record_keeps_its_id_and_times() -> None:
    record = _records()[2]
    span = span_of(record)
    assert (span.trace_id, span.span_id, span.parent_id, span.start_ns, span.end_ns) == record[1:6]


def test_span_bases_unique_per_request() -> None:
    bases = {span_base() for _ in range(10_000)}
    assert len(bases) == 10_000 and all(type(b) is bytes and len(b) == 6 for b in bases)


def test_span_templates_usual_call_format_writes_what_the_first_call_wrote() -> None:
    # the usual proxy/backend span is written by one f-string from a piece made on first use: the same text
    proxy = CallTemplate("/100%/{{.Id}}", SpanShape({"krakend.stage": "backend", "team": "50%"}), {})
    usual = (proxy, *_head(1), True, False, None)
    first = proxy.text(usual)
    assert proxy.usual is not None and proxy.text(usual) == first
    root, failed = (proxy, *_head(2, None), False, False, None), (proxy, *_head(3, status=2), True, True, 500)
    records = [usual, root, failed, usual]
    assert _written(records) == [_expected(span_of(r)) for r in records]


def test_span_templates_keep_no_client_text_once_the_batch_is_written() -> None:
    # a batch's repeated client strings are encoded once (a per-batch cache): written as the dict
    # encoding writes them, and forgotten when the batch is done, even when a record fails
    from krakenpy.telemetry.trace import templates

    records = _records() * 3
    assert _written(records) == [_expected(span_of(r)) for r in records]
    assert templates._BATCH == {} and templates._CLIENTS == {}
    broken = records[0][:-1]  # a record no template can write (a value short): the batch fails
    with pytest.raises(IndexError):
        spans_body([*records, broken], "")
    assert templates._BATCH == {} and templates._CLIENTS == {}


def test_spans_body_of_no_record_and_of_one_is_a_whole_document() -> None:
    assert _written([]) == []
    one = _records()[:1]
    assert _written(one) == [_expected(span_of(one[0]))]


def test_span_templates_write_a_time_that_is_no_int_as_pure_python_does() -> None:
    # compiled, the templates read the times into int locals: a time of another type (no layer
    # makes one) must still be written, field by field, as the interpreted templates write it
    odd = [(r[0], *r[1:4], str(r[4]), r[5], *r[6:]) for r in _records()]
    odd += [(r[0], *r[1:5], str(r[5]), *r[6:]) for r in _records()]
    client = _records()[5]
    odd.append((*client[:-1], str(client[-1])))  # the first-byte event's time
    assert [s["startTimeUnixNano"] for s in _written(odd[:8])] == [str(r[4]) for r in _records()]
    assert [s["endTimeUnixNano"] for s in _written(odd[8:16])] == [str(r[5]) for r in _records()]
    assert _written(odd[16:])[0]["events"][0]["timeUnixNano"] == str(client[-1])


def test_span_templates_usual_client_span_is_what_the_dict_encoding_writes() -> None:
    # a kept-alive call (durations all zero: a constant text) with its first byte and a parent is
    # written by one f-string; without a first byte, without a parent, with durations: the general path
    client = ClientTemplate("/c", SpanShape({"krakend.stage": "backend-request"}), {})
    server = ServerTemplate(SpanShape({"krakend.stage": "global"}))
    values = ("http://b:81/u", "b", 81, "GET", 0, 200, 33)
    records = [
        (client, *_head(1), *values, (0.0, 0.0, 0.0), 1_700_000_000_000_000_200),
        (client, *_head(2), *values, (0.0, 0.0, 3e-06), 1_700_000_000_000_000_200),
        (client, *_head(3), *values, (0.0, 0.0, 0.0), None),
        (client, *_head(4, None), *values, (0.0, 0.0, 0.0), 1_700_000_000_000_000_200),
        (client, *_head(5, status=2, message="HTTP 502"), *values, (2.5e-05, 0.0, 1.0), 1_700_000_000_000_000_200),
        (server, *_head(6, None), "GET", "/a", "/a", "gw", "ua", "10.0.0.1", None, "rid-6", 200, 7),
        (server, *_head(7), "POST", "/a", "/a", "gw", "ua", "10.0.0.1", 5, "", 201, 0),
    ]
    assert _written(records) == [_expected(span_of(r)) for r in records]


@pytest.mark.parametrize(
    "at",
    [
        1_000_000_000_000_000_000,  # 2001-09-09
        1_700_000_000_000_000_007,  # zeros inside
        1_764_650_123_456_789_012,
        3_999_999_999_999_999_999,
        4_611_686_018_427_387_904,  # 2**62: past a tagged int (compiled)
        999_999_999_999_999_999,  # 18 digits
        9_300_000_000_000_000_000,  # over 2**63
        0,
        -1_700_000_000_000_000_000,
    ],
)
def test_span_templates_write_every_time_as_its_decimal_text(at: int) -> None:
    # compiled, an int time is formatted as a machine word (other ints as mypyc's general text): the
    # same text as str() on both builds
    server = ServerTemplate(SpanShape({"krakend.stage": "global"}))
    record = (
        server,
        TRACE,
        "0000000000000001",
        None,
        at,
        at + 10_001,
        0,
        "",
        "GET",
        "/a",
        "/a",
        "gw",
        "",
        "",
        None,
        "",
        200,
        0,
    )
    span = _written([record])[0]
    assert (span["startTimeUnixNano"], span["endTimeUnixNano"]) == (str(at), str(at + 10_001))


def test_span_templates_keep_each_routes_and_peers_pieces_apart() -> None:
    # one SERVER template serves every route, one CLIENT template every peer of its backend: the pieces
    # they keep (by method and route, by host, port and method, the client texts by all four strings)
    # never write one route's, peer's or target's text into another's span, in one batch and the next
    server = ServerTemplate(SpanShape({"krakend.stage": "global"}))
    client = ClientTemplate("/c", SpanShape({"krakend.stage": "backend-request"}), {})
    proxy = CallTemplate("/a", SpanShape({"krakend.stage": "proxy", "http.route": "/a"}), {})
    other = CallTemplate("/b", SpanShape({"krakend.stage": "proxy", "http.route": "/b"}), {})
    at = 1_700_000_000_000_000_200
    peer = ("b", 81, "GET", 0, 200, 33, (0.0, 0.0, 0.0), at)
    records = [
        (server, *_head(1, None), "GET", "/a", "/a?x=1", "gw", "ua", "10.0.0.1", None, "r1", 200, 7),
        (server, *_head(2, None), "GET", "/b", "/b?x=1", "gw", "ua", "10.0.0.1", None, "r2", 200, 7),
        (server, *_head(3, None), "POST", "/a", "/a?x=2", "gw", "ua", "10.0.0.1", 3, "", 201, 1024),
        (server, *_head(4, None), "GET", "/a", "/a?x=1", "gw2", "ua", "10.0.0.1", None, "", 404, 0),
        (proxy, *_head(5), True, False, None),
        (other, *_head(6), False, False, None),
        (client, *_head(7), "http://b:81/u", *peer),
        (client, *_head(8), "http://b:82/u", "b", 82, *peer[2:]),
        (client, *_head(9), "http://b:81/u", "b", 81, "POST", *peer[3:]),
        (client, *_head(10), "http://c:81/v", "c", *peer[1:]),
    ]
    for _ in range(2):  # the second batch from the pieces the first one left
        written = _written(records + records[::-1])
        assert written == [_expected(span_of(r)) for r in records + records[::-1]]
    names = [span["name"] for span in written[:4]]
    assert names == ["GET /a", "GET /b", "POST /a", "GET /a"]
    targets = [{a["key"]: a["value"] for a in span["attributes"]}["url.full"] for span in written[:4]]
    assert targets == [{"stringValue": t} for t in ("/a?x=1", "/b?x=1", "/a?x=2", "/a?x=1")]


def test_span_templates_write_status_codes_and_sizes_as_their_decimal_text() -> None:
    # small ints come from a table, larger ones and bools as str() writes them
    server = ServerTemplate(SpanShape({}))
    records = [
        (server, *_head(i, None), "GET", "/a", "/a", "gw", "", "", body, "", code, size)
        for i, (body, code, size) in enumerate([(0, 0, 0), (1023, 599, 1023), (1024, 200, 1 << 40), (None, 100, 5)])
    ]
    values = [{a["key"]: a["value"] for a in span["attributes"]} for span in _written(records)]
    assert [v.get("http.request.body.size") for v in values] == [
        {"intValue": "0"}, {"intValue": "1023"}, {"intValue": "1024"}, None
    ]  # fmt: skip
    assert [v["http.response.status_code"]["intValue"] for v in values] == ["0", "599", "200", "100"]
    assert [v["http.response.body.size"]["intValue"] for v in values] == ["0", "1023", str(1 << 40), "5"]
