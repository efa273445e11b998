"""The native gin batch writer (``krakenpy/telemetry/_ginwire.c``, built beside the mypyc hot path)
writes, byte for byte, what the Python renderer writes (``gin_renderer(native=False)``, the
reference): random batches of every kind of field, each edge of the latency's and the status's ranges,
both clocks, seconds and minutes crossed within a batch; unusual entries leave the batch to Python;
hostile arguments and callbacks raise or give the batch back, never crash. Without the extension
the native cases skip and the renderer is the Python path."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from krakenpy.telemetry import ginline
from krakenpy.telemetry.ginline import GinEntry, gin_renderer

try:
    from krakenpy.telemetry import _ginwire
except ImportError:  # a pure build: the Python path only
    _ginwire = None  # type: ignore[assignment]

native = pytest.mark.skipif(_ginwire is None, reason="the native gin writer is not built here")

_END = int(time.mktime((2024, 5, 30, 19, 8, 7, 0, 0, -1))) * 10**9

_IPS = ["10.0.0.1", "192.168.100.200", "::1", "", "2001:db8:85a3:0:0:8a2e:370:7334", "ñ.example", "1.2.3.4"]
_METHODS = ["GET", "POST", "PROPFIND", "LONGMETHODNAME", "", "DELETE", "GÉT"]
_TARGETS = ["/p1", "/p1?a=1&b=2", "", '/q"uote', "/back\\slash", "/tab\tx", "/del\x7f", "/ü", "/sp ace", "/~!@#$%^&*()"]
_ERRORS: list[str | None] = [None, None, None, "boom", "line\r\nforged", "", "é", "a\nb\rc\n"]
_LATENCIES = [0, 1, 999, 1_000, 1_001, 1_010, 1_100, 9_999, 999_999, 1_000_000, 1_000_001, 1_001_000,
              1_010_000, 1_100_000, 1_234_567, 999_999_999, 1_000_000_000, 1_500_000_000, 61_000_000_001,
              3_600_000_000_000]  # fmt: skip
_STATUSES: list[Any] = [200, 200, 404, 500, 0, 7, 99, 999, 1000, -1, True]


def _entry(rng: random.Random, clock: int) -> GinEntry:
    latency = rng.choice(_LATENCIES) if rng.random() < 0.5 else rng.randrange(1_000, 1_000_000_000)
    return (clock, rng.choice(_STATUSES), latency, rng.choice(_IPS), rng.choice(_METHODS), rng.choice(_TARGETS),
            rng.choice(_ERRORS))  # fmt: skip


def _usual(rng: random.Random, clock: int) -> GinEntry:
    return (clock, rng.choice([200, 201, 404, 500, 0, 999]), rng.randrange(1_000, 1_000_000_000),
            rng.choice(_IPS[:5]), rng.choice(_METHODS[:6]), rng.choice(["/p1", "/p1?a=1&b=2", "", "/sp ace"]),
            rng.choice([None, "boom", "line\r\nforged", ""]))  # fmt: skip


@native
def test_usual_batches_are_written_natively_as_python_writes_them() -> None:
    rng = random.Random(1405)
    answers: list[bytes | None] = []

    def spy(*args: Any) -> bytes | None:
        answers.append(_ginwire.lines(*args))
        return answers[-1]

    fast, reference = gin_renderer(writer=spy), gin_renderer(native=False)
    written = 0
    head = b"[GIN] x | "

    def locate(clock: int) -> tuple[bytes, int, int]:
        return head, clock, clock + 1

    for _ in range(400):
        start = _END + rng.randrange(0, 200) * 10**9  # seconds and minutes crossed between batches
        batch = [_usual(rng, start + rng.randrange(0, 3 * 10**9)) for _ in range(rng.randint(1, 40))]
        # the writer itself takes every usual batch (its None would leave it to the Python path)
        assert _ginwire.lines(list(batch), locate, head, 1, 0) is not None
        assert fast(batch) == reference(batch), batch
        written += 1
    assert written == 400
    # the renderer handed every batch to the native writer, which wrote each one
    assert len(answers) == 400 and all(isinstance(a, bytes) and a for a in answers)


@native
def test_every_kind_of_entry_renders_as_the_python_path() -> None:
    rng = random.Random(2612)
    fast, reference = gin_renderer(), gin_renderer(native=False)
    for _ in range(1500):
        start = _END + rng.randrange(-100, 100) * 10**9
        batch = [_entry(rng, start + rng.randrange(0, 2 * 10**9)) for _ in range(rng.randint(1, 6))]
        assert fast(batch) == reference(batch), batch


@native
@pytest.mark.parametrize("latency", _LATENCIES + [10**k + d for k in range(3, 9) for d in (-1, 0, 1)])
def test_each_latency_edge_alone(latency: int) -> None:
    for status in (200, 0, 999):
        entry: GinEntry = (_END, status, latency, "10.0.0.1", "GET", "/p1", None)
        assert gin_renderer()([entry]) == gin_renderer(native=False)([entry])


class _Clock:
    """A wall clock and a ``perf_counter_ns`` that both renderers read alike (the time module's own
    functions replaced for the test: the compiled renderer looks them up on the module per batch)."""

    def __init__(self) -> None:
        self.wall = 1_717_000_000.123456
        self.perf = 5_000_000_000_000

    def time(self) -> float:
        return self.wall

    def perf_counter_ns(self) -> int:
        return self.perf


@native
def test_monotonic_ends_render_as_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # perf_counter_ns ends, turned into Unix time with each batch's offset between the clocks: ends on
    # and around the seconds' edges and the 10 µs margins of the windows, where locate's float formula
    # decides the second (the same clock for both paths, so the same offsets)
    clock = _Clock()
    monkeypatch.setattr(time, "time", clock.time)
    monkeypatch.setattr(time, "perf_counter_ns", clock.perf_counter_ns)
    rng = random.Random(77)
    answers: list[bytes | None] = []

    def spy(*args: Any) -> bytes | None:
        answers.append(_ginwire.lines(*args))
        return answers[-1]

    fast, reference = gin_renderer(monotonic_ns=True, writer=spy), gin_renderer(monotonic_ns=True, native=False)
    edges = [0, 1, -1, 9_999, 10_000, 10_001, -9_999, -10_000, -10_001, 500_000_000]
    for _ in range(600):
        clock.wall += rng.choice([0, 0.5, 1, 59, 60, 3600])
        clock.perf += rng.randrange(0, 10**9)
        offset = clock.wall - clock.perf * 1e-9
        batch = []
        for _ in range(rng.randint(1, 8)):
            second = int(clock.wall) + rng.randrange(-70, 70)
            end = int((second - offset) * 1e9) + rng.choice(edges + [rng.randrange(-20_000, 20_000)])
            batch.append(_usual(rng, end))
        if rng.random() < 0.5:
            batch.sort(key=lambda e: e[0])
        assert fast(batch) == reference(batch), batch
    assert len(answers) == 600 and sum(a is not None for a in answers) == 600


@native
def test_ends_beyond_int64_seconds_are_left_to_python() -> None:
    # the year 2262: a second's range past 2**63 ns is not the writer's; the batch, and the next ones
    # while the renderer's second is there, go through Python; an ordinary batch after it is native again
    answers: list[bytes | None] = []

    def spy(*args: Any) -> bytes | None:
        answers.append(_ginwire.lines(*args))
        return answers[-1]

    fast, reference = gin_renderer(writer=spy), gin_renderer(native=False)
    far: GinEntry = (9_223_372_036 * 10**9 + 5, 200, 1_500, "10.0.0.1", "GET", "/p1", None)
    near: GinEntry = (2**63 - 1, 200, 1_500, "10.0.0.1", "GET", "/p1", None)
    usual: GinEntry = (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", None)
    for batch in ([far], [near], [usual, far], [usual], [usual], [far, usual]):
        assert fast(batch) == reference(batch), batch
    assert answers[0] is None and answers[1] is None and answers[2] is None
    assert answers[3] is None  # the renderer's second still the far one: its range is beyond int64
    assert isinstance(answers[4], bytes)


@native
def test_unusual_entries_leave_the_batch_to_python() -> None:
    head = b"H | "

    def locate(clock: int) -> tuple[bytes, int, int]:
        return head, clock, clock + 1

    usual: GinEntry = (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", None)
    assert _ginwire.lines([usual], locate, head, 1, 0) == gin_line_with(head, usual)
    unusual: list[Any] = [
        (_END, 200, 1_500, "10.0.0.1", "GET", "/p1"),  # six fields
        (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", None, None),  # eight
        [_END, 200, 1_500, "10.0.0.1", "GET", "/p1", None],  # a list
        (float(_END), 200, 1_500, "10.0.0.1", "GET", "/p1", None),
        (2**63, 200, 1_500, "10.0.0.1", "GET", "/p1", None),
        (2**90, 200, 1_500, "10.0.0.1", "GET", "/p1", None),
        (_END, 1000, 1_500, "10.0.0.1", "GET", "/p1", None),
        (_END, -1, 1_500, "10.0.0.1", "GET", "/p1", None),
        (_END, True, 1_500, "10.0.0.1", "GET", "/p1", None),
        (_END, 200, 999, "10.0.0.1", "GET", "/p1", None),
        (_END, 200, 10**9, "10.0.0.1", "GET", "/p1", None),
        (_END, 200, -5, "10.0.0.1", "GET", "/p1", None),
        (_END, 200, 1_500, "ñ", "GET", "/p1", None),
        (_END, 200, 1_500, b"10.0.0.1", "GET", "/p1", None),
        (_END, 200, 1_500, "10.0.0.1", "GÉT", "/p1", None),
        (_END, 200, 1_500, "10.0.0.1", "GET", '/"', None),
        (_END, 200, 1_500, "10.0.0.1", "GET", "/\\", None),
        (_END, 200, 1_500, "10.0.0.1", "GET", "/\x7f", None),
        (_END, 200, 1_500, "10.0.0.1", "GET", "/\x00", None),
        (_END, 200, 1_500, "10.0.0.1", "GET", "/ü", None),
        (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", "é"),
        (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", 5),
        (_END, 200, 1_500, "10.0.0.1", "GET", "/\udcff", None),
        "not a tuple",
    ]
    for odd in unusual:
        assert _ginwire.lines([usual, odd, usual], locate, head, 1, 0) is None, odd


def gin_line_with(head: bytes, entry: GinEntry) -> bytes:
    """The Python path's line for ``entry`` with its time text replaced by ``head``."""
    line = gin_renderer(native=False)([entry])
    return head + line[line.index(b" | ") + 3 :]


