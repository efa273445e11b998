"""The client layer as steps of the HTTP executor's coroutine (``SplitCall``): where it is the
outermost client layer, the executor runs its ``prepare`` and ``finish`` around the awaited call, with
no coroutine of the layer's own. What it records and sends is what the layer called as a function
(inside another client layer: its ``measured`` coroutine) records and sends: the same headers, the
same CLIENT span fields, the failure's and the deadline's status."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from krakenpy.backends.client import UpstreamCall, UpstreamResponse
from krakenpy.backends.http import SplitCall, http_backend
from krakenpy.config.build import build_service
from krakenpy.errors import BackendError
from krakenpy.proxy.deadline import DEADLINE
from krakenpy.proxy.types import Request
from krakenpy.telemetry.exchange import CURRENT, EXCHANGE, Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers import client as client_module
from krakenpy.telemetry.layers.client import client_middleware
from krakenpy.telemetry.trace.context import Sampler, TraceState, inject
from krakenpy.telemetry.trace.spans import SpanBuffer, request_ids
from krakenpy.telemetry.trace.tracer import Tracer

_PURE = str(client_module.__file__).endswith(".py")


def _frames() -> list[str]:
    """The names of the Python frames on the stack (compiled code has none)."""
    names = []
    frame = sys._getframe(1)
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back  # type: ignore[assignment]
    return names


async def _run(
    split: bool, outcome: str, answer: tuple[int, bytes] = (200, b'{"a":1}')
) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]], str, list[str]]:
    """One call through the executor: the layer handed over as it is (``split``) or wrapped in a plain
    function (called as such), the upstream answering ``answer`` (status, body). The headers the
    upstream saw, the records, the outcome, the frames."""
    backend = {"host": ["http://h:18080"], "url_pattern": "/o"}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]})
    endpoint = service.endpoints[0]
    hub = Telemetry()
    buffer = SpanBuffer()
    hub.tracer = Tracer(
        sampler=Sampler(1.0), propagators=("tracecontext", "baggage"), buffer=buffer, redactor=hub.redactor
    )
    middleware = client_middleware(hub, endpoint, endpoint.backends[0])
    assert middleware is not None
    seen: list[tuple[str, str]] = []
    frames: list[str] = []

    async def upstream(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        seen.extend(headers)
        frames.extend(_frames())
        await asyncio.sleep(0)
        if outcome == "fail":
            raise BackendError("connection refused [GET]: http://h:18080/o")
        if outcome == "deadline":
            raise asyncio.CancelledError(DEADLINE)
        return UpstreamResponse(answer[0], (), answer[1], "application/json")

    layer = middleware(upstream)
    assert isinstance(layer, SplitCall)
    call: UpstreamCall = layer
    if not split:

        def call(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> Any:
            return layer(method, url, headers, body)

    executor = http_backend(endpoint.backends[0], call, None)
    exchange = Exchange()
    trace = exchange.trace = TraceState.of("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", True, "", "k=v")
    exchange.spans = request_ids(trace)
    exchange.span = exchange.spans + b"\x00\x00"
    request = Request(
        method="GET", path="/a", params={}, headers={"Accept": ["*/*"]}, query={},
        client_ip="203.0.113.7", client_path="/a", endpoint="/a",
    )  # fmt: skip
    request.url = "http://h:18080/o"
    request.context[EXCHANGE] = exchange
    token = CURRENT.set(exchange)
    result = "ok"
    try:
        await executor(request)
    except BaseException as exc:  # the outcome is the assertion
        result = f"{type(exc).__name__}{exc.args}"
    finally:
        CURRENT.reset(token)
    return seen, list(buffer.drain()), result, frames


@pytest.mark.parametrize("outcome", ["ok", "fail", "deadline"])
async def test_client_split_records_and_sends_as_the_layer_called_as_a_function(outcome: str) -> None:
    split = await _run(True, outcome)
    plain = await _run(False, outcome)
    assert split[2] == plain[2]
    # the same headers (the traceparent's span id is the call's: the same number of the same head)
    assert [name for name, _ in split[0]] == [name for name, _ in plain[0]]
    assert [name for name, _ in split[0]][-2:] == ["traceparent", "baggage"]
    split_ids = {value[36:52] for name, value in split[0] if name == "traceparent"}
    (client,) = [r for r in split[1] if r[2].hex() in split_ids]
    (plain_client,) = [r for r in plain[1] if r[2].hex() == dict(plain[0])["traceparent"][36:52]]
    assert client[2][6:] == plain_client[2][6:]  # the call's number (the heads are drawn per request)
    assert type(client[0]) is type(plain_client[0]) and client[6:] == plain_client[6:]
    # the trace's ids, the parent: the request's SERVER span (the same head, number 0)
    assert client[1] == plain_client[1] and client[3] == client[2][:6] + b"\x00\x00"
    assert plain_client[3] == plain_client[2][:6] + b"\x00\x00"
    assert 0 < client[4] <= client[5]
    status, message = client[6], client[7]
    if outcome == "ok":
        assert (status, message) == (0, "") and client[13] == 200
    elif outcome == "fail":
        assert status == 2 and message.startswith("connection refused") and client[13] == 0
    else:
        assert (status, message) == (2, DEADLINE)


@pytest.mark.parametrize(
    "answer", [(200, b'{"a":1}'), (200, b""), (201, b'{"a":"' + b"x" * 1500 + b'"}'), (404, b"not here"), (503, b"")]
)
async def test_client_split_records_the_answers_status_and_size(answer: tuple[int, bytes]) -> None:
    """The CLIENT span's status code and response size are the answer's, whichever way the layer runs:
    the split executor hands the two fields it read to ``finish``, the layer called as a function reads
    them from the answer itself."""
    status, body = answer
    # an answer decoded (a 200 or 201 with JSON), else the executor's error after the layer's end
    expected = "ok" if status in (200, 201) and body else "BackendError"
    for split in (True, False):
        seen, records, outcome, _ = await _run(split, "ok", answer)
        assert outcome.startswith(expected)
        ids = {value[36:52] for name, value in seen if name == "traceparent"}
        (client,) = [r for r in records if r[2].hex() in ids]
        assert (client[13], client[14]) == (status, len(body))
        assert (client[6], client[7]) == (0, "")


@pytest.mark.skipif(not _PURE, reason="compiled code has no Python frames")
async def test_client_split_runs_no_coroutine_of_the_layer() -> None:
    """The split executor awaits the upstream call itself: no ``measured`` frame between them (the
    layer called as a function still runs in one)."""
    assert "measured" not in (await _run(True, "ok"))[3]
    assert "measured" in (await _run(False, "ok"))[3]


@pytest.mark.parametrize(
    "propagators", [("tracecontext", "baggage"), ("tracecontext",), ("baggage", "tracecontext"), ("tracecontext", "b3")]
)
@pytest.mark.parametrize(("tracestate", "baggage"), [("", ""), ("v=1", ""), ("", "k=v"), ("v=1", "k=v")])
async def test_client_injects_what_the_propagators_write(
    propagators: tuple[str, ...], tracestate: str, baggage: str
) -> None:
    """A sampled call's trace headers, written by the layer itself for the usual propagators (W3C,
    and baggage when named), are what :func:`inject` writes with the call's span id, in its order."""
    backend = {"host": ["http://h"], "url_pattern": "/o"}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]})
    endpoint = service.endpoints[0]
    hub = Telemetry()
    hub.tracer = Tracer(sampler=Sampler(1.0), propagators=propagators, buffer=SpanBuffer(), redactor=hub.redactor)
    middleware = client_middleware(hub, endpoint, endpoint.backends[0])
    assert middleware is not None
    seen: list[tuple[str, str]] = []

    async def upstream(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        seen.extend(headers)
        return UpstreamResponse(200, (), b"{}", "application/json")

    exchange = Exchange()
    trace = exchange.trace = TraceState.of(
        "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", True, tracestate, baggage
    )
    exchange.spans = request_ids(trace)
    sid = (exchange.spans + exchange.made.to_bytes(2, "big")).hex()  # the call's span: the next number
    token = CURRENT.set(exchange)
    try:
        await middleware(upstream)("GET", "http://h/o", [("Accept", "*/*")], None)
    finally:
        CURRENT.reset(token)
    assert seen == [("Accept", "*/*"), *inject(trace, sid, propagators)]
    assert (
        seen[1:2] == [("traceparent", f"00-0af7651916cd43dd8448eb211c80319c-{sid}-01")]
        or propagators[0] != "tracecontext"
    )


async def _fast_calls(split: bool, counted: list[int]) -> list[tuple[Any, ...]]:
    """Two calls through the executor to a loopback backend by a timed fast client (the second on the
    kept-alive connection): the read spans recorded; ``counted`` the ``current_timing`` calls of each."""
    from krakenpy.backends import fasttiming
    from krakenpy.backends.fastclient import FastClient
    from krakenpy.telemetry.trace.templates import ReadTemplate

    body = b'{"a":1}'

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n" + body)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass  # the client closed its kept-alive connection
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = {"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/o"}
    service = build_service({"version": 3, "endpoints": [{"endpoint": "/a", "backend": [backend]}]})
    endpoint = service.endpoints[0]
    hub = Telemetry()
    buffer = SpanBuffer()
    hub.tracer = Tracer(sampler=Sampler(1.0), propagators=("tracecontext",), buffer=buffer, redactor=hub.redactor)
    middleware = client_middleware(hub, endpoint, endpoint.backends[0])
    assert middleware is not None
    client = FastClient()
    client.enable_timing()
    layer = middleware(client.request)
    assert isinstance(layer, SplitCall) and layer.timed is not None
    call: UpstreamCall = layer
    if not split:

        def call(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> Any:
            return layer(method, url, headers, body)

    executor = http_backend(endpoint.backends[0], call, None)
    looked_up = fasttiming.current_timing

    def counting() -> Any:
        counted[-1] += 1
        return looked_up()

    fasttiming.current_timing = counting  # type: ignore[assignment]
    try:
        for _ in range(2):
            counted.append(0)
            exchange = Exchange()
            trace = exchange.trace = TraceState.of("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", True)
            exchange.spans = request_ids(trace)
            exchange.span = exchange.spans + b"\x00\x00"
            request = Request(
                method="GET", path="/a", params={}, headers={}, query={},
                client_ip="203.0.113.7", client_path="/a", endpoint="/a",
            )  # fmt: skip
            request.url = f"http://127.0.0.1:{port}/o"
            request.context[EXCHANGE] = exchange
            token = CURRENT.set(exchange)
            try:
                assert (await executor(request)).data == {"a": 1}
            finally:
                CURRENT.reset(token)
    finally:
        fasttiming.current_timing = looked_up  # type: ignore[assignment]
        await client.close()
        server.close()
        await server.wait_closed()
    return [r for r in buffer.drain() if type(r[0]) is ReadTemplate]


@pytest.mark.skipif(not _PURE, reason="compiled, the client calls current_timing natively")
async def test_split_executor_hands_the_timing_to_the_fast_client() -> None:
    """The split executor hands the visit (the call's timing) to a fast client's ``request``: a
    kept-alive call's body read is timed without ``current_timing``'s context-variable reads, and its
    read span is the one the layer called as a function records (which looks the timing up)."""
    split_counts: list[int] = []
    plain_counts: list[int] = []
    split = await _fast_calls(True, split_counts)
    plain = await _fast_calls(False, plain_counts)
    assert split_counts[1] == 0 and plain_counts[1] == 1
    assert len(split) == len(plain) == 2
    for mine, theirs in zip(split, plain, strict=True):
        assert mine[8] == theirs[8] == 7  # the body's size
        assert mine[4] <= mine[5] and 0.0 <= mine[9] < 1.0 and mine[6:8] == theirs[6:8] == (0, "")


def test_timed_form_is_a_fast_clients_own_request() -> None:
    """The executor hands the timing only to a fast client's own bound ``request`` (compiled too: a
    compiled bound method's ``__name__`` is its qualified name)."""
    from functools import partial

    from krakenpy.backends.fastclient import FastClient, timed_form

    client = FastClient()
    assert timed_form(client.request) is not None
    assert timed_form(partial(client.request, follow_redirects=False)) is None
    assert timed_form(client.close) is None and timed_form(lambda *args: None) is None
