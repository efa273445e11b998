"""The native OTLP batch encoder (``krakenpy/telemetry/trace/_spanwire.c``: built with the compiled hot
path, ``make compile`` or a wheel) against the Python one (``otlp.spans_proto_py``, the reference and
the fallback): the same records, random and at their edges, through both, byte for byte, and the same
exception where the Python path raises. Without the extension (a pure build) the native cases skip
and ``spans_proto`` is checked to be the Python path."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from krakenpy.telemetry import otlp
from krakenpy.telemetry.otlp import resource_proto, spans_proto, spans_proto_py
from krakenpy.telemetry.trace.spans import INTERNAL, SERVER, Record, Span, SpanShape
from krakenpy.telemetry.trace.templates import (
    KEPT_ALIVE,
    CallTemplate,
    ClientTemplate,
    ReadTemplate,
    ServerTemplate,
    end_batch,
    native_plan,
)

try:
    from krakenpy.telemetry.trace import _spanwire
except ImportError:  # a pure build
    _spanwire = None  # type: ignore[assignment]

native = pytest.mark.skipif(_spanwire is None, reason="the native span encoder is not built (make compile)")

RESOURCE = resource_proto({"service.name": "gw é", "workers": 2})
HEX_TRACE = "0af7651916cd43dd8448eb211c80319c"
#: texts whose UTF-8 lengths sit at the varints' edges (127/128, 16383/16384 bytes, and the key-value's
#: and span's lengths around them), non-ASCII of 2, 3 and 4 bytes, a surrogate escape (a client's byte
#: that was not UTF-8: the template's path writes U+FFFD), a NUL
TEXTS = (
    "", "a", "/a/:id", "é", "日本語", "🙂 x", "bad \udcff byte", "\udcff", "\x00", "x" * 100, "x" * 108, "x" * 109,
    "x" * 110, "x" * 126, "x" * 127, "x" * 128, "é" * 64, "x" * 129, "x" * 16250, "x" * 16383, "x" * 16384,
    "é" * 8192, "y" * 17000,
)  # fmt: skip
#: ints at the varint and int64 edges, at CPython's 30-bit digits' (2**30, 2**60: one, two, three
#: digits, read natively up to 2**64), out of int64, and values of other types (the templates' paths)
SIZES = (
    0, 1, 127, 128, 300, 1023, 1024, 16383, 16384, 2**30 - 1, 2**30, 2**31, 2**60 - 1, 2**60, 2**62, 2**63 - 1,
    2**63, 2**64 - 1, 2**64, 2**90, -1, -128, -(2**30), -(2**60), -(2**63) + 1, -(2**63), -(2**63) - 1, -(2**64),
    True, False, 3.0, "12", None,
)  # fmt: skip
#: request-id values: none, empty, usual, long, non-ASCII, a surrogate escape, no text at all
RIDS = ("", None, "rid-1", "x" * 200, "é-1", "bad \udcff", 12)
CONNS = (
    None, KEPT_ALIVE, (0.0, 0.0, 0.0), (-0.0, 0.0, -0.0), (0.0, 1e-05, 0.25), (1.5e-07, 0.0, 3.0), (math.nan, 0.0, 0.0),
    (math.inf, -1.0, 0.0), (0, 0, 0), (1, 2.0, 3.0), [0.0, 0.0, 0.0],
)  # fmt: skip
STATUSES = ((0, ""), (0, ""), (0, ""), (0, "ignored"), (1, ""), (2, ""), (2, "HTTP 502"), (2, 'said "no" é'))


def _outcome(encode: Any, records: list[Record]) -> tuple[str, Any]:
    try:
        return ("bytes", encode(records, RESOURCE))
    except Exception as err:  # the exporter drops and counts what raises: the same type both ways
        return ("raised", type(err))
    finally:
        end_batch()


def _native(records: list[Record], resource: bytes) -> bytes:
    assert _spanwire is not None
    return _spanwire.spans(records, resource, otlp._SCOPE_PROTO, native_plan)


def _same(records: list[Record]) -> tuple[str, Any]:
    want = _outcome(spans_proto_py, records)
    got = _outcome(_native, records)
    if got != want:  # the first record that differs, for the report
        for r in records:
            one_want, one_got = _outcome(spans_proto_py, [r]), _outcome(_native, [r])
            assert one_got == one_want, (r[0].__class__.__name__, r[1:])
    assert got == want
    return got


class _Ids:
    """A trace's raw ids as the layers record them: the trace's 20-byte protobuf head
    (``TraceState.wire``), eight-byte span ids; sometimes as text, of another length, or none."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.trace = b"\x0a\x10" + rng.randbytes(16) + b"\x12\x08"

    def head(self, i: int, root: float = 0.0, odd: float = 0.05) -> tuple[Any, ...]:
        rng = self.rng
        trace: Any = self.trace
        own: Any = rng.randbytes(6) + i.to_bytes(2, "big")
        parent: Any = None if rng.random() < root else rng.randbytes(8)
        if rng.random() < odd:  # what the layers never record: the templates' other paths
            which = rng.randrange(6)
            if which == 0:
                trace, own = HEX_TRACE, own.hex()
                parent = parent.hex() if parent else None
            elif which == 1:
                parent = parent.hex() if parent else b""
            elif which == 2:
                parent = b""
            elif which == 3:
                own = own.hex()
            elif which == 4:
                parent = bytearray(8)
            else:
                trace = bytearray(trace)
        status, message = rng.choice(STATUSES)
        start = rng.choice((1_700_000_000_000_000_000 + rng.randrange(10**12), 0, 2**64 - 1, 2**63, 2**60, 2**30))
        end = start if start >= 2**63 else start + rng.randrange(10**9)
        return (trace, own, parent, start, end, status, message)


