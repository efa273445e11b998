"""Span ids as the layers record them: raw bytes (the trace's protobuf head, ``TraceState.wire``, and
eight-byte span ids), written as the same OTLP as the same records with hex ids: the protobuf bytes
and the JSON text equal, the OpenCensus span's ids the same hex; raw ids of another length refused;
the per-request ids (:func:`request_ids`) and their heads (:class:`SpanBases`) unique and never zero."""

from __future__ import annotations

import binascii
import os
import random
from typing import Any

import pytest

from krakenpy.telemetry.otlp import attributes_text, resource_proto, spans_body, spans_proto
from krakenpy.telemetry.trace import otlpproto
from krakenpy.telemetry.trace.context import TraceState
from krakenpy.telemetry.trace.spans import TAIL2, Record, SpanBases, SpanShape, hex_id, hex_trace, request_ids, span_of
from krakenpy.telemetry.trace.templates import KEPT_ALIVE, ClientTemplate, ServerTemplate
from tests.telemetry.test_span_proto import RESOURCE, TRACE, _records, _same


def _raw(record: Record) -> Record:
    """``record`` with its ids as the layers record them."""
    trace, span, parent = record[1], record[2], record[3]
    wire = b"\x0a\x10" + binascii.unhexlify(trace) + b"\x12\x08"
    return (record[0], wire, binascii.unhexlify(span), binascii.unhexlify(parent) if parent else parent, *record[4:])


def _templated(seed: int) -> list[Record]:
    """The differential test's records that a layer's template writes (the generic ones carry a Span)."""
    return [r for r in _records(seed) if type(r[8]).__name__ != "Span"]


@pytest.mark.parametrize("seed", range(4))
def test_raw_ids_write_the_same_protobuf_and_text_as_hex_ids(seed: int) -> None:
    hexed = _templated(seed)
    raw = [_raw(r) for r in hexed]
    assert any(r[3] for r in raw) and any(not r[3] for r in raw)  # with and without a parent
    assert spans_proto(raw, resource_proto(RESOURCE)) == spans_proto(hexed, resource_proto(RESOURCE))
    # each span alone too: ``proto`` is ``framed`` (the usual spans' one pack, their head in it) unframed
    assert [r[0].proto(r) for r in raw] == [r[0].proto(r) for r in hexed]
    assert [r[0].framed(r) for r in raw] == [otlpproto.framed(r[0].proto(r)) for r in hexed]
    text = attributes_text(RESOURCE)
    assert spans_body(raw, text) == spans_body(hexed, text)
    _same(raw)  # and the protobuf decodes to what the JSON text says


def _usual(seed: int) -> list[Record]:
    """The usual SERVER and CLIENT records (no error, a first byte; with and without a parent) whose
    pieces change one at a time between spans: each length the one-pack paths key their pack by."""
    rng = random.Random(seed)
    server = ServerTemplate(SpanShape({"krakend.stage": "global"}))
    client = ClientTemplate("/c", SpanShape({"krakend.stage": "backend-request"}), {})
    server_values = ["GET", "/a/:id", "/a/1", "gw.example", "curl", "127.0.0.1", None, "rid-1", 200, 12]
    client_values = ["http://b/a", "b", 8080, "GET", 0, 200, 12, KEPT_ALIVE, 1_700_000_000_000_000_123]
    choices: dict[int, tuple[Any, ...]] = {
        0: ("GET", "POST", "DELETE"), 1: ("/a/:id", "/bb", "404 Not Found", "/é"), 2: ("/a/1", "/a/12?q=é", ""),
        3: ("gw.example", "g", "x" * 130), 4: ("curl", ""), 5: ("127.0.0.1", "::1"), 6: (None, 0, 12, 300, 2**62, -1),
        7: ("", "rid-1", "x" * 40, "r"), 8: (200, 0, 404, 1000, 70000), 9: (0, 12, 127, 128, 16384, 2**40),
    }  # fmt: skip
    client_choices: dict[int, tuple[Any, ...]] = {
        0: ("http://b/a", "http://b/abc", "http://é/" + "z" * 130), 1: ("b", "backend.example"), 2: (80, 8080, 65535),
        3: ("GET", "POST"), 4: (0, 12, 300, 2**40), 5: (200, 0, 503, 1000), 6: (0, 12, 127, 128, 16384),
        7: (None, KEPT_ALIVE, (0.0, 0.0, 0.0), (0.0, 1e-05, 0.25)), 8: (1_700_000_000_000_000_123, 5),
    }  # fmt: skip
    out: list[Record] = []
    for i in range(400):
        start = 1_700_000_000_000_000_000 + rng.randrange(10**12)
        head = (TRACE, f"{i:016x}", None if rng.random() < 0.3 else f"{rng.getrandbits(64) | 1:016x}", start,
                start + rng.randrange(10**9), 0, "")  # fmt: skip
        if i % 2:
            k = rng.randrange(len(server_values))
            server_values[k] = rng.choice(choices[k])
            out.append((server, *head, *server_values))
        else:
            k = rng.randrange(len(client_values))
            client_values[k] = rng.choice(client_choices[k])
            out.append((client, *head[:2], head[2] or "00000000000000a1", *head[3:], *client_values))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_the_usual_server_and_client_spans_write_the_same_protobuf_as_hex_ids(seed: int) -> None:
    hexed = _usual(seed)
    raw = [_raw(r) for r in hexed]
    assert spans_proto(raw, resource_proto(RESOURCE)) == spans_proto(hexed, resource_proto(RESOURCE))
    assert [r[0].framed(r) for r in raw] == [otlpproto.framed(r[0].proto(r)) for r in hexed]
    _same(raw)


