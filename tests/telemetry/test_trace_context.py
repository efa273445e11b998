from __future__ import annotations

import os

import pytest

from krakenpy.telemetry.trace.context import Sampler, extract, inject, propagators_from_env

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _get(headers: dict[str, str]):  # type: ignore[no-untyped-def]
    lowered = {k.lower(): v for k, v in headers.items()}
    return lambda name: lowered.get(name.lower())


def test_extract_continues_a_valid_traceparent() -> None:
    trace = extract(_get({"traceparent": TP, "tracestate": "a=1"}), ("tracecontext",), Sampler(1.0))
    assert (trace.trace_id, trace.parent_id, trace.sampled) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        True,
    )
    assert trace.tracestate == "a=1"


@pytest.mark.parametrize(
    "bad",
    ["00-" + "0" * 32 + "-b7ad6b7169203331-01", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", "garbage"],
)  # fmt: skip
def test_extract_starts_a_new_trace_on_invalid_headers(bad: str) -> None:
    trace = extract(_get({"traceparent": bad}), ("tracecontext",), Sampler(1.0))
    assert trace.parent_id is None and len(trace.trace_id) == 32 and trace.trace_id != "0" * 32


def test_sampler_follows_krakends_rule() -> None:
    assert Sampler(1.0).sample("f" * 32, False) is True  # rate 1: always, even when the caller said 0
    assert Sampler(0.0).sample("f" * 32, None) is True  # rate 0 is "always" in krakend-otel
    ratio = Sampler(0.5)
    assert ratio.sample("f" * 32, True) is True and ratio.sample("0" * 32, False) is False  # parent-based
    assert ratio.sample("0" * 16 + "0" * 16, None) is True and ratio.sample("0" * 16 + "f" * 16, None) is False


def test_b3_single_and_multi_headers() -> None:
    single = extract(_get({"b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}), ("b3",), Sampler(0.5))
    assert single.trace_id == "80f198ee56343ba864fe8b2a57d3eff7" and single.sampled
    multi = extract(
        _get({"X-B3-TraceId": "64fe8b2a57d3eff7", "X-B3-SpanId": "e457b5a2e4d86bd1", "X-B3-Sampled": "0"}),
        ("b3multi",), Sampler(0.5),
    )  # fmt: skip
    assert multi.trace_id == "0000000000000000" + "64fe8b2a57d3eff7" and not multi.sampled
    out = dict(inject(multi, "1111111111111111", ("tracecontext", "b3", "b3multi")))
    assert out["traceparent"] == f"00-{multi.trace_id}-1111111111111111-00"
    assert out["b3"].endswith("-1111111111111111-0") and out["X-B3-Sampled"] == "0"


def test_propagators_from_env() -> None:
    assert propagators_from_env({}) == ("tracecontext", "baggage")
    assert propagators_from_env({"OTEL_PROPAGATORS": "b3, nope ,tracecontext"}) == ("b3", "tracecontext")
    assert propagators_from_env({"OTEL_PROPAGATORS": "none"}) == ()


def test_baggage_passes_through() -> None:
    trace = extract(_get({"traceparent": TP, "baggage": "user=1"}), ("tracecontext", "baggage"), Sampler(1.0))
    assert ("baggage", "user=1") in inject(trace, "1" * 16, ("tracecontext", "baggage"))


def test_hop_span_id_is_unique_non_zero_hex() -> None:
    from krakenpy.telemetry.trace.context import hop_span_id

    ids = [hop_span_id() for _ in range(10_000)]  # crosses at least two carries of the low 12 bits
    assert all(len(i) == 16 and int(i, 16) != 0 and i == i.lower() for i in ids)
    assert len(set(ids)) == len(ids)


_TID, _SID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"00-{_TID}-{_SID}-01", (_TID, _SID, True)),
        (f"00-{_TID}-{_SID}-00", (_TID, _SID, False)),
        (f"00-{_TID}-{_SID}-02", (_TID, _SID, False)),
        # otel-go (KrakenD) refuses, in version 00, flags above 02: a new trace
        (f"00-{_TID}-{_SID}-03", None),
        (f"00-{_TID}-{_SID}-09", None),
        (f"00-{_TID}-{_SID}-ff", None),
        # ... upper-case hex
        (f"00-{_TID.upper()}-{_SID.upper()}-01", None),
        (f"00-{_TID}-{_SID}-0A", None),
        (f"0A-{_TID}-{_SID}-01", None),
        (f"FE-{_TID}-{_SID}-01", None),
        # ... any space around or inside the fields (no strip)
        (f" 00-{_TID}-{_SID}-01 ", None),
        (f" 00-{_TID}-{_SID}-01", None),
        (f"00-{_TID}-{_SID}-01 ", None),
        (f"00-{_TID}-{_SID}-01\t", None),
        (f"\t00-{_TID}-{_SID}-01", None),
        (f"00-{_TID}-{_SID}-01\n", None),
        (f"00- {_TID}-{_SID}-01", None),
        (f"01-{_TID}-{_SID}-01 ", None),
        # ... anything after version 00's flags but one bare dash (its cut leaves nothing)
        (f"00-{_TID}-{_SID}-01-extra", None),
        (f"00-{_TID}-{_SID}-01--", None),
        (f"00-{_TID}-{_SID}-01-", (_TID, _SID, True)),
        # a later version: any flags (the sampled bit read), nothing or any tail after a dash
        (f"01-{_TID}-{_SID}-01-future", (_TID, _SID, True)),
        (f"01-{_TID}-{_SID}-01", (_TID, _SID, True)),
        (f"cc-{_TID}-{_SID}-03-a-b", (_TID, _SID, True)),
        (f"fe-{_TID}-{_SID}-fe-x y\nz", (_TID, _SID, False)),
        (f"01-{_TID}-{_SID}-01x", None),
        (f"01-{_TID}-{_SID}-1", None),
        (f"00-{_TID}-{'0' * 16}-01", None),
        (f"00-{'0' * 32}-{_SID}-01", None),
        (f"00-{_TID[:-1]}g-{_SID}-01", None),
        (f"00-{_TID[:-1]}-{_SID}0-01", None),
        (f"00-{_TID}-{_SID}-0x", None),
        (f"ff-{_TID}-{_SID}-01", None),
    ],
)
def test_compiled_extract_reads_traceparent_as_the_w3c_rule(
    header: str, expected: tuple[str, str, bool] | None
) -> None:
    from krakenpy.telemetry.trace.context import compile_extract

    # a ratio sampler: the caller's flag decides, so the parsed flag is visible
    for run in (
        compile_extract(("tracecontext", "baggage"), Sampler(0.5)),
        lambda get: extract(get, ("tracecontext", "baggage"), Sampler(0.5)),
    ):
        trace = run(_get({"traceparent": header, "tracestate": "k=v", "baggage": "b=1"}))
        if expected is None:
            assert trace.parent_id is None and trace.trace_id != _TID
        else:
            assert (trace.trace_id, trace.parent_id, trace.sampled) == expected
            assert (trace.tracestate, trace.baggage) == ("k=v", "b=1")


def test_extract_b3_refuses_an_id_with_a_newline() -> None:
    # a trace id goes into span JSON unescaped: ``$`` (which matches before a final newline) let one in
    trace = extract(_get({"b3": "64fe8b2a57d3eff7\n-e457b5a2e4d86bd1-1"}), ("b3",), Sampler(1.0))
    assert "\n" not in trace.trace_id and trace.parent_id is None
    refused = extract(_get({"traceparent": TP + "\n"}), ("tracecontext",), Sampler(1.0))
    assert refused.parent_id is None and refused.trace_id != TP[3:35]  # no strip: otel-go refuses it too


def test_new_trace_ids_are_unique_lower_hex_across_draws() -> None:
    from krakenpy.telemetry.trace.context import new_span_id, new_trace_id

    ids = [new_trace_id() for _ in range(1000)]  # ~8 draws of 128
    assert all(len(i) == 32 and int(i, 16) != 0 and i == i.lower() for i in ids)
    assert len(set(ids)) == len(ids)
    spans = [new_span_id() for _ in range(300)]
    assert all(len(i) == 16 and int(i, 16) != 0 for i in spans) and len(set(spans)) == len(spans)


def test_random_ids_draw_again_when_the_text_holds_an_all_zero_id(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from krakenpy.telemetry.trace import context

    real = os.urandom
    # a draw of two 8-digit ids: one all zero; then "12000000", "00345678" (a run of zeros across two)
    draws = [b"\x00" * 4 + real(4), b"\x12\x00\x00\x00\x00\x34\x56\x78"]
    sizes: list[int] = []

    def urandom(n: int) -> bytes:
        sizes.append(n)
        return draws.pop(0) if draws else real(n)

    monkeypatch.setattr(context.os, "urandom", urandom)
    ids = context.RandomIds(8, 2)
    got = [ids.take() for _ in range(4)]
    assert len(sizes) == 4 and set(sizes) == {8}  # both zero-holding draws refused, two more taken
    assert all(len(i) == 8 and i != "0" * 8 for i in got) and len(set(got)) == 4


def test_random_ids_hand_out_a_whole_draw_before_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """A draw's ids are its text cut in ids, each handed out once, all of them before the next draw."""
    from krakenpy.telemetry.trace import context

    real = os.urandom
    draws: list[bytes] = []

    def urandom(n: int) -> bytes:
        draws.append(real(n))
        return draws[-1]

    monkeypatch.setattr(context.os, "urandom", urandom)
    ids = context.RandomIds(8, 3)
    first = [ids.take() for _ in range(3)]
    assert len(draws) == 1 and sorted(first) == sorted(draws[0].hex()[i : i + 8] for i in (0, 8, 16))
    ids.take()
    assert len(draws) == 2
    ids.drop()  # a forked child's: the rest of the draw forgotten
    ids.take()
    assert len(draws) == 3


def test_random_ids_a_forked_child_never_gives_its_parents_next_id() -> None:
    import os

    from krakenpy.telemetry.trace.context import new_trace_id

    new_trace_id()  # a draw is under way: 127 ids left in this process
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, through the pipe
        try:
            os.write(write, new_trace_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = [new_trace_id() for _ in range(127)]  # the rest of the parent's draw
    assert len(child) == 32 and child not in parent


def test_compiled_extract_decides_a_new_trace_as_the_sampler() -> None:
    from krakenpy.telemetry.trace.context import compile_extract

    sampler = Sampler(0.5)
    run = compile_extract(("tracecontext", "baggage"), sampler)
    traces = [run(_get({})) for _ in range(400)]
    assert all(t.sampled is sampler.sample(t.trace_id, None) for t in traces)
    assert 100 < sum(t.sampled for t in traces) < 300  # a ratio, not every one or none
    # a B3 context with no sampling state ("deferred") is a remote parent not sampled to otel-go's
    # span context: its parent-based ratio never samples it, whatever the trace id
    b3 = compile_extract(("b3",), sampler)
    for t in traces[:50]:
        got = b3(_get({"b3": f"{t.trace_id}-{_SID}"}))
        assert (got.trace_id, got.parent_id, got.sampled) == (t.trace_id, _SID, False)


def test_random_ids_survive_a_failed_draw_and_two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A draw that fails (os.urandom raising) falls back for that draw, and ids keep coming; two threads
    drawing at once both get ids (a generator-based source died for good on either: every later
    traced request failed with a 500)."""
    import threading

    from krakenpy.telemetry.trace import context

    real = os.urandom
    failures = [OSError(24, "Too many open files")]

    def urandom(n: int) -> bytes:
        if failures:
            raise failures.pop()
        return real(n)

    monkeypatch.setattr(context.os, "urandom", urandom)
    ids = context.RandomIds(32, 4)
    got = [ids.take() for _ in range(10)]
    assert not failures and len(set(got)) == 10 and all(len(i) == 32 for i in got)
    monkeypatch.setattr(context.os, "urandom", real)

    seen: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def draw(out: list[str]) -> None:
        try:
            for _ in range(20_000):
                out.append(ids.take())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=draw, args=(out,)) for out in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(seen[0]) | set(seen[1])) == 40_000


_T, _T64, _S, _P = "80f198ee56343ba864fe8b2a57d3eff7", "64fe8b2a57d3eff7", "e457b5a2e4d86bd1", "05e3ac9a4f6e3b90"
_Z16 = "0" * 16
_MULTI = {"X-B3-TraceId": _T, "X-B3-SpanId": _S}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # the single header: {trace}-{span}[-{state}[-{parent}]], state 0, 1, d (debug) or none (deferred)
        ({"b3": f"{_T}-{_S}-1"}, (_T, _S, True)),
        ({"b3": f"{_T}-{_S}-0"}, (_T, _S, False)),
        ({"b3": f"{_T}-{_S}-d"}, (_T, _S, True)),
        ({"b3": f"{_T}-{_S}"}, (_T, _S, False)),  # deferred: not sampled in otel-go's span context
        ({"b3": f"{_T64}-{_S}-1"}, (_Z16 + _T64, _S, True)),  # a 64-bit trace id padded
        ({"b3": f"{_T}-{_S}-1-{_P}"}, (_T, _S, True)),
        ({"b3": f"{_T}-{_S}-0-{_P}"}, (_T, _S, False)),
        ({"b3": f"{_T}-{_S}x1"}, (_T, _S, True)),  # otel-go reads by offsets: that separator unchecked
        ({"b3": f"{_T}-{_S}-1x{_P}"}, (_T, _S, True)),  # and that one
        ({"b3": f"{_T}-{_S}-{_P}"}, None),  # a parent without the state
        ({"b3": f"{_T}-{_S}-"}, None),
        ({"b3": f"{_T}-{_S}-D"}, None),
        ({"b3": f"{_T}-{_S}-true"}, None),
        ({"b3": f"{_T.upper()}-{_S}-1"}, None),  # no lower-casing
        ({"b3": f"{_T}-{_S.upper()}"}, None),
        ({"b3": f" {_T}-{_S}-1"}, None),  # no strip
        ({"b3": f"{_T}-{_S}-1 "}, None),
        ({"b3": f"{_T}-{_S}-1-{_Z16}"}, None),  # the parent is checked
        ({"b3": f"{_T}-{_S}-1-{_P}-0"}, None),
        ({"b3": f"{'0' * 32}-{_S}-1"}, None),
        ({"b3": f"{_Z16}-{_S}-1"}, None),  # all zeros once padded
        ({"b3": f"{_T}-{_Z16}-1"}, None),
        ({"b3": f"{_T}_{_S}-1"}, None),
        ({"b3": f"{_T[:20]}-{_S}-1"}, None),
        ({"b3": f"{_T}-{_S}\u00e91"}, None),  # 2 bytes where otel-go's one-byte separator is: too long
        ({"b3": "1"}, None),  # a state alone is no context
        ({"b3": _T}, None),
        # the X-B3-* headers: both ids or none; Sampled 0/1/true/false in any case, or none (deferred)
        ({**_MULTI, "X-B3-Sampled": "1"}, (_T, _S, True)),
        ({**_MULTI, "X-B3-Sampled": "TRUE"}, (_T, _S, True)),
        ({**_MULTI, "X-B3-Sampled": "False"}, (_T, _S, False)),
        ({**_MULTI, "X-B3-Sampled": "0"}, (_T, _S, False)),
        (_MULTI, (_T, _S, False)),
        ({**_MULTI, "X-B3-Sampled": "d"}, None),  # "d" is the single header's
        ({**_MULTI, "X-B3-Sampled": "yes"}, None),
        ({**_MULTI, "X-B3-Sampled": " 1"}, None),
        ({**_MULTI, "X-B3-Sampled": "0", "X-B3-Flags": "1"}, (_T, _S, True)),  # debug samples
        ({**_MULTI, "X-B3-Flags": "1"}, (_T, _S, True)),
        ({**_MULTI, "X-B3-Flags": "2"}, (_T, _S, False)),  # other flags ignored
        ({**_MULTI, "X-B3-Flags": "true"}, (_T, _S, False)),
        ({**_MULTI, "X-B3-Sampled": "no", "X-B3-Flags": "1"}, None),
        ({**_MULTI, "X-B3-TraceId": _T64}, (_Z16 + _T64, _S, False)),
        ({**_MULTI, "X-B3-ParentSpanId": _P}, (_T, _S, False)),
        ({**_MULTI, "X-B3-ParentSpanId": _Z16}, None),
        ({**_MULTI, "X-B3-ParentSpanId": "nope"}, None),
        ({**_MULTI, "X-B3-TraceId": _T.upper()}, None),
        ({**_MULTI, "X-B3-TraceId": f" {_T}"}, None),
        ({**_MULTI, "X-B3-TraceId": _T[:20]}, None),
        ({**_MULTI, "X-B3-SpanId": _Z16}, None),
        ({"X-B3-TraceId": _T, "X-B3-Sampled": "1"}, None),
        ({"X-B3-SpanId": _S, "X-B3-Sampled": "1"}, None),
        # both forms: a valid single header first, else the X-B3-* headers
        ({"b3": f"{_T64}-{_P}-0", **_MULTI, "X-B3-Sampled": "1"}, (_Z16 + _T64, _P, False)),
        ({"b3": f"{_T.upper()}-{_P}-0", **_MULTI, "X-B3-Sampled": "1"}, (_T, _S, True)),
        ({"b3": "1", **_MULTI}, (_T, _S, False)),  # the single header's state is not the headers'
    ],
)
@pytest.mark.parametrize("propagator", ["b3", "b3multi"])
def test_b3_readers_take_what_otel_go_takes(
    headers: dict[str, str], expected: tuple[str, str, bool] | None, propagator: str
) -> None:
    """otel-go's contrib B3 propagator (KrakenD's ``b3`` and ``b3multi``, which read both forms):
    the ids and the sampled flag it finds (under a ratio, where the caller's flag decides), or a new
    trace where it finds none. The readers stripped and lower-cased the values, took ``d`` in
    ``X-B3-Sampled``, deferred an absent state to the ratio, and read one form each."""
    from krakenpy.telemetry.trace.context import compile_extract

    sampler = Sampler(0.5)
    for trace in (
        extract(_get(headers), (propagator,), sampler),
        compile_extract((propagator,), sampler)(_get(headers)),
    ):
        if expected is None:
            assert trace.parent_id is None and trace.trace_id not in (_T, _Z16 + _T64)
        else:
            assert (trace.trace_id, trace.parent_id, trace.sampled) == expected