def _text(rng: random.Random) -> str:
    return rng.choice(TEXTS) if rng.random() < 0.3 else rng.choice(("/a?x=1", "gw", "curl/8", "10.0.0.1", ""))


def _int(rng: random.Random, odd: float = 0.2) -> Any:
    return rng.choice(SIZES) if rng.random() < odd else rng.choice((0, 12, 200, 1500, 65536))


def _templates(rng: random.Random) -> dict[str, list[Any]]:
    shapes = [SpanShape({"krakend.stage": "proxy", "http.route": _text(rng), "n": _int(rng, 0.3)}) for _ in range(3)]
    return {
        "server": [ServerTemplate(SpanShape({"krakend.stage": "global", "team": rng.choice(TEXTS[:8])})),
                   ServerTemplate(SpanShape({}))],
        "call": [CallTemplate(f"/r/{n}", shape, {}) for n, shape in enumerate(shapes)]
        + [CallTemplate("/bare", SpanShape({}), {}), CallTemplate("/noshape", None, {"krakend.stage": "backend"})],
        "client": [ClientTemplate("/c", SpanShape({"krakend.stage": "backend-request", "w": 1.25}), {}),
                   ClientTemplate("é" * 70, SpanShape({}), {}),
                   ClientTemplate("/c2", None, {"krakend.stage": "backend-request", "static": "s"})],
        "read": [ReadTemplate(SpanShape({"http.route": "/c"}), {}), ReadTemplate(None, {"krakend.stage": "x"})],
    }  # fmt: skip


def _records(seed: int, n: int = 400, odd: float = 0.05) -> list[Record]:
    rng = random.Random(seed)
    ids = _Ids(rng)
    kinds = _templates(rng)
    out: list[Record] = []
    for i in range(n):
        kind = rng.randrange(5)
        if kind == 0:
            method = rng.choice(("GET", "POST", "DELETE", "é", "bad \udcff")[: 3 if rng.random() > odd else 5])
            label = rng.choice(("/a/:id", "/b", "404 Not Found", "/é/:x", '/q"', "x" * 130))
            body = rng.choice((None, 0, 12, 2**62)) if rng.random() > 0.3 else rng.choice(SIZES)
            client: tuple[Any, ...] = (_text(rng), _text(rng), _text(rng), _text(rng))
            if rng.random() < odd:
                client = (*client[:3], 12)
            values: tuple[Any, ...] = (method, label, *client, body, rng.choice(RIDS), _int(rng, odd), _int(rng, odd))
            out.append((rng.choice(kinds["server"]), *ids.head(i, root=0.6, odd=odd), *values))
        elif kind == 1:
            complete: Any = rng.random() < 0.8
            if rng.random() < odd:
                complete = rng.choice((1, 0, None))
            canceled: Any = rng.random() < 0.1 or (rng.random() < odd and rng.choice((0, None, "", 1)))
            code = None if rng.random() < 0.8 else rng.choice((500, 504, 0, 2**63))
            out.append((rng.choice(kinds["call"]), *ids.head(i, root=0.05, odd=odd), complete, canceled, code))
        elif kind == 2:
            conn = rng.choice(CONNS[:3]) if rng.random() > 0.4 else rng.choice(CONNS)
            first = rng.choice((1_700_000_000_000_000_123, 1_700_000_000_000_000_124, 0, None, 2**64 - 1))
            port: Any = rng.choice((80, 443, 65535, 8080))
            if rng.random() < odd:
                port = rng.choice((0, -1, 2**63, "80", 80.0))
            values = (_text(rng), _text(rng), port, rng.choice(("GET", "POST", "é")), _int(rng, odd), _int(rng, odd),
                      _int(rng, odd), conn, first)  # fmt: skip
            out.append((rng.choice(kinds["client"]), *ids.head(i, root=0.05, odd=odd), *values))
        elif kind == 3:
            seconds = rng.choice((0.0, 0.000125, 12.5, 1e-9, -0.0, math.inf, math.nan, 3, 2**70))
            out.append((rng.choice(kinds["read"]), *ids.head(i, root=0.05, odd=odd), _int(rng, odd), seconds))
        else:
            head = ids.head(i, root=0.3, odd=1.0)  # a generic span's ids are text
            span = Span(HEX_TRACE, None, rng.choice(TEXTS[:7]) or "n", rng.choice((SERVER, INTERNAL)), {"k": 1})
            span.span_id, span.start_ns, span.end_ns = f"{i + 1:016x}", head[3], head[4]
            out.append(span.record())
    return out


