"""The lean server's HTTP/1.1 rules on real loopback sockets: pipelining in order, HTTP/1.0 and
keep-alive, HEAD, ``Expect: 100-continue``, chunked bodies, the headers the server adds, a handler's
bug, a client going away, write flow control against a client that does not read, and the lingering
close on a client still sending."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from krakenpy.edge import HttpRequest, HttpResponse
from krakenpy.server.connection import MAX_PIPELINED
from krakenpy.server.limits import ServerLimits
from krakenpy.server.protocol import GatewayServer

BIG = 1 << 20
_seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="")
hanging = asyncio.Event()
cancelled = asyncio.Event()
#: what ``/gate`` waits for (an event made by the test that uses it, in its own loop)
gates: list[asyncio.Event] = []


async def handler(request: HttpRequest) -> HttpResponse:
    path = request.path
    if path == "/slow":
        await asyncio.sleep(0.2)
    elif path == "/echo":
        return HttpResponse(body=await request.body(1 << 24) or b"")
    elif path == "/big":
        return HttpResponse(headers={"Content-Type": "application/octet-stream"}, body=bytes(BIG))
    elif path == "/bug":
        raise RuntimeError("a bug")
    elif path == "/hang":
        hanging.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
    elif path == "/gate":
        await gates[-1].wait()
    elif path == "/task":  # answered without an await
        task = asyncio.current_task()
        return HttpResponse(body=b"%d" % id(task) if task is not None else b"no task")
    elif path == "/who":
        return HttpResponse(body=f"{request.remote} {request.scheme} {request.host}".encode())
    elif path == "/ctx":
        before = _seen.get()
        _seen.set(request.query_string)
        return HttpResponse(body=before.encode() or b"-")
    elif path == "/close":  # the body is never read: the answer closes the connection
        return HttpResponse(413, {"Connection": "close", "Content-Type": "text/plain"}, b"too large")
    return HttpResponse(headers={"Content-Type": "text/plain"}, body=path.encode())


@pytest.fixture
async def gateway() -> AsyncIterator[GatewayServer]:
    gateway = GatewayServer(handler, limits=ServerLimits())
    listener = await asyncio.get_running_loop().create_server(gateway, "127.0.0.1", 0)
    gateway.port = listener.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    gateway.start_sweeping()
    yield gateway
    listener.close()
    await gateway.drain(0.1)
    gateway.stop_sweeping()
    await listener.wait_closed()


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[], Awaitable[Conn]]


@pytest.fixture
async def connect(gateway: GatewayServer) -> AsyncIterator[Connect]:
    writers: list[asyncio.StreamWriter] = []

    async def open_() -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)  # type: ignore[attr-defined]
        writers.append(writer)
        return reader, writer

    yield open_
    for writer in writers:
        writer.close()


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One response: its head and its Content-Length body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await asyncio.wait_for(reader.readexactly(length), 5)


async def test_connection_pipelined_requests_are_answered_in_order(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p for p in (b"/slow", b"/a", b"/b")))
    bodies = [(await _answer(reader))[1] for _ in range(3)]
    assert bodies == [b"/slow", b"/a", b"/b"]


async def test_connection_answers_without_an_await_in_order_each_in_a_task(connect: Connect) -> None:
    # more than the pipelining queue holds, all answered without an await: reading pauses and resumes
    reader, writer = await connect()
    writer.write(b"GET /task HTTP/1.1\r\nHost: x\r\n\r\n" * 40 + b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n")
    bodies = [(await _answer(reader))[1] for _ in range(41)]
    assert bodies[-1] == b"/last" and all(body.isdigit() for body in bodies[:-1])
    writer.write(b"GET /task HTTP/1.1\r\nHost: x\r\n\r\n")  # a kept-alive connection's next request
    assert (await _answer(reader))[1].isdigit()


async def test_connection_http10_closes_unless_kept_alive(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"GET /a HTTP/1.0\r\n\r\n")
    head, body = await _answer(reader)
    assert head.startswith(b"HTTP/1.0 200 OK\r\n") and b"Connection" not in head and body == b"/a"
    assert await asyncio.wait_for(reader.read(), 5) == b""
    reader, writer = await connect()
    for _ in range(2):
        writer.write(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        head, _ = await _answer(reader)
        assert b"\r\nConnection: keep-alive\r\n" in head


async def test_connection_head_has_the_length_and_no_body(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"HEAD /abc HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"\r\nContent-Length: 4\r\n" in head
    _, body = await _answer(reader)  # what follows the HEAD answer is the next answer, not a body
    assert body == b"/next"


async def test_connection_expect_continue_only_when_the_body_is_read(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    assert (await _answer(reader))[1] == b"hello"
    reader, writer = await connect()
    writer.write(b"POST /close HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n")
    head, body = await _answer(reader)  # answered at once, never invited to send
    assert head.startswith(b"HTTP/1.1 413 ") and body == b"too large"


async def test_connection_chunked_body_is_decoded(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert (await _answer(reader))[1] == b"abcde"


async def test_connection_headers_the_server_adds(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"GET /who HTTP/1.1\r\nHost: gw.example\r\n\r\n")
    head, body = await _answer(reader)
    assert b"\r\nDate: " in head and b"Server:" not in head
    assert b"\r\nContent-Type: text/plain; charset=utf-8\r\n" in head  # sniffed, as Go does
    assert body == b"127.0.0.1 http gw.example"


async def test_connection_handler_bug_is_an_empty_500_and_one_log(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await connect()
    with caplog.at_level(logging.ERROR, "krakenpy.server"):
        writer.write(b"GET /bug HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = await _answer(reader)
    assert head.startswith(b"HTTP/1.1 500 ") and b"Connection: close" in head and body == b""
    assert [r.getMessage() for r in caplog.records] == ["unhandled error serving GET /bug"]
    assert b"a bug" not in head


async def test_connection_client_going_away_cancels_its_request(connect: Connect) -> None:
    hanging.clear()
    cancelled.clear()
    reader, writer = await connect()
    writer.write(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
    # the request runs before the client goes (a fixed 0.1 s bet the server had read it by then)
    await asyncio.wait_for(hanging.wait(), 5)
    writer.close()
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_connection_context_is_not_shared_between_requests(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"GET /ctx?one HTTP/1.1\r\nHost: x\r\n\r\nGET /ctx?two HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [(await _answer(reader))[1] for _ in range(2)] == [b"-", b"-"]


async def test_connection_client_that_does_not_read_bounds_the_write_buffer(
    gateway: GatewayServer, connect: Connect
) -> None:
    reader, writer = await connect()
    writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * 40)  # 40 MiB of answers asked, none read yet
    await asyncio.sleep(0.5)
    (connection,) = gateway.protocols()
    assert connection.transport is not None
    assert connection.transport.get_write_buffer_size() <= 2 * BIG  # not 40 MiB: each waits for the drain
    got = 0
    for _ in range(40):
        _, body = await _answer(reader)
        got += len(body)
    assert got == 40 * BIG


async def test_connection_close_on_a_client_still_sending_keeps_the_answer(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"POST /close HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n" + bytes(4 * BIG))
    head, body = await _answer(reader)
    assert head.startswith(b"HTTP/1.1 413 ") and body == b"too large"
    writer.write(bytes(4 * BIG))  # still read (and dropped) after the answer: no reset
    await asyncio.wait_for(writer.drain(), 5)
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the answer was followed by the end


async def test_connection_path_is_decoded_as_yarl_decodes_it(connect: Connect) -> None:
    # a target without "%" or "#" is taken as it is; the others are yarl's decoded path
    reader, writer = await connect()
    targets = {
        b"/plain/a+b;c=d?x=1": b"/plain/a+b;c=d",
        b"/a/../b//c": b"/a/../b//c",
        b"/a%20b?q=%20": b"/a b",
        b"/a%2Fb": b"/a/b",
        b"/frag#x": b"/frag",
        b"http://other.example/abs?x=1": b"/abs",
    }
    for target, path in targets.items():
        writer.write(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target)
        assert (await _answer(reader))[1] == path, target


# -- reads the C parser refuses, parsed again (Go's versions, a request asking to close) -----------


async def _answers(reader: asyncio.StreamReader) -> list[tuple[bytes, bytes]]:
    """Every answer up to the connection's end: (status line, body); a refusal's body is what follows it."""
    data = await asyncio.wait_for(reader.read(), 5)
    answers = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if b"Content-Length" not in head:  # Go's refusal: the rest of the connection
            length = len(data)
        answers.append((head.split(b"\r\n")[0], data[:length]))
        data = data[length:]
    return answers


async def _parsed(gateway: GatewayServer, count: int) -> None:
    """Wait until the server read ``count`` header bytes of the request it is receiving (a read of
    its own, before the next write)."""
    for _ in range(500):
        connections = gateway.protocols()
        if connections and connections[0]._hbytes >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not read")


SMUGGLED = b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n"
CLOSE_1_2 = b"GET /e HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n"


async def test_connection_http_1_2_after_a_cut_head_never_reads_a_body_as_requests(connect: Connect) -> None:
    # the first read ends inside a request head, the second carries its body (a request's bytes) and an
    # HTTP/1.2 request: parsed again from the head's start, never from the body (main: GET /s served)
    reader, writer = await connect()
    writer.write(
        b"GET /e HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n" % len(SMUGGLED)
    )
    assert (await _answer(reader))[1] == b"/e"  # that read was taken
    writer.write(b"\r\n" + SMUGGLED + CLOSE_1_2)
    assert await _answers(reader) == [(b"HTTP/1.1 200 OK", SMUGGLED), (b"HTTP/1.1 200 OK", b"/e")]


@pytest.mark.parametrize(
    ("head", "rest", "body"),
    [
        # the read that ends the body carries the HTTP/1.2 request
        (b"Transfer-Encoding: chunked", b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED) + CLOSE_1_2, SMUGGLED),
        # the read ends with the body, but how much of it was body is not counted (main: served)
        (b"Content-Length: 6", b"abcdef", b"abcdef"),
    ],
)
async def test_connection_http_1_2_behind_a_body_arriving_is_refused(
    gateway: GatewayServer, connect: Connect, head: bytes, rest: bytes, body: bytes
) -> None:
    # the parser is inside a body when the read begins: where a refused request began is not known,
    # so nothing is parsed again (400: Go serves it); the body is never read as requests
    reader, writer = await connect()
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n" % head)
    for _ in range(500):  # the head taken (its body awaited)
        if gateway.protocols() and gateway.protocols()[0]._body is not None:
            break
        await asyncio.sleep(0.01)
    writer.write(rest[:3])
    await asyncio.sleep(0.05)
    writer.write(rest[3:])
    if not rest.endswith(CLOSE_1_2):
        assert (await _answer(reader))[1] == body
        writer.write(CLOSE_1_2)
        assert await _answers(reader) == [(b"HTTP/1.1 400 Bad Request", b"400 Bad Request")]
        return
    answers = await _answers(reader)
    assert answers == [(b"HTTP/1.1 200 OK", body), (b"HTTP/1.1 400 Bad Request", b"400 Bad Request")]


@pytest.mark.parametrize(
    "first",
    [
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",  # a read ending with a body
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ],
)
async def test_connection_http_1_2_after_a_read_ending_with_a_body_is_served(connect: Connect, first: bytes) -> None:
    reader, writer = await connect()
    writer.write(first)
    answers = [await _answer(reader) for _ in range(first.count(b" HTTP/1.1\r\n"))]
    assert answers[-1][1] == b"abc"
    writer.write(CLOSE_1_2)
    assert await _answers(reader) == [(b"HTTP/1.1 200 OK", b"/e")]


async def test_connection_http_1_2_behind_more_requests_than_the_queue_holds(connect: Connect) -> None:
    # the parser stops at a full queue and keeps the rest of the read: what it kept is parsed again
    # (main: the kept bytes were lost, the connection answered 16 and hung)
    reader, writer = await connect()
    writer.write(b"GET /m HTTP/1.1\r\nHost: x\r\n\r\n" * 20 + CLOSE_1_2)
    answers = await _answers(reader)
    assert [body for _, body in answers] == [b"/m"] * 20 + [b"/e"]


async def test_connection_http_1_2_request_line_across_two_reads(gateway: GatewayServer, connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"GET /e HT")
    await _parsed(gateway, 9)
    writer.write(CLOSE_1_2[9:])
    assert await _answers(reader) == [(b"HTTP/1.1 200 OK", b"/e")]  # main: 400


async def test_connection_http_1_2_behind_an_upgrade_answered_without_a_switch(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + CLOSE_1_2)
    assert await _answers(reader) == [(b"HTTP/1.1 200 OK", b"/up"), (b"HTTP/1.1 200 OK", b"/e")]


@pytest.mark.parametrize(
    "request_",
    [
        b"GET /e HTTP/1.2\r\nConnection: close\r\n\r\n",  # Go: missing required Host header (main: 200)
        b"GET /e HTTP/1.1\r\nConnection: close\r\n\r\n",  # as for HTTP/1.1
        # a length past 64 bits, as the C parser refuses it for HTTP/1.1 (main: a body waited for)
        b"POST /echo HTTP/1.2\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n",
    ],
)
async def test_connection_http_1_2_is_refused_as_http_1_1_is(connect: Connect, request_: bytes) -> None:
    reader, writer = await connect()
    writer.write(request_)
    assert await _answers(reader) == [(b"HTTP/1.1 400 Bad Request", b"400 Bad Request")]


@pytest.mark.parametrize(
    ("requests", "answered"),
    [
        (b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", [b"/a"]),
        (b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n", [b"/a"]),
        (b"GET /a HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", [b"/a"]),
        (
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
            [b"/a", b"hi"],
        ),
        (b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n\r\n\r\nnot a request", [b"/a"]),
    ],
)
async def test_connection_request_asking_to_close_is_answered_and_what_follows_ignored(
    connect: Connect, requests: bytes, answered: list[bytes]
) -> None:
    # Go answers the request and reads nothing after it; both aiohttp parsers refused the read (main: 400)
    reader, writer = await connect()
    writer.write(requests)
    answers = await _answers(reader)
    assert [body for _, body in answers] == answered
    assert all(line.endswith(b" 200 OK") for line, _ in answers)


async def test_connection_http20_after_http19_with_more_behind_is_refused_and_closed(connect: Connect) -> None:
    # found by bench/fuzz_http1.py (seed 1): the 505 queued behind the next request, never dispatched
    reader, writer = await connect()
    writer.write(
        b"GET /a HTTP/1.9\r\nHost: x\r\n\r\nGET /b HTTP/2.0\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    writer.write_eof()
    data = await asyncio.wait_for(reader.read(), 3)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\n\r\n/a" in data
    assert b"505 HTTP Version Not Supported" in data and b"/c" not in data


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED),
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED),
    ],
)
async def test_connection_connect_with_a_body_never_has_it_read_as_a_request(connect: Connect, framing: bytes) -> None:
    # aiohttp's C parser stops at a CONNECT's head (a tunnel follows) and leaves its body unread: answered
    # without a switch, the body was parsed as the next request (main: GET /s served). Go reads the body
    # as a body; here the request is refused (400) and nothing after it is read
    reader, writer = await connect()
    writer.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nCONNECT /c HTTP/1.1\r\nHost: x\r\n" + framing)
    answers = await _answers(reader)
    assert answers == [(b"HTTP/1.1 200 OK", b"/a"), (b"HTTP/1.1 400 Bad Request", b"400 Bad Request")]


async def test_connection_connect_without_a_body_is_answered(connect: Connect) -> None:
    reader, writer = await connect()
    writer.write(b"CONNECT /c HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED)
    head, _ = await _answer(reader)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")


UPGRADE_FOO = b"GET /u HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n"
PLAIN = b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n"


async def test_connection_request_behind_an_unsupported_upgrade_in_the_same_read_is_answered(connect: Connect) -> None:
    # aiohttp's C parser pauses at a request with an Upgrade it does not switch to (not a WebSocket) and
    # dropped the rest of the read: the request behind it was never answered (main: a hang)
    reader, writer = await connect()
    writer.write(UPGRADE_FOO + b"GET /n HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [(await _answer(reader))[1] for _ in range(2)] == [b"/u", b"/n"]


async def test_connection_body_behind_an_unsupported_upgrade_is_never_read_as_a_request(
    gateway: GatewayServer, connect: Connect
) -> None:
    # the head of the request behind it was dropped: its body, in the next read, was parsed as a request
    # (main: GET /s served)
    reader, writer = await connect()
    writer.write(UPGRADE_FOO + b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED))
    assert (await _answer(reader))[1] == b"/u"
    writer.write(SMUGGLED)
    writer.write_eof()
    bodies = [body for _, body in await _answers(reader)]
    assert b"/s" not in bodies
    assert bodies in ([SMUGGLED], [])  # the request served with its body, or the connection closed


async def test_connection_unsupported_upgrade_with_a_body_in_two_reads_never_hangs(
    gateway: GatewayServer, connect: Connect
) -> None:
    reader, writer = await connect()
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo\r\nContent-Length: 3\r\n\r\na")
    for _ in range(500):  # the head taken (its body awaited)
        if gateway.protocols() and gateway.protocols()[0]._body is not None:
            break
        await asyncio.sleep(0.01)
    writer.write(b"bcGET /n HTTP/1.1\r\nHost: x\r\n\r\n")  # the client waits (main: /n dropped, a hang)
    assert (await _answer(reader))[1] == b"abc"
    second = await asyncio.wait_for(reader.read(), 5)  # the next answer, or the connection's end
    assert second == b"" or second.endswith(b"/n")


async def test_connection_unsupported_upgrade_filling_the_queue_loses_nothing_behind_it(connect: Connect) -> None:
    # the 16th request (a full queue) asks for the Upgrade: what the paused parser kept is parsed again
    # by a fresh parser (the paused one reported the pause again and dropped it all: 16 answers, a hang)
    reader, writer = await connect()
    writer.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" * 15 + UPGRADE_FOO + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n" * 15)
    bodies = [(await _answer(reader))[1] for _ in range(31)]
    assert bodies == [b"/a"] * 15 + [b"/u"] + [b"/b"] * 15


async def test_connection_websocket_upgrade_whose_body_ends_in_a_later_read_is_answered(
    gateway: GatewayServer, connect: Connect
) -> None:
    # the parser reports the upgrade with the read that ends the body: no message in that read (compiled,
    # a check typed for a list of them raised on the parser's empty tuple and killed the connection)
    reader, writer = await connect()
    writer.write(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\n"
    )
    for _ in range(500):  # the head taken (its body awaited)
        if gateway.protocols() and gateway.protocols()[0]._body is not None:
            break
        await asyncio.sleep(0.01)
    writer.write(b"abcGET /n HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [(await _answer(reader))[1] for _ in range(2)] == [b"abc", b"/n"]


async def test_connection_a_thousand_unsupported_upgrades_in_one_read_are_answered(connect: Connect) -> None:
    # each one's rest parsed again in a loop, not in nested calls (a RecursionError killed the connection)
    reader, writer = await connect()
    writer.write(UPGRADE_FOO * 1100)
    bodies = [(await _answer(reader))[1] for _ in range(1100)]
    assert bodies == [b"/u"] * 1100


async def test_connection_unsupported_upgrades_in_one_read_queue_no_more_than_the_pipelining_bound(
    gateway: GatewayServer, connect: Connect
) -> None:
    # each unswitched Upgrade's rest went to a fresh parser, whose own count of queued requests starts at
    # 0: a read of a thousand of them queued them all parsed (main: 1,000+ messages held by one
    # connection, ~60 bytes of request each, where a read of plain requests holds 16 and the bytes). The
    # rest past a full queue waits as bytes until the requests before it are answered
    gate = asyncio.Event()
    gates.append(gate)
    reader, writer = await connect()
    writer.write(b"GET /gate HTTP/1.1\r\nHost: x\r\n\r\n" + UPGRADE_FOO * 1000)
    for _ in range(20):  # the reads parsed
        await asyncio.sleep(0.01)
    (protocol,) = gateway.protocols()
    assert len(protocol._queue) <= MAX_PIPELINED
    gate.set()  # then every one of them answered, in order
    assert [(await _answer(reader))[1] for _ in range(1001)] == [b"/gate"] + [b"/u"] * 1000


@pytest.mark.parametrize("before", [15, 31])
async def test_connection_connect_with_a_body_filling_the_queue_never_has_it_read_as_a_request(
    connect: Connect, before: int
) -> None:
    # the CONNECT as the 16th request (a full queue): the parser paused for the queue, not for the
    # CONNECT, and reported the switch only when it parsed on, with no message (main: its body, held as
    # what follows an Upgrade, was parsed as a request once the CONNECT was answered: GET /s served)
    reader, writer = await connect()
    connect_ = b"CONNECT /c HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED)
    writer.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" * before + connect_)
    answers = await _answers(reader)
    assert [body for _, body in answers[:before]] == [b"/a"] * before
    assert answers[before:] == [(b"HTTP/1.1 400 Bad Request", b"400 Bad Request")]


async def test_connection_requests_behind_an_unsupported_upgrade_queue_no_more_than_the_pipelining_bound(
    gateway: GatewayServer, connect: Connect
) -> None:
    # the fresh parser that reads what follows counts the requests it queues from 0: with 8 queued before
    # it, it queued 16 more (main: 24 held parsed); it starts only once the queue is empty now
    gate = asyncio.Event()
    gates.append(gate)
    reader, writer = await connect()
    writer.write(b"GET /gate HTTP/1.1\r\nHost: x\r\n\r\n" + PLAIN * 7 + UPGRADE_FOO + PLAIN * 30)
    for _ in range(20):  # the reads parsed
        await asyncio.sleep(0.01)
    (protocol,) = gateway.protocols()
    assert len(protocol._queue) <= MAX_PIPELINED
    gate.set()
    bodies = [(await _answer(reader))[1] for _ in range(39)]
    assert bodies == [b"/gate"] + [b"/p"] * 7 + [b"/u"] + [b"/p"] * 30
