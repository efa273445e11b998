"""The telemetry edge layer run as steps of the server's own request coroutine (``SplitEdge``: no
coroutine of the layer's own), served by krakenpy's server on 127.0.0.1: the request id's response
line as the server writes it (the same bytes as a header in the map), the store kept where a handler
set an id of its own or a layer around the edge reads the answer's headers, a Rejection's answer, and
a client gone mid-request logged once by each of the three layers."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from multidict import CIMultiDict

from krakenpy.edge import HttpRequest, HttpResponse, SplitEdge
from krakenpy.errors import Rejection
from krakenpy.server.wire import encode_response
from krakenpy.telemetry.audit import EDGE_DENY
from krakenpy.telemetry.exchange import CURRENT, EXCHANGE, Exchange
from krakenpy.telemetry.failures import log_failure
from krakenpy.telemetry.layers.edge_lean import LeanEdge
from krakenpy.telemetry.layers.edge_metered import MeteredEdge
from krakenpy.telemetry.layers.edge_traced import TracedEdge
from krakenpy.telemetry.redact import Redactor
from krakenpy.telemetry.writer import stdout_writer
from tests.conftest import free_port
from tests.server.wirekit import RawBackend, Seen, Start, gateway_server, get, reply

GIN = re.compile(r'^\[GIN\] \d{4}/\d\d/\d\d - \d\d:\d\d:\d\d \| (\d{3}) \| +\S+ \| +(\S+) \| (\w+) +"(.*)"$')
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
RawStart = Callable[[Callable[[Seen, int], bytes]], Awaitable[RawBackend]]


def _doc(url: str, *, extra: dict[str, Any] | None = None, **endpoint: Any) -> dict[str, Any]:
    backend = {"host": [url], "url_pattern": "/data", **endpoint.pop("backend", {})}
    return {
        "version": 3,
        "endpoints": [{"endpoint": "/p1", "backend": [backend], **endpoint}],
        "extra_config": extra or {},
    }


async def _exchange(port: int, request: bytes) -> bytes:
    """The gateway's whole answer to ``request`` (which says ``Connection: close``), as bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()


def _head_lines(answer: bytes) -> list[str]:
    return answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")


def _gin_lines(text: str) -> list[re.Match[str]]:
    return [m for m in (GIN.match(line) for line in text.splitlines()) if m]


@pytest.mark.parametrize(
    "headers",
    [
        (("Content-Type", "application/json"), ("X-Krakend", "Version 2")),
        (),
        (("Content-Length", "99"), ("X-A", "1")),  # the framing is the server's: the lines written anew
        (("X-Bad", "a\r\nInjected: 1"), ("X-B", "2")),  # a CR/LF value: the lines cleaned
        (("Connection", "close"), ("Transfer-Encoding", "chunked")),
    ],
)
@pytest.mark.parametrize(("status", "method"), [(200, "GET"), (204, "GET"), (200, "HEAD"), (404, "POST")])
def test_encode_response_extra_line_writes_what_a_last_header_writes(
    headers: tuple[tuple[str, str], ...], status: int, method: str
) -> None:
    fixed = (*headers, ("Date", "Wed, 02 Dec 2026 11:00:00 GMT"))  # no clock in the comparison
    line, rid = "X-Request-Id: ", "4f1c2a90-aaaa-4bbb-8ccc-0123456789ab"
    stored: CIMultiDict[str] = CIMultiDict(fixed)
    stored["X-Request-Id"] = "4f1c2a90-aaaa-4bbb-8ccc-0123456789ab"
    for http11, close in ((True, False), (True, True), (False, False)):
        expected = encode_response(status, stored, b"body", method, http11, close)
        assert encode_response(status, CIMultiDict(fixed), b"body", method, http11, close, line, rid) == expected