@native
def test_hostile_arguments_and_callbacks() -> None:
    usual: GinEntry = (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", None)
    head = b"H | "
    with pytest.raises(TypeError):
        _ginwire.lines((usual,), lambda c: (head, c, c + 1), head, 1, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _ginwire.lines([usual], lambda c: (head, c, c + 1), "H | ", 1, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _ginwire.lines([usual], lambda c: (head, c, c + 1), head, 1.0, 0)  # type: ignore[arg-type]
    # a range beyond int64 is left to Python
    assert _ginwire.lines([usual], lambda c: (head, c, c + 1), head, 2**64, 0) is None
    assert _ginwire.lines([usual], lambda c: (head, 1, 2**64), head, 1, 0) is None
    with pytest.raises(TypeError):
        _ginwire.lines([usual], lambda c: (head, c, c + 1), head)  # type: ignore[call-arg]
    for answer in (None, (head, 1), ("H", 1, 2), (head, 1.0, 2), [head, 1, 2], (head, 1, "2")):
        with pytest.raises(TypeError):
            _ginwire.lines([usual], lambda c, a=answer: a, head, 1, 0)  # type: ignore[misc]

    def raising(clock: int) -> tuple[bytes, int, int]:
        raise ValueError("locate failed")

    with pytest.raises(ValueError, match="locate failed"):
        _ginwire.lines([usual], raising, head, 1, 0)
    # a callback that empties or changes the batch: the batch is given back (None), nothing is read freed
    batch: list[Any] = [usual, (_END + 10**9, 200, 1_500, "10.0.0.1", "GET", "/p1", None)]

    def clearing(clock: int) -> tuple[bytes, int, int]:
        batch.clear()
        return head, clock, clock + 1

    assert _ginwire.lines(batch, clearing, head, 1, 0) is None
    batch2: list[Any] = [(_END, 200, 1_500, "10.0.0.1" * 3, "GET", "/p1" * 50, "x" * 100) for _ in range(3)]

    def replacing(clock: int) -> tuple[bytes, int, int]:
        batch2[:] = [usual] * 3
        return head, clock, clock + 1

    assert _ginwire.lines(batch2, replacing, head, 1, 0) is None
    # a head whose reference only the callback's tuple holds (a new bytes object each call), replaced
    # at every call: the line before the next call was written from the one now freed
    heads = iter([b"A" * 1000, b"B" * 10, b"C" * 5000])
    many: list[Any] = [(_END + k * 10**9, 200, 1_500, "10.0.0.1", "GET", "/p1", None) for k in range(3)]
    out = _ginwire.lines(many, lambda c: (bytes(bytearray(next(heads))), c, c + 1), head, 1, 0)
    assert out is not None and out.count(b"\n") == 3
    assert out.startswith(b"A" * 1000) and b"\n" + b"B" * 10 + b"200" in out and b"\n" + b"C" * 5000 in out
    # an empty batch: empty bytes; a large one grows the buffer past its first guess
    assert _ginwire.lines([], raising, head, 1, 0) == b""
    long_fields: GinEntry = (_END, 200, 1_500, "1" * 3000, "M" * 3000, "/" + "t" * 20000, "e\n" * 5000)
    reference = gin_renderer(native=False)
    assert gin_renderer()([long_fields] * 20) == reference([long_fields] * 20)


def test_the_renderer_without_the_extension_is_the_python_path() -> None:
    # the module resolves the writer once; a pure build (no .so) has none and renders in Python
    assert (ginline._NATIVE is None) == (_ginwire is None)
    entry: GinEntry = (_END, 200, 1_500, "10.0.0.1", "GET", "/p1", "boom")
    assert gin_renderer()([entry]).endswith(b'|        10.0.0.1 | GET      "/p1"\nError #01: boom\n')
