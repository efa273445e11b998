"""The OTLP protobuf span writer against the OTLP/JSON one: the same records through both, decoded by
``opentelemetry-proto`` (``ParseFromString`` and ``json_format``), are equal messages: ids, names,
kinds, parents, attributes of every type, events, status, times to the nanosecond, resource and
scope; over many routes, statuses, errors, header attributes, non-ASCII and invalid text, large
ints and empty values, for every template and the generic (field by field) record."""

from __future__ import annotations

import base64
import random
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from krakenpy.telemetry.otlp import attributes_text, resource_proto, spans_body, spans_proto
from krakenpy.telemetry.trace import otlpproto, templates
from krakenpy.telemetry.trace.spans import CLIENT, INTERNAL, SERVER, Record, Span, SpanShape
from krakenpy.telemetry.trace.templates import CallTemplate, ClientTemplate, ReadTemplate, ServerTemplate

TRACE = "0af7651916cd43dd8448eb211c80319c"
RESOURCE = {"service.name": "gw é", "service.instance.id": "", "workers": 2, "debug": False, "load": 0.5}
#: texts that change their encoding: empty, JSON escapes, non-ASCII (2, 3 and 4 UTF-8 bytes), a
#: surrogate escape (a client's byte that was not UTF-8), one past 127 and one past 16383 bytes
#: (two- and three-byte lengths)
TEXTS = ("", "a", '/a"b\\c\n\t', "é", "日本語", "🙂 x", "bad \udcff byte", "x" * 200, "y" * 17000)
#: ints at the varint and int64 edges
INTS = (0, 1, 127, 128, 300, 1023, 1024, 16383, 16384, 2**31, 2**62, 2**63 - 1)