async def test_the_server_writes_the_id_line_without_the_map_store(serve: Start, raw_backend: RawStart) -> None:
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    edge = served.gateway.edge
    assert isinstance(edge, LeanEdge)
    answer = await _exchange(served.port, get("/p1"))
    lines = _head_lines(answer)
    sent = backend.seen[0].get("X-Request-Id")
    assert sent is not None and UUID.fullmatch(sent.decode())
    # the id line once, where the store put it: after the handler's headers, before the server's own
    names = [line.partition(":")[0] for line in lines[1:]]
    assert names == ["Content-Type", "X-Krakend", "X-Krakend-Completed", "X-Request-Id", "Content-Length", "Date",
                     "Connection"]  # fmt: skip
    assert f"X-Request-Id: {sent.decode()}" in lines
    assert answer.endswith(b'\r\n\r\n{"ok":true}')
    # a client's id (trusted by default) comes back as sent
    answer = await _exchange(served.port, get("/p1", "X-Request-Id: client-7.a"))
    assert [line for line in _head_lines(answer) if line.startswith("X-Request-Id")] == ["X-Request-Id: client-7.a"]
    assert backend.seen[1].get("X-Request-Id") == b"client-7.a"

    # the steps alone: the server's call (``lined``) puts the id in the visit's line, not in the map
    request = HttpRequest("GET", "/p1")
    visit = edge.enter(request)
    assert CURRENT.get() is visit
    response = edge.leave(visit, request, HttpResponse(200, CIMultiDict()), True)
    rid = request.context[EXCHANGE].request_id
    assert "X-Request-Id" not in response.headers
    assert UUID.fullmatch(rid) and visit.line == "X-Request-Id: " and visit.value == rid
    # ... and leaves ``CURRENT`` set: the request's task (its own context) ends with it
    assert CURRENT.get() is visit
    CURRENT.set(None)
    # called as a handler (a layer or an aiohttp app around it): the map's store, no line, ``CURRENT`` reset
    request = HttpRequest("GET", "/p1")
    visit = edge.enter(request)
    response = edge.leave(visit, request, HttpResponse(200, CIMultiDict()), False)
    assert UUID.fullmatch(response.headers["X-Request-Id"]) and visit.line == ""
    assert CURRENT.get() is None


async def test_an_id_the_handler_set_is_replaced_in_the_map(serve: Start, raw_backend: RawStart) -> None:
    # a no-op endpoint passes the backend's headers on, its X-Request-Id among them: the edge's id
    # replaces it (the map's store, as before), never a second line
    backend = await raw_backend(lambda seen, port: reply(headers=(("X-Request-Id", "from-backend"),)))
    served = await serve(_doc(backend.url, output_encoding="no-op", backend={"encoding": "no-op"}))
    lines = _head_lines(await _exchange(served.port, get("/p1")))
    sent = backend.seen[0].get("X-Request-Id")
    assert sent is not None
    assert [line for line in lines if line.lower().startswith("x-request-id")] == [f"X-Request-Id: {sent.decode()}"]


async def test_a_layer_around_the_edge_reads_the_id_in_the_answer_headers(serve: Start, raw_backend: RawStart) -> None:
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    edge = served.gateway.edge
    read: list[str | None] = []

    async def outer(request: HttpRequest) -> HttpResponse:
        response = await edge(request)  # the edge called as a handler: its own steps, the map's store
        read.append(response.headers.get("X-Request-Id"))
        return response

    server = await gateway_server(outer)
    try:
        assert server.port is not None
        lines = _head_lines(await _exchange(server.port, get("/p1")))
    finally:
        await server.close()
    sent = backend.seen[0].get("X-Request-Id")
    assert sent is not None and read == [sent.decode()]
    assert [line for line in lines if line.startswith("X-Request-Id")] == [f"X-Request-Id: {sent.decode()}"]


