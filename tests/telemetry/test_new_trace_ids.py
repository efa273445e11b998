"""A new trace's ids drawn in bulk (:class:`NewTraceIds`, the edge's trace reader): the trace id's
text, its protobuf head (``TraceState.wire``) and the request's span-id head come from the same
random bytes, are never zero, unique across draws, threads and forked workers, and ``request_ids``
hands them out as the hex path would have made them."""

from __future__ import annotations

import os
import threading

import pytest

from krakenpy.telemetry.trace import context
from krakenpy.telemetry.trace.context import NewTraceIds, Sampler, TraceState, compile_extract
from krakenpy.telemetry.trace.spans import TAIL2, hex_id, hex_trace, request_ids

_HEAD = b"\x0a\x10"
_TAG = b"\x12\x08"


def _fresh(ids: NewTraceIds) -> TraceState:
    state = TraceState()
    ids.fresh(state)
    return state


def _check(state: TraceState) -> None:
    """One new trace's ids: lower-case hex text, the wire its bytes between the two heads, a head."""
    text = state.trace_id
    assert len(text) == 32 and text == text.lower() and text != "0" * 32
    assert state.wire == _HEAD + bytes.fromhex(text) + _TAG
    assert hex_trace(state.wire) == text
    assert type(state.base) is bytes and len(state.base) == 6 and state.base != bytes(6)


def test_new_trace_ids_text_wire_and_head_agree_and_are_unique_across_draws() -> None:
    ids = NewTraceIds(16)
    states = [_fresh(ids) for _ in range(16 * 40 + 3)]  # 41 draws
    for state in states:
        _check(state)
    assert len({s.trace_id for s in states}) == len(states)
    assert len({s.base for s in states}) == len(states)
    assert len({s.wire for s in states}) == len(states)


def test_new_trace_ids_are_the_sources_bytes_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every byte but the four fixed ones of a record is the random source's: the trace id its bytes
    2 to 18, the head its bytes 20 to 26 (no bit set or cleared), each record handed out once."""
    draws: list[bytes] = []

    def urandom(n: int) -> bytes:
        # no zero byte: no record is refused
        draws.append(bytes(((i * 7 + len(draws) * 13) % 255) + 1 for i in range(n)))
        return draws[-1]

    monkeypatch.setattr(context.os, "urandom", urandom)
    ids = NewTraceIds(3)
    states = [_fresh(ids) for _ in range(6)]
    assert len(draws) == 2 and all(len(d) == 3 * 26 for d in draws)
    expected = {(d[at + 2 : at + 18], d[at + 20 : at + 26]) for d in draws for at in range(0, 3 * 26, 26)}
    got = {(s.wire[2:18], s.base) for s in states}
    assert got == expected
    for state in states:
        _check(state)


def test_new_trace_ids_draw_again_when_an_id_or_a_head_is_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.urandom
    zero_trace = bytearray(real(2 * 26))
    zero_trace[26 + 2 : 26 + 18] = bytes(16)  # the second record's trace id
    zero_head = bytearray(real(2 * 26))
    zero_head[20:26] = bytes(6)  # the first record's head
    queue = [bytes(zero_trace), bytes(zero_head)]
    sizes: list[int] = []

    def urandom(n: int) -> bytes:
        sizes.append(n)
        return queue.pop(0) if queue else real(n)

    monkeypatch.setattr(context.os, "urandom", urandom)
    ids = NewTraceIds(2)
    states = [_fresh(ids), _fresh(ids)]
    assert sizes == [52, 52, 52]  # both refused, the third taken
    for state in states:
        _check(state)


def test_new_trace_ids_a_forked_child_draws_its_own() -> None:
    ids = NewTraceIds(128)
    _fresh(ids)  # a draw under way: 127 records left in this process
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: its next ids, through the pipe
        try:
            state = _fresh(ids)
            os.write(write, state.wire + state.base)
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 26)
    os.close(read)
    os.waitpid(pid, 0)
    rest = [_fresh(ids) for _ in range(127)]  # what the parent had left of its draw
    assert len(child) == 26
    assert child[:20] not in {s.wire for s in rest} and child[20:] not in {s.base for s in rest}


def test_new_trace_ids_unique_across_threads() -> None:
    ids = NewTraceIds(8)
    seen: list[list[TraceState]] = [[] for _ in range(4)]

    def run(out: list[TraceState]) -> None:
        for _ in range(2000):
            out.append(_fresh(ids))

    threads = [threading.Thread(target=run, args=(out,)) for out in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    states = [s for out in seen for s in out]
    assert len({s.trace_id for s in states}) == len(states) == 8000
    assert len({s.base for s in states}) == len(states)


@pytest.mark.parametrize("rate", [1.0, 0.5])
def test_the_trace_reader_draws_a_new_traces_ids_for_request_ids(rate: float) -> None:
    """A request without a trace context: its trace id, wire and span-id head drawn at once;
    ``request_ids`` hands them out (the same wire the hex path decodes), its spans' ids unique."""
    run = compile_extract(("tracecontext", "baggage"), Sampler(rate))
    states = [run({}.get) for _ in range(300)]
    for state in states:
        _check(state)
        if rate == 1.0:
            assert state.sampled
        else:  # the ratio's rule on the id's low 64 bits, as before
            assert state.sampled == (int(state.trace_id[16:], 16) < Sampler(rate).bound)
        wire, base = state.wire, state.base
        assert request_ids(state) is base and state.wire is wire and state.parent_raw is None
        hexed = TraceState.of(state.trace_id, None, True)
        request_ids(hexed)
        assert hexed.wire == wire and hex_id(base + TAIL2[0]) == base.hex() + "0000"
    assert len({s.base for s in states}) == len(states)


def test_a_continued_trace_keeps_the_decoded_ids() -> None:
    """A caller's ``traceparent``: no new ids drawn, ``request_ids`` decodes the caller's."""
    run = compile_extract(("tracecontext",), Sampler(1.0))
    header = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    state = run(header.get)
    assert state.base == b"" and state.wire == b""
    head = request_ids(state)
    assert len(head) == 6 and head != state.base
    assert state.wire == _HEAD + bytes.fromhex("0af7651916cd43dd8448eb211c80319c") + _TAG
    assert state.parent_raw == bytes.fromhex("b7ad6b7169203331")