def _valid(records: list[Record]) -> list[Record]:
    """The records the Python path writes (each alone): a batch of them must encode."""
    good = []
    for r in records:
        if _outcome(spans_proto_py, [r])[0] == "bytes":
            good.append(r)
    return good


def test_spans_proto_is_the_python_path_without_the_extension() -> None:
    records = _valid(_records(100, 200))
    assert spans_proto(records, RESOURCE) == spans_proto_py(records, RESOURCE)
    assert (otlp._NATIVE is None) == (_spanwire is None)


@native
@pytest.mark.parametrize("seed", range(8))
def test_the_native_encoder_writes_the_python_bytes(seed: int) -> None:
    records = _valid(_records(seed))
    before = _spanwire.counts()
    kind, data = _same(records)
    assert kind == "bytes"
    assert spans_proto(records, RESOURCE) == data  # through spans_proto too
    _same(records)  # a second batch: from the templates' kept plans
    natively, framed = (a - b for a, b in zip(_spanwire.counts(), before, strict=True))
    # the usual spans were written natively, the others by their template (three batches)
    usual = sum(_usual(r) for r in records)
    assert (natively, framed) == (3 * usual, 3 * (len(records) - usual))
    assert usual > len(records) // 10


@native
@pytest.mark.parametrize("seed", range(8, 12))
def test_the_usual_spans_alone_are_written_natively(seed: int) -> None:
    records = [r for r in _valid(_records(seed, 1000, odd=0.0)) if type(r[0]) is not CallTemplate or r[0].shape]
    usual = [r for r in records if _usual(r)]
    assert len(usual) > 150
    before = _spanwire.counts()
    _same(usual)
    natively, framed = (a - b for a, b in zip(_spanwire.counts(), before, strict=True))
    assert (natively, framed) == (len(usual), 0)


def _usual(r: Record) -> bool:
    """The records the native encoder writes itself (the test's own statement of its contract)."""
    template = r[0]
    if native_plan(template) is None or r[6] or type(r[1]) is not bytes or type(r[2]) is not bytes:
        return False
    if len(r[1]) != 20 or len(r[2]) != 8:
        return False
    if not (type(r[3]) is bytes and len(r[3]) == 8) and not (r[3] is None and type(template) is ServerTemplate):
        return False
    if any(type(t) is not int or not 0 <= t < 2**64 for t in r[4:6]):
        return False
    texts = [v for v in r[8:] if type(v) is str]
    try:
        for text in texts:
            text.encode()
    except UnicodeEncodeError:
        return False

    def int64(v: Any) -> bool:
        return type(v) is int and -(2**63) <= v < 2**63

    if type(template) is ServerTemplate:
        return (
            all(type(v) is str for v in r[8:14]) and (r[14] is None or type(r[14]) is int)
            and (r[15] is None or type(r[15]) is str) and int64(r[16]) and int64(r[17])
        )  # fmt: skip
    if type(template) is CallTemplate:
        return type(r[8]) is bool and not r[9] and r[10] is None
    if type(template) is ClientTemplate:
        conn = r[15]
        timed = conn is None or (type(conn) is tuple and len(conn) == 3 and all(type(s) is float for s in conn))
        return (
            type(r[8]) is str and type(r[9]) is str and int64(r[10]) and type(r[11]) is str
            and all(int64(v) for v in r[12:15]) and timed and type(r[16]) is int and 0 < r[16] < 2**64
        )  # fmt: skip
    return int64(r[8]) and type(r[9]) is float