async def test_a_rejection_is_answered_with_the_id_and_logged(serve: Start, raw_backend: RawStart, capfd: Any) -> None:
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    lean = served.gateway.edge
    assert isinstance(lean, LeanEdge)
    denied: list[HttpRequest] = []

    async def guard(request: HttpRequest) -> HttpResponse:
        denied.append(request)
        raise Rejection(429, reason="rate_limited", policy="test", body=b"slow down", headers=(("Retry-After", "1"),))

    server = await gateway_server(LeanEdge(lean.parts, guard))
    try:
        assert server.port is not None
        answer = await _exchange(server.port, get("/p1?token=x"))
    finally:
        await server.close()
    lines = _head_lines(answer)
    assert lines[0] == "HTTP/1.1 429 Too Many Requests"
    assert "Retry-After: 1" in lines and answer.endswith(b"\r\n\r\nslow down")
    ids = [line for line in lines if line.startswith("X-Request-Id: ")]
    assert len(ids) == 1 and UUID.fullmatch(ids[0].removeprefix("X-Request-Id: "))
    assert isinstance(denied[0].context[EDGE_DENY], Rejection)  # for the audit, as before
    stdout_writer().flush()
    gin = _gin_lines(capfd.readouterr().out)
    assert [(m.group(1), m.group(3)) for m in gin] == [("429", "GET")]


def _layer_extra(layer: type[SplitEdge]) -> dict[str, Any]:
    """The ``extra_config`` that makes the gateway's edge a ``layer``."""
    extra: dict[str, Any] = {}
    if layer is MeteredEdge:
        extra["telemetry/metrics"] = {"listen_address": "127.0.0.1:0", "collection_time": "1h"}
    if layer is TracedEdge:
        otel = {"service_name": "gw", "exporters": {"otlp": [{"name": "n", "host": "http://127.0.0.1",
                                                               "port": free_port(), "use_http": True}]}}  # fmt: skip
        extra["telemetry/opentelemetry"] = otel
    return extra


@pytest.mark.parametrize("layer", [LeanEdge, MeteredEdge, TracedEdge])
async def test_the_servers_own_call_asks_for_the_id_line(
    serve: Start, raw_backend: RawStart, layer: type[SplitEdge]
) -> None:
    """The server's call of the edge's steps takes the line path (``leave(..., lined=True)``): the
    wire bytes are the same either way (the test above), so the handler's answer object, kept here,
    shows it: no id stored in its header map, the id written once as the server's line."""
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url, extra=_layer_extra(layer)))
    edge = served.gateway.edge
    assert type(edge) is layer
    inner = edge.inner
    answered: list[HttpResponse] = []

    async def keeping(request: HttpRequest) -> HttpResponse:
        response = await inner(request)
        answered.append(response)
        return response

    edge.inner = keeping
    for _ in range(2):  # the first request and a later one on a warm path
        answer = await _exchange(served.port, get("/p1"))
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'\r\n\r\n{"ok":true}')
        sent = backend.seen[-1].get("X-Request-Id")
        assert sent is not None and UUID.fullmatch(sent.decode())
        ids = [line for line in _head_lines(answer) if line.lower().startswith("x-request-id")]
        assert ids == [f"X-Request-Id: {sent.decode()}"]
        assert "X-Request-Id" not in answered[-1].headers, "the server's call stored the id in the map"
    assert len(answered) == 2


@pytest.mark.parametrize("layer", [LeanEdge, MeteredEdge, TracedEdge])
async def test_a_client_gone_mid_request_logs_one_line(
    serve: Start, raw_backend: RawStart, capfd: Any, layer: type[SplitEdge]
) -> None:
    release = asyncio.Event()
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url, extra=_layer_extra(layer)))
    assert type(served.gateway.edge) is layer

    # the inner handler waits until the client went away (the backend is never asked)
    inner = served.gateway.edge.inner
    entered = asyncio.Event()

    async def waiting(request: HttpRequest) -> HttpResponse:
        entered.set()
        await release.wait()
        return await inner(request)

    served.gateway.edge.inner = waiting
    capfd.readouterr()
    _, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(get("/p1?a=1"))
    await writer.drain()
    await asyncio.wait_for(entered.wait(), 10)
    writer.close()  # before the answer: the request's task is canceled
    out = ""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        stdout_writer().flush()
        out += capfd.readouterr().out
        if _gin_lines(out) and "Error #01" in out:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    stdout_writer().flush()
    out += capfd.readouterr().out
    # gin's logger writes every request: lura answers a canceled context with 500
    assert [(m.group(1), m.group(4)) for m in _gin_lines(out)] == [("500", "/p1?a=1")]
    assert "Error #01: context canceled" in out
    assert backend.seen == []
    release.set()