def _b64_ids(doc: Any) -> Any:
    if isinstance(doc, dict):
        ids = ("traceId", "spanId", "parentSpanId")
        return {k: base64.b64encode(bytes.fromhex(v)).decode() if k in ids else _b64_ids(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_b64_ids(v) for v in doc]
    return doc


def _from_json(records: list[Record]) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    json_format.Parse(orjson.dumps(_b64_ids(orjson.loads(spans_body(records, attributes_text(RESOURCE))))), message)
    return message


def _from_proto(records: list[Record]) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    message.ParseFromString(spans_proto(records, resource_proto(RESOURCE)))
    return message


def _same(records: list[Record]) -> ExportTraceServiceRequest:
    got, want = _from_proto(records), _from_json(records)
    assert len(got.resource_spans[0].scope_spans[0].spans) == len(records)
    spans = zip(got.resource_spans[0].scope_spans[0].spans, want.resource_spans[0].scope_spans[0].spans, strict=True)
    for mine, theirs in spans:
        assert mine == theirs, (json_format.MessageToDict(mine), json_format.MessageToDict(theirs))
    assert got == want
    return got


def _head(rng: random.Random, i: int, root: bool = False) -> tuple[Any, ...]:
    status = rng.choice((0, 0, 0, 1, 2, 2))
    message = rng.choice(("", "", "HTTP 502", 'upstream said "no"', "é🙂")) if status == 2 else ""
    start = 1_700_000_000_000_000_000 + rng.randrange(10**12)
    parent = None if root else f"{rng.getrandbits(64) | 1:016x}"
    return (TRACE, f"{i:016x}", parent, start, start + rng.randrange(10**9), status, message)


def _records(seed: int) -> list[Record]:
    rng = random.Random(seed)
    text = lambda: rng.choice(TEXTS[:-1])  # noqa: E731
    size = lambda: rng.choice(INTS)  # noqa: E731
    servers = [ServerTemplate(SpanShape({"krakend.stage": "global", "team": rng.choice(TEXTS[:6])})) for _ in range(2)]
    shapes = [SpanShape({"krakend.stage": "proxy", "http.route": text(), "n": size(), "ok": True}) for _ in range(3)]
    calls = [CallTemplate(f"/r/{n}", shape, {}) for n, shape in enumerate(shapes)]
    calls += [CallTemplate("/bare", SpanShape({}), {}), CallTemplate("/noshape", None, {"krakend.stage": "backend"})]
    clients = [
        ClientTemplate("/c", SpanShape({"krakend.stage": "backend-request", "w": 1.25}), {}),
        ClientTemplate("/c2", None, {"krakend.stage": "backend-request", "static": "s"}),
    ]
    reads = [ReadTemplate(SpanShape({"http.route": "/c"}), {}), ReadTemplate(None, {"krakend.stage": "x"})]
    out: list[Record] = []
    for i in range(300):
        kind = rng.randrange(5)
        if kind == 0:
            method = rng.choice(("GET", "POST", "DELETE", "PATCH"))
            route = rng.choice(("/a/:id", "/b", "404 Not Found", "/é/:x", '/q"'))
            body = rng.choice((None, 0, 12, 2**62, 2**63, -1))
            values = (method, route, text(), text(), text(), text(), body, rng.choice(("", "rid-1", "x" * 40)),
                      rng.choice((200, 404, 500, 502, 0)), size())  # fmt: skip
            out.append((rng.choice(servers), *_head(rng, i, root=rng.random() < 0.7), *values))
        elif kind == 1:
            code = rng.choice((None, None, 500, 504, 0))
            out.append((rng.choice(calls), *_head(rng, i), rng.random() < 0.8, rng.random() < 0.2, code))
        elif kind == 2:
            conn = rng.choice((None, (0.0, 0.0, 0.0), (0.0, 1e-05, 0.25), (1.5e-07, 0.0, 3.0)))
            first = rng.choice((0, 0, None, 1_700_000_000_000_000_123))
            values = (text(), text(), rng.choice((80, 443, 65535)), rng.choice(("GET", "POST")), size(),
                      rng.choice((200, 0, 503)), size(), conn, first)  # fmt: skip
            out.append((rng.choice(clients), *_head(rng, i, root=rng.random() < 0.1), *values))
        elif kind == 3:
            out.append((rng.choice(reads), *_head(rng, i), size(), rng.choice((0.0, 0.000125, 12.5, 1e-9, 3.0))))
        else:
            out.append(_generic(rng, i).record())
    return out


def _generic(rng: random.Random, i: int) -> Span:
    """A field-by-field span (a Lambda call's, header attributes' edge): values of every type."""
    attrs: dict[str, Any] = {}
    for n in range(rng.randrange(6)):
        attrs[rng.choice(("k", "url.full", "http.request.header.x-trace", "ké", f"a{n}"))] = rng.choice((
            rng.choice(TEXTS), rng.choice(INTS), -rng.choice(INTS), True, False, 0.1, -2.5, 0.0,
            [rng.choice(TEXTS[:4]), "v2"], ["only"], [], (1, "two", True, 3.5),
        ))  # fmt: skip
    head = _head(rng, i, root=rng.random() < 0.3)
    span = Span(head[0], head[2], rng.choice(TEXTS[:7]) or "n", rng.choice((SERVER, CLIENT, INTERNAL, 0)), attrs)
    span.span_id, span.start_ns, span.end_ns = head[1], head[3], head[4]
    if rng.random() < 0.5:
        span.static = SpanShape({"krakend.stage": "lambda", "é": rng.choice(INTS)})
    if head[5]:
        span.status, span.status_message = head[5], head[6]
    if rng.random() < 0.4:
        span.events = [("first-byte-time", head[3] + 5, {}), ("é", head[3] + 6, {"n": 1, "s": "v", "f": False})]
    return span


@pytest.mark.parametrize("seed", range(6))
def test_the_protobuf_writer_decodes_as_the_json_writer(seed: int) -> None:
    records = _records(seed)
    _same(records)
    _same(records)  # a second batch: from the templates' kept pieces and the key-value cache


def test_every_value_type_and_edge_reaches_the_collector() -> None:
    """What the differential compares is really there (a check that both writers dropped nothing)."""
    records = _records(0)
    spans = _same(records).resource_spans[0].scope_spans[0].spans
    seen = {a.value.WhichOneof("value") for s in spans for a in s.attributes}
    assert seen == {"string_value", "int_value", "bool_value", "double_value", "array_value"}
    assert {s.kind for s in spans} == {0, 1, 2, 3} and {s.status.code for s in spans} == {0, 1, 2}
    assert any(a.value.int_value == 2**63 - 1 for s in spans for a in s.attributes)
    assert any(a.value.string_value == "bad \ufffd byte" for s in spans for a in s.attributes)
    assert any(e.name == "first-byte-time" for s in spans for e in s.events)
    assert any(not s.parent_span_id for s in spans) and all(len(s.span_id) == 8 for s in spans)
    resource = _from_proto(records).resource_spans[0]
    assert {a.key for a in resource.resource.attributes} == set(RESOURCE)
    assert resource.scope_spans[0].scope.name == "io.krakend.krakend-otel"


def test_a_long_text_and_an_empty_batch() -> None:
    span = Span(TRACE, None, "big", SERVER, {"url.full": TEXTS[-1], "empty": ""}, "00000000000000a1", 5)
    span.end_ns = 6
    _same([span.record()])
    assert _from_proto([]) == _from_json([])


def test_a_long_text_is_not_kept_and_client_bytes_do_not_outlive_their_batch() -> None:
    records = [r for r in _records(1) if isinstance(r[0], ServerTemplate)]
    spans_proto(records, b"")
    assert templates._CLIENT_WIRES == {}
    assert templates._LAST_CLIENT == list(templates._NO_CLIENT)  # the last span's strings too
    otlpproto._KVS.clear()
    otlpproto.attributes_proto({"k": "x" * 300, "url.full": "/a?token=1", "kept": "v"})
    assert [k for k, _, _ in otlpproto._KVS] == ["kept"]


def test_varints_at_their_edges() -> None:
    for n in (0, 1, 127, 128, 2047, 2048, 16383, 16384, 2**63 - 1):
        data = otlpproto.varint(n)
        value = sum((b & 0x7F) << (7 * i) for i, b in enumerate(data))
        assert value == n and all(b & 0x80 for b in data[:-1]) and data[-1] < 0x80
    assert otlpproto.varint(-1) == b"\xff" * 9 + b"\x01"  # int64 -1: ten bytes, as protobuf writes it


def test_an_id_of_another_length_is_refused_not_written() -> None:
    """An id of the wrong length would make a Span whose id field lies about its size: the writer
    raises (the exporter drops that span and sends the rest)."""
    good = [r for r in _records(2) if isinstance(r[0], CallTemplate)][:3]
    for bad in ("abc", TRACE, "zz" * 8):
        record = (good[0][0], good[0][1], bad, *good[0][3:])
        with pytest.raises(ValueError):
            spans_proto([*good, record], b"")
    short_trace = (good[0][0], TRACE[:16], *good[0][2:])
    with pytest.raises(ValueError):
        spans_proto([short_trace], b"")
    assert _from_proto(good) == _from_json(good)


def _server(template: ServerTemplate, i: int, method: str, route: str, client: tuple[str, str, str, str]) -> Record:
    return (template, TRACE, f"{i + 1:016x}", None, 10 + i, 20 + i, 0, "", method, route, *client, None, "", 200, i)


def test_the_last_spans_kept_parts_serve_only_the_same_values() -> None:
    """A batch's SERVER spans whose client strings or route change one at a time, and CLIENT spans
    whose peer changes one part at a time, then come back: each span written with its own values
    (the writer keeps the last span's parts: a part compared wrongly would repeat another's)."""
    server = ServerTemplate(SpanShape({"krakend.stage": "global"}))
    client = ("/a?x=1", "gw", "curl", "10.0.0.1")
    changes = [client, client, ("/a?x=2", *client[1:]), (client[0], "gw2", *client[2:]),
               (*client[:2], "wget", client[3]), (*client[:3], "10.0.0.2"), client]  # fmt: skip
    records = [_server(server, i, "GET", "/a", c) for i, c in enumerate(changes)]
    records += [_server(server, 10, "POST", "/a", client), _server(server, 11, "POST", "/b", client)]
    peer = ClientTemplate("/c", SpanShape({"krakend.stage": "backend-request"}), {})
    head = (TRACE, "00000000000000c1", "00000000000000b1", 1, 2, 0, "")
    peers = [
        ("h", 80, "GET"),
        ("h", 80, "GET"),
        ("h", 81, "GET"),
        ("h2", 81, "GET"),
        ("h2", 81, "POST"),
        ("h", 80, "GET"),
    ]
    for host, port, method in peers:
        records.append((peer, *head, "http://u/", host, port, method, 0, 200, 5, templates.KEPT_ALIVE, 0))
    spans = _same(records).resource_spans[0].scope_spans[0].spans
    shown = [{a.key: a.value.string_value or a.value.int_value for a in s.attributes} for s in spans]
    assert [
        (x["url.full"], x["server.address"], x["user_agent.original"], x["client.address"]) for x in shown[:7]
    ] == changes
    assert [(x["http.request.method"], x["http.route"]) for x in shown[7:9]] == [("POST", "/a"), ("POST", "/b")]
    assert [(x["server.address"], x["server.port"], x["http.request.method"]) for x in shown[9:]] == peers


def test_string_key_values_by_length_as_written_in_full() -> None:
    """A key's string key-value from its kept prefix for the text's length, at the lengths where a
    varint grows (127/128 bytes of text, and of the whole key-value) and past the kept lengths."""
    key = otlpproto.KeyWire("http.request.id")
    for n in (0, 1, 100, 108, 109, 110, 126, 127, 128, 129, 255, 256, 300, 17000):
        for text in ("x" * n, "é" * (n // 2), "bad \udcff" + "y" * n):
            assert key.of_str(text) == otlpproto.str_kv(key.head, text), (n, text[:10])
            assert key.of_str(text) == otlpproto.str_kv(key.head, text)  # from the kept prefix
    assert key.of_str(12) == otlpproto.str_kv(key.head, "12")  # anything else as its str()


def test_ids_that_are_no_text_are_refused() -> None:
    good = [r for r in _records(3) if isinstance(r[0], CallTemplate)][:1]
    for bad in (bytes.fromhex(TRACE), 12, None):
        with pytest.raises(ValueError):
            spans_proto([(good[0][0], bad, *good[0][2:])], b"")
    with pytest.raises(ValueError):
        spans_proto([(*good[0][:3], b"\x00" * 8, *good[0][4:])], b"")