@native
def test_a_record_the_python_path_refuses_is_refused_natively() -> None:
    """Each record alone: where the Python path raises (an id of another length, a time out of
    ``struct``'s range, a value it cannot write), the native path raises the same type."""
    refused = 0
    for r in _records(20, 1500, odd=0.3):
        kind, _ = _same([r])
        refused += kind == "raised"
    assert refused > 20


@native
def test_edges_one_by_one() -> None:
    rng = random.Random(7)
    ids = _Ids(rng)
    kinds = _templates(rng)
    server, call, client, read = kinds["server"][0], kinds["call"][0], kinds["client"][0], kinds["read"][0]
    records: list[Record] = []
    for i, n in enumerate(SIZES):
        for parent in (rng.randbytes(8), None):
            head = (ids.trace, rng.randbytes(8), parent, 1, 2, 0, "")
            records.append((server, *head, "GET", "/a", "/a", "h", "ua", "1.2.3.4", n, "rid", n, n))
            records.append((server, *head, "GET", "/a", "/a", "h", "ua", "1.2.3.4", None, "", 200, n))
            records.append((call, *head, True, False, n))
            records.append((client, *head, "/u", "h", n, "GET", n, n, n, KEPT_ALIVE, n))
            records.append((client, *head, "/u", "h", 80, "GET", n, 200, 5, None, 10 + i))
            records.append((read, *head, n, 0.5))
            records.append((read, *head, 5, n))
    for text in TEXTS:
        head = (ids.trace, rng.randbytes(8), rng.randbytes(8), 1, 2, 0, "")
        records.append((server, *head, text, text, text, text, text, text, len(text), text, 200, 0))
        records.append((client, *head, text, text, 80, text, 0, 200, 0, (0.5, 0.25, 0.125), 3))
    for status, message in STATUSES:
        head = (ids.trace, rng.randbytes(8), rng.randbytes(8), 1, 2, status, message)
        records.append((server, *head, "GET", "/a", "/a", "h", "ua", "1.2.3.4", None, "", 502, 0))
        records.append((call, *head, False, True, 504))
        records.append((call, *head, False, True, None))  # canceled
        records.append((client, *head, "/u", "h", 80, "GET", 0, 502, 0, None, 0))  # dialled? no first byte
        records.append((read, *head, 5, 0.5))
    for r in records:
        _same([r])
    _same(_valid(records))


class _Bool:
    """A status whose truth runs Python code: raises, or forgets the native plans mid-record."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __bool__(self) -> bool:
        if self.what == "raise":
            raise RuntimeError("no truth")
        assert _spanwire is not None
        _spanwire.forget()
        return False


@native
def test_hostile_records_do_not_crash() -> None:
    records = _valid(_records(30, 60))
    r = records[0]
    base = [x for x in records if type(x[0]) is ServerTemplate][0]
    hostile: list[list[Any]] = [
        [list(r)],  # a record that is no tuple: r[0].framed(r)
        [r[:3]],  # too short
        [(r[0],)],
        [(*base[:6], _Bool("raise"), *base[7:])],
        [(*base[:6], _Bool("forget"), *base[7:])],
        [(*base[:6], 0, *base[7:], "extra")],  # a value more
        [42],
    ]
    for bad in hostile:
        _same(bad)
    for template in (None, object()):  # no template: both raise (compiled, the typed Python path a
        # TypeError where the interpreter's AttributeError is the native path's)
        assert _outcome(spans_proto_py, [(template, *r[1:])])[0] == "raised"
        assert _outcome(_native, [(template, *r[1:])])[0] == "raised"
    with pytest.raises(TypeError):
        _spanwire.spans(42, RESOURCE, b"", native_plan)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _spanwire.spans([], "resource", b"", native_plan)  # type: ignore[arg-type]
    _spanwire.forget()  # the plans are asked again
    with pytest.raises(TypeError):
        _spanwire.spans([r], RESOURCE, b"", lambda t: "no plan")
    with pytest.raises(ZeroDivisionError):
        _spanwire.spans([r], RESOURCE, b"", lambda t: 1 / 0)
    _spanwire.forget()
    # a plan that is no known one: the template writes every record
    assert _spanwire.spans(records, RESOURCE, otlp._SCOPE_PROTO, lambda t: (9, b"")) == spans_proto_py(
        records, RESOURCE
    )
    _spanwire.forget()


@native
def test_many_templates_and_a_large_batch() -> None:
    """More templates than the plans kept (they are forgotten and made again) and a batch larger than
    the buffer's first guess (long texts: it grows)."""
    rng = random.Random(5)
    ids = _Ids(rng)
    records: list[Record] = []
    for i in range(1200):
        template = CallTemplate(f"/t/{i}", SpanShape({"i": i}), {})
        records.append((template, ids.trace, rng.randbytes(8), rng.randbytes(8), i, i + 1, 0, "", True, False, None))
    server = ServerTemplate(SpanShape({}))
    for i in range(300):
        head = (ids.trace, rng.randbytes(8), None, i, i + 1, 0, "")
        records.append((server, *head, "GET", "/a", "u" * (i * 37), "h", "ua", "ip", i, "r", 200, i))
    _same(records)
    _same(records)