async def _rewritten_target(serve: Start, raw_backend: RawStart, capfd: Any, router: dict[str, Any]) -> list[str]:
    backend = await raw_backend(lambda seen, port: reply())
    doc = _doc(
        backend.url,
        extra={
            "plugin/http-server": {"name": ["url-rewrite"], "url-rewrite": {"literal": {"/old": "/p1"}}},
            "router": router,
        },
    )
    served = await serve(doc)
    capfd.readouterr()
    answer = await _exchange(served.port, get("/old?x=1"))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]
    await asyncio.sleep(0.05)
    stdout_writer().flush()
    return [m.group(4) for m in _gin_lines(capfd.readouterr().out)]


async def test_the_gin_line_and_skip_list_take_the_client_path_before_a_rewrite(
    serve: Start, raw_backend: RawStart, capfd: Any
) -> None:
    """url-rewrite (virtualhost, wildcard) change ``request.path`` in place: the lean layer's line
    and ``logger_skip_paths`` take the path the client sent, read before the handler ran, as the
    general handler does (the steps first read it after the handler: ``/p1`` logged, and a skip of
    ``/p1`` hid a request for ``/old``)."""
    assert await _rewritten_target(serve, raw_backend, capfd, {}) == ["/old?x=1"]
    assert await _rewritten_target(serve, raw_backend, capfd, {"logger_skip_paths": ["/p1"]}) == ["/old?x=1"]
    assert await _rewritten_target(serve, raw_backend, capfd, {"logger_skip_paths": ["/old"]}) == []


async def test_the_gin_line_times_the_request_from_the_edge_to_the_answer(
    serve: Start, raw_backend: RawStart, capfd: Any
) -> None:
    # the lean layer's tuple holds the end reading as ``perf_counter_ns`` made it and the latency as
    # end less the visit's start: a handler that takes 30 ms is logged at 30 ms to a second
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    assert type(served.gateway.edge) is LeanEdge
    inner = served.gateway.edge.inner

    async def slow(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0.03)
        return await inner(request)

    served.gateway.edge.inner = slow
    capfd.readouterr()
    answer = await _exchange(served.port, get("/p1"))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]
    await asyncio.sleep(0.05)
    stdout_writer().flush()
    took = [line.split(" | ")[2].strip() for line in capfd.readouterr().out.splitlines() if line.startswith("[GIN]")]
    assert len(took) == 1 and took[0].endswith("ms"), took
    assert 30 <= float(took[0][:-2]) < 1000, took


@pytest.mark.parametrize(
    ("name", "client"), [("Content-Length", "Content-Length: 0"), ("Date", None), ("Connection", None)]
)
async def test_an_id_header_named_as_a_server_header_is_one_line(
    serve: Start, raw_backend: RawStart, name: str, client: str | None
) -> None:
    """A request id header named like a header the server writes itself (a valid token for the
    schema) goes through the header map, where encode_response keeps one line: never a second
    ``Content-Length`` (whose value a trusted client's id would choose) or ``Date``."""
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url, extra={"telemetry/access_log": {"request_id_header": name}}))
    extra = [client] if client else []
    head = _head_lines(await _exchange(served.port, get("/p1", *extra)))
    assert head[0].startswith("HTTP/1.1 200 "), head
    assert len([line for line in head if line.lower().startswith(name.lower() + ":")]) == 1, head


