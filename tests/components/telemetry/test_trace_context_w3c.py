"""What a caller's trace context becomes at the backend, against the W3C Trace Context test suite and
W3C Baggage: two ``traceparent`` headers start a new trace; an invalid ``baggage`` is dropped, a
valid one passed on as it came; ``none`` beside other ``OTEL_PROPAGATORS`` names is warned about. A
real gateway, a backend on 127.0.0.1 recording what it got, the real ``check``."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict

from tests.cli_gateway import check_config, gateway_process
from tests.components.telemetry.conftest import doc
from tests.components.telemetry.otlp_receiver import Receiver
from tests.components.telemetry.test_otel_propagation_rules import _backend_headers, _otel
from tests.conftest import free_port
from tests.server.process import write_json
from tests.threaded_app import Served

TRACE_A = "12345678901234567890123456789011"
TRACE_B = "12345678901234567890123456789012"


def _parent(trace_id: str, flags: str = "01") -> str:
    return f"00-{trace_id}-1234567890123456-{flags}"


@pytest.mark.parametrize(
    "second",
    [_parent(TRACE_B), _parent(TRACE_A), "00-12345678901234567890123456789012-1234567890123456-01-x"],
)
async def test_two_traceparent_headers_start_a_new_trace(served: Any, upstream: Any, second: str) -> None:
    """The W3C test suite's ``test_traceparent_duplicated``: two headers (even two equal ones) are one
    value that is no ``traceparent``; the gateway restarts the trace, and the ``tracestate`` that came
    with them is not passed on (W3C: no ``tracestate`` without a ``traceparent`` read)."""
    sent = CIMultiDict([("traceparent", _parent(TRACE_A)), ("traceparent", second), ("tracestate", "k=v")])
    got = await _backend_headers(served, upstream, sent)
    [parent] = got.getall("traceparent")
    trace_id = parent.split("-")[1]
    assert trace_id not in (TRACE_A, TRACE_B) and len(trace_id) == 32, parent
    assert "tracestate" not in got


async def test_one_traceparent_is_continued(served: Any, upstream: Any) -> None:
    got = await _backend_headers(served, upstream, {"traceparent": _parent(TRACE_A), "tracestate": "k=v"})
    assert got["traceparent"].split("-")[1] == TRACE_A and got["tracestate"] == "k=v"


async def test_two_traceparent_headers_leave_b3_to_continue(
    served: Any, upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The W3C reader finding no context, the next propagator's is read (otel-go's composite)."""
    monkeypatch.setenv("OTEL_PROPAGATORS", "b3,tracecontext")
    b3 = f"{TRACE_B}-1234567890123456-1"
    sent = CIMultiDict([("traceparent", _parent(TRACE_A)), ("traceparent", _parent(TRACE_A)), ("b3", b3)])
    got = await _backend_headers(served, upstream, sent)
    assert got["traceparent"].split("-")[1] == TRACE_B


VALID = [
    "userId=alice",
    "userId=alice,serverNode=DF%2028,isProduction=false",
    "k1 = v1 ; p1 ; p2 = x , k2=caf%C3%A9",
    "k=",
]
INVALID = [
    "k=a b",  # a space inside a value
    "k=%zz",  # no escape
    'k="v"',  # a quote
    "=v",  # no key
    "k",  # no value
    "a=1,",  # an empty list member
    "k=v;",  # an empty property
    "k=v\\x",  # a backslash
    ",".join(f"k{i}=v" for i in range(181)),  # 181 list members
    "k=" + "v" * 4095,  # one member of 4097 bytes
]


@pytest.mark.parametrize("value", VALID)
async def test_valid_baggage_is_passed_on_as_it_came(served: Any, upstream: Any, value: str) -> None:
    got = await _backend_headers(served, upstream, {"traceparent": _parent(TRACE_A), "baggage": value})
    assert got.getall("baggage") == [value]


@pytest.mark.parametrize("value", INVALID)
async def test_invalid_baggage_is_dropped(served: Any, upstream: Any, value: str) -> None:
    """W3C Baggage (and otel-go's propagator, KrakenD's): a header that does not parse, or passes the
    limits (180 members, 4096 bytes a member, 8192 in all), is no baggage; the trace goes on."""
    got = await _backend_headers(served, upstream, {"traceparent": _parent(TRACE_A), "baggage": value})
    assert "baggage" not in got and got["traceparent"].split("-")[1] == TRACE_A


async def test_of_several_baggage_headers_the_valid_ones_are_joined(served: Any, upstream: Any) -> None:
    """Each header parsed apart (otel-go's propagator skips one it cannot parse), the valid ones one
    list in their order; without a traceparent too (a new trace keeps the caller's baggage)."""
    sent = CIMultiDict([("baggage", "a=1"), ("baggage", "bad value"), ("baggage", "b=2;p")])
    got = await _backend_headers(served, upstream, sent)
    assert got.getall("baggage") == ["a=1,b=2;p"]


async def test_baggage_headers_over_the_limits_together_are_dropped(served: Any, upstream: Any) -> None:
    half = ",".join(f"k{i}=v" for i in range(91))  # 91 members each, 182 together
    got = await _backend_headers(served, upstream, CIMultiDict([("baggage", half), ("baggage", half)]))
    assert "baggage" not in got