def test_the_usual_server_and_client_spans_are_one_pack_each() -> None:
    """The differential above compares the one-pack paths only if raw records take them: the usual
    SERVER (root and child) and CLIENT spans of the differential's records do, with packs for pieces
    of several lengths (request ids, sizes, client texts, kept-alive or not)."""
    raw = [_raw(r) for r in _templated(3)]
    spans_proto(raw, b"")
    servers = {r[0] for r in raw if isinstance(r[0], ServerTemplate)}
    clients = {r[0] for r in raw if isinstance(r[0], ClientTemplate) and r[0].shape is not None}
    server_packs = [key for t in servers for key in t._packs]
    assert {key[0] for key in server_packs} == {0, 1} and len(server_packs) > 8
    assert sum(len(t._packs) for t in clients) > 1


def test_raw_ids_make_the_same_span_for_opencensus() -> None:
    for hexed in _templated(7)[:40]:
        mine, theirs = span_of(_raw(hexed)), span_of(hexed)
        assert (mine.trace_id, mine.span_id, mine.parent_id) == (theirs.trace_id, theirs.span_id, theirs.parent_id)
        assert type(mine.span_id) is str and len(mine.trace_id) == 32


def test_raw_ids_of_another_length_are_refused() -> None:
    wire = b"\x0a\x10" + bytes(range(1, 17)) + b"\x12\x08"
    span = bytes(range(1, 9))
    assert otlpproto.ids_wire(wire, span, span) == otlpproto.ids_proto(
        bytes(range(1, 17)).hex(), span.hex(), span.hex()
    )
    assert otlpproto.ids_wire(wire, span, None) == otlpproto.ids_proto(bytes(range(1, 17)).hex(), span.hex(), None)
    for bad in (
        (wire[:-3], span, span),
        (wire, span[:7], None),
        (wire, span, span + b"\x00"),
        (wire + b"x", span, None),
    ):
        with pytest.raises(ValueError):
            otlpproto.ids_wire(*bad)
        with pytest.raises(ValueError):  # struct's bytes fields would pad or cut them: checked first
            otlpproto.ids_times(*bad, 1, 2)
    assert otlpproto.ids_times(wire, span, span, 1, 2) == otlpproto.ids_wire(wire, span, span) + otlpproto.TIMES(
        0x39, 1, 0x41, 2
    )
    assert otlpproto.ids_times(wire, span, None, 1, 2) == otlpproto.ids_wire(wire, span, None) + otlpproto.TIMES(
        0x39, 1, 0x41, 2
    )


def test_raw_ids_of_another_length_refused_by_every_template() -> None:
    for hexed in _templated(5)[:60]:
        raw = _raw(hexed)
        for bad in ((raw[1][:-1], raw[2], raw[3]), (raw[1], raw[2] + b"\x00", raw[3])):
            with pytest.raises(ValueError):
                raw[0].proto((raw[0], *bad, *raw[4:]))
        if raw[3]:
            with pytest.raises(ValueError):
                raw[0].proto((*raw[:3], raw[3][:7], *raw[4:]))


def test_request_ids_give_the_writers_head_and_the_callers_span_as_bytes() -> None:
    trace = TraceState.of("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", True)
    head = request_ids(trace)
    assert trace.wire == b"\x0a\x10" + bytes.fromhex("0af7651916cd43dd8448eb211c80319c") + b"\x12\x08"
    assert trace.parent_raw == bytes.fromhex("b7ad6b7169203331")
    assert type(head) is bytes and len(head) == 6 and len(head + TAIL2[0x123]) == 8
    assert hex_trace(trace.wire) == trace.trace_id and hex_id(head + TAIL2[0x123]) == head.hex() + "0123"
    root = TraceState.of("0af7651916cd43dd8448eb211c80319c", None, True)
    request_ids(root)
    assert root.parent_raw is None
    with pytest.raises(ValueError):  # no extractor lets such an id in; refused as the writer refused it
        request_ids(TraceState.of("not hex at all, 32 characters...", None, True))