@pytest.mark.parametrize("layer", [LeanEdge, MeteredEdge, TracedEdge])
async def test_the_server_call_leaves_current_to_the_task_but_for_an_upgrade(
    serve: Start, raw_backend: RawStart, layer: type[SplitEdge]
) -> None:
    # ``leave`` with ``lined`` (the server's call, in the request's own task) leaves ``CURRENT`` set:
    # the task's context ends with it; a 101's WebSocket session goes on in the task: reset for it
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url, extra=_layer_extra(layer)))
    edge = served.gateway.edge
    assert type(edge) is layer

    def steps(status: int, lined: bool) -> tuple[object, object]:
        request = HttpRequest("GET", "/p1")
        visit = edge.enter(request)
        edge.leave(visit, request, HttpResponse(status, CIMultiDict()), lined)
        return request.context[EXCHANGE], CURRENT.get()

    exchange, left = contextvars.copy_context().run(steps, 200, True)
    assert left is exchange
    for status, lined in ((101, True), (200, False), (101, False)):
        assert contextvars.copy_context().run(steps, status, lined)[1] is None


async def test_each_request_and_its_tasks_see_their_own_exchange(serve: Start, raw_backend: RawStart) -> None:
    # two requests on one connection: each handler sees its own exchange in ``CURRENT``, and a task
    # the first spawned, still running while the second is served, keeps seeing the first's
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    assert type(served.gateway.edge) is LeanEdge
    inner = served.gateway.edge.inner
    seen: list[tuple[str, object, object]] = []
    second = asyncio.Event()
    spawned: list[asyncio.Task[None]] = []

    async def late(request: HttpRequest) -> None:
        await second.wait()
        await asyncio.sleep(0.01)
        seen.append(("task", request.context[EXCHANGE], CURRENT.get()))

    async def recording(request: HttpRequest) -> HttpResponse:
        seen.append(("handler", request.context[EXCHANGE], CURRENT.get()))
        if spawned:
            second.set()
        else:
            spawned.append(asyncio.create_task(late(request)))
        return await inner(request)

    served.gateway.edge.inner = recording
    keep_alive = get("/p1").replace(b"Connection: close", b"Connection: keep-alive")
    answer = await _exchange(served.port, keep_alive + get("/p1"))
    assert answer.count(b"HTTP/1.1 200 ") == 2
    await asyncio.wait_for(spawned[0], 10)
    assert [kind for kind, _, _ in seen] == ["handler", "handler", "task"]
    assert all(exchange is current for _, exchange, current in seen)
    assert seen[0][1] is not seen[1][1] and seen[2][1] is seen[0][1]


async def test_late_failures_of_interleaved_requests_carry_their_own_request_ids(
    serve: Start, raw_backend: RawStart
) -> None:
    # three requests, two pipelined on one keep-alive connection and one on a second connection; each
    # spawns a task that logs a failure only after every answer is out (the second request on the
    # first connection was served in between): each failure line is its own request's, by the id
    # ``CURRENT`` gives the log formatters and the exchange whose access-log error it sets
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    assert type(served.gateway.edge) is LeanEdge
    inner = served.gateway.edge.inner
    release = asyncio.Event()
    spawned: list[asyncio.Task[None]] = []
    exchanges: dict[str, Exchange] = {}

    async def late(tag: str) -> None:
        await release.wait()
        log_failure(RuntimeError(f"late {tag}"), tag, Redactor())

    async def spawning(request: HttpRequest) -> HttpResponse:
        tag = request.query_string.partition("=")[2]
        exchanges[tag] = request.context[EXCHANGE]
        spawned.append(asyncio.create_task(late(tag)))
        return await inner(request)

    served.gateway.edge.inner = spawning
    handler = _CurrentAtEmit()
    logger = logging.getLogger("krakenpy.failures")
    logger.addHandler(handler)
    try:
        keep_alive = get("/p1?tag=a1").replace(b"Connection: close", b"Connection: keep-alive")
        first = asyncio.create_task(_exchange(served.port, keep_alive + get("/p1?tag=a2")))
        second = asyncio.create_task(_exchange(served.port, get("/p1?tag=b")))
        answers = await asyncio.gather(first, second)
        release.set()
        await asyncio.wait_for(asyncio.gather(*spawned), 10)
    finally:
        logger.removeHandler(handler)
    ids = [re.findall(rb"X-Request-Id: (\S+)\r\n", answer) for answer in answers]
    answered = {"a1": ids[0][0].decode(), "a2": ids[0][1].decode(), "b": ids[1][0].decode()}
    assert len(set(answered.values())) == 3
    logged = {message.split()[0]: current for message, current in handler.seen}
    assert sorted(logged) == ["a1", "a2", "b"]
    for tag, rid in answered.items():
        current = logged[tag]
        assert current is exchanges[tag], (tag, current)
        assert current.request_id == rid
        assert current.error is not None and f"late {tag}" in current.error