def test_check_warns_of_none_beside_other_propagators(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """otel-go's autoprop (KrakenD's): ``none`` anywhere in ``OTEL_PROPAGATORS`` means no propagator,
    whatever else is named; krakenpy does the same, and says so (the other names look active)."""
    config = write_json(tmp_path / "krakend.json", doc([], extra_config={"telemetry/opentelemetry": _otel(4318)}))
    done = check_config(config, env={"OTEL_PROPAGATORS": "tracecontext, none,b3"})
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "OTEL_PROPAGATORS: none is named with tracecontext, b3, which are ignored" in out, out
    quiet = check_config(config, env={"OTEL_PROPAGATORS": "none"})
    assert "OTEL_PROPAGATORS" not in quiet.stdout + quiet.stderr


async def test_none_beside_other_propagators_reads_and_writes_nothing(
    served: Any, upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_PROPAGATORS", "tracecontext,none")
    got = await _backend_headers(served, upstream, {"traceparent": _parent(TRACE_A), "baggage": "a=1"})
    assert "traceparent" not in got and "baggage" not in got


def test_the_cli_servers_own_parser_sees_both_traceparent_headers(tmp_path: Path) -> None:
    """Through ``krakenpy run`` (its own protocol on aiohttp's C parser, not the test server): the
    duplicated ``traceparent`` restarts the trace, an invalid ``baggage`` never reaches the backend."""
    seen: list[dict[str, list[str]]] = []

    def app() -> web.Application:
        async def record(request: web.Request) -> web.Response:
            seen.append({k.lower(): request.headers.getall(k) for k in request.headers})
            return web.json_response({"ok": True})

        application = web.Application()
        application.router.add_get("/", record)
        return application

    port = free_port()
    with Served(app) as backend, Served(Receiver().app) as collector:
        endpoint = {"endpoint": "/a", "backend": [{"host": [f"http://127.0.0.1:{backend.port}"], "url_pattern": "/"}]}
        config = write_json(
            tmp_path / "krakend.json",
            doc([endpoint], port=port, extra_config={"telemetry/opentelemetry": _otel(collector.port)}),
        )
        with gateway_process(config, port=port), socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                f"GET /a HTTP/1.1\r\nHost: x\r\ntraceparent: {_parent(TRACE_A)}\r\ntraceparent: {_parent(TRACE_B)}\r\n"
                "baggage: k=a b\r\nConnection: close\r\n\r\n".encode()
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    [got] = seen
    [parent] = got["traceparent"]
    assert parent.split("-")[1] not in (TRACE_A, TRACE_B) and "baggage" not in got, got


async def test_invalid_baggage_is_dropped_even_when_input_headers_forward_it(served: Any, upstream: Any) -> None:
    """The propagators' headers a client sent give way to the gateway's, which writes none here: the
    header is not forwarded by ``input_headers: ["*"]`` either (KrakenD forwards it as it came, its
    propagator writing nothing over it: a documented difference)."""
    got = await _backend_headers(served, upstream, {"traceparent": _parent(TRACE_A), "baggage": "k=a b"}, ["*"])
    assert "baggage" not in got


def test_extract_reads_a_request_without_baggage_from_a_multidict() -> None:
    """:func:`extract` (the uncompiled reader) asks for the baggage of every request: one without the
    header gets none, and one with an invalid header gets none either."""
    from multidict import CIMultiDictProxy

    from krakenpy.telemetry.trace.context import Sampler, extract

    none = CIMultiDictProxy(CIMultiDict([("traceparent", _parent(TRACE_A))]))
    assert extract(none.get, ("tracecontext", "baggage"), Sampler(1.0)).baggage == ""
    bad = CIMultiDictProxy(CIMultiDict([("traceparent", _parent(TRACE_A)), ("baggage", "k=a b")]))
    assert extract(bad.get, ("tracecontext", "baggage"), Sampler(1.0)).baggage == ""
    two = CIMultiDictProxy(CIMultiDict([("traceparent", _parent(TRACE_A)), ("traceparent", _parent(TRACE_B))]))
    assert extract(two.get, ("tracecontext",), Sampler(1.0)).trace_id not in (TRACE_A, TRACE_B)


def _members(length: int, key: str = "k") -> str:
    """A valid ``tracestate`` of exactly ``length`` characters: members of up to 256-character values,
    keys ``key`` and a number."""
    members: list[str] = []
    left = length
    i = 0
    while left > 0:
        head = f"{key}{i}="
        size = min(256, left - len(head) - (1 if members else 0))
        members.append(head + "v" * size)
        left -= len(members[-1]) + (1 if len(members) > 1 else 0)
        i += 1
    value = ",".join(members)
    assert len(value) == length
    return value


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ([_members(512)], True),
        ([_members(513)], False),
        (["k=v" + "," * 509], True),  # empty list members (allowed) up to the limit
        (["k=v" + "," * 510], False),  # one more: dropped unread, not split into 511 members
        ([_members(300), _members(211, "j")], True),  # repeats joined with a comma: 512 characters
        ([_members(300), _members(212, "j")], False),
    ],
)
async def test_a_tracestate_past_512_characters_is_dropped_and_the_traceparent_kept(
    served: Any, upstream: Any, sent: list[str], kept: bool
) -> None:
    """W3C lets a vendor drop a ``tracestate`` it cannot pass on, and asks for at least 512 characters:
    a longer one (its repeats joined) is dropped before it is split into members, so a header of
    commas costs nothing per comma; the trace is continued either way."""
    headers = CIMultiDict([("traceparent", _parent(TRACE_A)), *(("tracestate", value) for value in sent)])
    got = await _backend_headers(served, upstream, headers)
    assert got["traceparent"].split("-")[1] == TRACE_A
    assert got.get("tracestate") == (",".join(sent) if kept else None)