def test_no_plan_for_other_templates() -> None:
    assert native_plan(object()) is None
    assert native_plan(CallTemplate("/n", None, {})) is None
    assert native_plan(ReadTemplate(None, {})) is None
    kind, *pieces = native_plan(CallTemplate("/n", SpanShape({}), {})) or ()
    assert kind == 2 and all(type(p) is bytes for p in pieces) and len(pieces) == 2


@native
def test_the_envelope_at_its_lengths_edges() -> None:
    """The envelope's lengths are written last, in room kept for a guess of the batch's size: batches
    whose spans are much shorter or longer than the guess (the batch moved to fit), across the
    varints' 128 and 16384 edges, an empty batch, an empty and a long resource."""
    rng = random.Random(9)
    ids = _Ids(rng)
    call = CallTemplate("/e", SpanShape({}), {})
    server = ServerTemplate(SpanShape({}))
    for resource in (b"", RESOURCE, b"\x0a" + bytes([127]) + b"r" * 127, b"\x0a\x80\x80\x01" + b"r" * 16384):
        for n in (0, 1, 2, 3, 50, 100, 127, 128, 129, 160, 200, 400):
            records: list[Record] = [
                (call, ids.trace, rng.randbytes(8), rng.randbytes(8), 1, 2, 0, "", True, False, None) for _ in range(n)
            ]
            want = spans_proto_py(records, resource)
            assert _native(records, resource) == want, (len(resource), n)
            for text in ("x" * 100, "y" * 16300, "z" * 20000, "w" * 2_100_000):
                head = (ids.trace, rng.randbytes(8), None, 1, 2, 0, "")
                big = [*records, (server, *head, "GET", "/a", text, "h", "ua", "ip", None, "", 200, 0)]
                assert _native(big, resource) == spans_proto_py(big, resource), (len(resource), n, len(text))
                end_batch()


def test_an_unusual_value_never_reaches_a_usual_records_bytes() -> None:
    """The Python path's caches (the CLIENT span's peer, the SERVER span's route) are keyed by equality:
    a record with a float port (80.0 == 80) or a str subclass once left its bytes under the usual
    record's key, and the next usual record was written with them (the round 25 review, found
    through the native path, which writes the usual record right). Each usual record's bytes are the
    ones a template that never saw the unusual record writes."""
    head = (b"\x0a\x10" + bytes(16) + b"\x12\x08", bytes(8), bytes(7) + b"\x01", 1, 2, 0, "")

    class Text(str):
        pass

    def client_rec(template: Any, port: Any) -> Record:
        return (template, *head, "/u", "h", port, "GET", 0, 200, 5, KEPT_ALIVE, 3)

    def server_rec(template: Any, method: Any) -> Record:
        return (template, *head, method, "/a", "/a", "h", "ua", "1.2.3.4", None, "", 200, 0)

    def shape() -> SpanShape:
        return SpanShape({"krakend.stage": "x"})

    for make, rec, odd, usual in (
        (lambda: ClientTemplate("/c", shape(), {}), client_rec, 80.0, 80),
        (lambda: ServerTemplate(shape()), server_rec, Text("GET"), "GET"),
    ):
        fresh, seen = make(), make()
        want = spans_proto_py([rec(fresh, usual)], RESOURCE)
        end_batch()
        try:  # written, or refused (a compiled build may refuse the type): never kept for the usual key
            spans_proto_py([rec(seen, odd)], RESOURCE)
        except TypeError:
            pass
        finally:
            end_batch()
        assert spans_proto_py([rec(seen, usual)], RESOURCE) == want
        end_batch()