@pytest.mark.parametrize("layer", [LeanEdge, MeteredEdge, TracedEdge])
async def test_a_served_request_leaves_no_cycle_for_the_gc(
    serve: Start, raw_backend: RawStart, layer: type[SplitEdge]
) -> None:
    # the exchange held ``CURRENT``'s token, which holds the request's context, which (not reset on
    # the server's call) holds the exchange: a cycle per request, left to the GC (~3 k instructions
    # a request under bench.instructions) unless the token is let go
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url, extra=_layer_extra(layer)))
    assert type(served.gateway.edge) is layer
    keep_alive = get("/p1").replace(b"Connection: close", b"Connection: keep-alive")
    await _exchange(served.port, keep_alive + get("/p1"))  # warm: first-request caches
    requests = 30
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable, kept in gc.garbage to look at
    try:
        answer = await _exchange(served.port, keep_alive * (requests - 1) + get("/p1"))
        await asyncio.sleep(0.05)
        gc.collect()
        cycled = [found for found in gc.garbage if isinstance(found, Exchange)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert answer.count(b"HTTP/1.1 200 ") == requests
    assert cycled == []


class _CurrentAtEmit(logging.Handler):
    """What a KrakenD formatter would append to each record: ``CURRENT`` as the record is emitted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, Exchange | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), CURRENT.get()))


@pytest.mark.parametrize(
    "burst",
    [
        # an Upgrade request answered without a switch: the bytes behind it are parsed after the answer
        get("/p1").replace(b"Connection: close", b"Connection: Upgrade\r\nUpgrade: websocket"),
        # pipelined requests past the queue's bound: what the socket buffered is parsed after an answer
        get("/p1").replace(b"Connection: close", b"Connection: keep-alive") * 40,
    ],
    ids=["upgrade-answered-200", "pipelined"],
)
async def test_a_malformed_request_after_an_answer_carries_no_earlier_request_id(
    serve: Start, raw_backend: RawStart, burst: bytes
) -> None:
    """The edge leaves ``CURRENT`` set in the request's task; what that task then parses for the
    connection (bytes behind an unswitched Upgrade, a pipelined burst) runs in the connection's own
    context: a malformed request's log line names no earlier request (it carried the id of the
    request whose task parsed it)."""
    backend = await raw_backend(lambda seen, port: reply())
    served = await serve(_doc(backend.url))
    assert type(served.gateway.edge) is LeanEdge
    handler = _CurrentAtEmit()
    logger = logging.getLogger("krakenpy.server")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        try:
            writer.write(burst + b"GARBAGE\r\n\r\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(-1), 10)
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ") and b" 400 " in answer
        refused = [current for message, current in handler.seen if message.startswith("malformed requests refused")]
        assert refused and refused == [None] * len(refused), handler.seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