def test_span_bases_unique_across_the_counter_and_a_new_prefix() -> None:
    bases = SpanBases()
    # 300 counter bytes' worth of heads: the counter byte spent, a new random prefix drawn
    seen = [bases.take() for _ in range(300 * 4096)]
    assert len(set(seen)) == len(seen)
    assert {b[:3] for b in seen[::4096]} != {seen[0][:3]}  # a new prefix after 256 counter steps
    # never an all-zero span id (the SERVER span's tail is two zero bytes)
    assert all(b[2] & 1 for b in seen[::997])
    bases.drop()  # what a forked child does: the counter starts over on new random bits
    after = bases.take()
    assert after not in set(seen[-4096:])


def test_span_bases_count_through_each_counter_byte_in_order() -> None:
    """The heads are made a chunk at a time (``list.pop``): still every tail of a counter byte in
    order (the SERVER span's id ``TAIL2[0]`` after the first), then the next counter byte's."""
    bases = SpanBases()
    seen = [bases.take() for _ in range(3 * 4096 + 5)]
    for k in range(3):
        run = seen[k * 4096 : (k + 1) * 4096]
        assert {b[:4] for b in run} == {run[0][:4]}  # one prefix and counter byte
        assert [int.from_bytes(b[4:], "big") & 0xFFF for b in run] == list(range(4096))
    assert [seen[k * 4096][3] for k in range(4)] == [(seen[0][3] + k) & 0xFF for k in range(4)]
    assert len({b[4] >> 4 for b in seen}) == 1  # the prefix's one nibble


def test_span_bases_start_their_counter_at_a_random_point() -> None:
    """Two processes that draw the same three prefix bytes (one chance in 2^23 a pair) must not hand
    out the same heads from their first request: the counter byte starts at a random value and the
    tail bytes carry a random top nibble (27 random bits and a random start, as the text ids had)."""
    firsts = [SpanBases().take() for _ in range(64)]
    assert len({head[3] for head in firsts}) > 1  # the counter byte: 0 on every first head before
    assert len({head[4] >> 4 for head in firsts}) > 1  # the nibble: 0 before
    assert all(head[4] & 0x0F == 0 and head[5] == 0 for head in firsts)  # the tail counts from 0


def test_span_bases_differ_in_a_forked_child() -> None:
    bases = SpanBases()
    bases.take()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, bases.take())
        finally:
            os._exit(0)
    os.close(write)
    child: Any = os.read(read, 6)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 6 and child[:3] != bases.take()[:3]


@pytest.mark.parametrize(
    "start",
    [0, 1, 2**30 - 1, 2**30, 2**32 - 1, 2**32, 2**60 + 2**32 - 1, 1_796_000_000_123_456_789, 2**62, 2**63 - 1],
)
def test_ids_times_write_ids_with_leading_zero_bytes_and_times_at_digit_and_word_edges(start: int) -> None:
    """The raw path's one ``struct`` pack against opentelemetry-proto's decoder: times at the 30-bit digit
    and 32-bit word edges (a 64-bit time packed as halves would split there) up to 2**63 − 1, and ids
    whose leading bytes are zero (a hex or integer round trip would drop them)."""
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage

    trace = bytes(9) + bytes(range(1, 8))
    span = b"\x00\x00\x00\x01\x00\x00\x00\x00"
    parent = bytes(7) + b"\x01"
    wire = b"\x0a\x10" + trace + b"\x12\x08"
    end = min(start + 2**32 + 1, 2**64 - 1)
    for parent_id in (parent, parent.hex(), None):
        data = otlpproto.ids_times(wire, span, parent_id, start, end)
        assert data == otlpproto.ids_times(trace.hex(), span.hex(), parent.hex() if parent_id else None, start, end)
        decoded = SpanMessage.FromString(data)
        assert (decoded.trace_id, decoded.span_id) == (trace, span)
        assert decoded.parent_span_id == (parent if parent_id else b"")
        assert (decoded.start_time_unix_nano, decoded.end_time_unix_nano) == (start, end)
        assert data.endswith(b"\x39" + start.to_bytes(8, "little") + b"\x41" + end.to_bytes(8, "little"))
