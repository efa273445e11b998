"""auth/revoker's KrakenD RPC port: a Go net/rpc client (compiled here) adds and checks revocations
beside the HTTP admin API on the same port; garbage never takes the listener down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import tracemalloc
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from krakenpy.components.auth import revoker, validator
from krakenpy.components.base import Site
from krakenpy.errors import Rejection
from krakenpy.jose import gob, gobrpc, revocation
from krakenpy.jose.bloom import RotatingBloom
from krakenpy.jose.gobencode import Encoder
from krakenpy.jose.revocation import AdminServer
from krakenpy.tasks import spawn
from tests.components.auth.gobwire import check_input_defs, check_input_value, header
from tests.components.auth.gorpc_client import arun_client
from tests.conftest import free_port
from tests.jose.helpers import claims, echo, mint, new_key, public_jwk, request, resources_for, site_for

UNAUTHORIZED = "unauthorized: this port has an admin key and RPC cannot carry one: use the HTTP admin API"


@asynccontextmanager
async def _admin(tmp_path: Path, key: str = "") -> AsyncIterator[AdminServer]:
    store = RotatingBloom(tmp_path / "bloom", capacity=1000, false_positive=1e-6, ttl=60)
    server = AdminServer(store, host="127.0.0.1", port=free_port(), key=key)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
        store.close()


async def _http_check(port: int, elements: list[str], key: str = "") -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{port}/check"
        async with session.post(url, json={"elements": elements}, headers=headers) as resp:
            assert resp.status == 200
            return await resp.json()


async def test_revoker_rpc_go_client_revokes_a_jti_and_the_validator_answers_401(
    tmp_path: Path, go_client: Path
) -> None:
    key = new_key("HS256", "k")
    jwk = tmp_path / "jwk.json"
    jwk.write_bytes(orjson.dumps({"keys": [public_jwk(key)]}))
    port = free_port()
    value: dict[str, Any] = {"alg": "HS256", "jwk_local_path": str(jwk)}
    rev = {"N": 1000, "P": 1e-6, "TTL": 60, "port": port, "token_keys": ["jti"], "store_path": str(tmp_path / "b")}
    site = site_for("auth/validator", value, service_extra={"auth/revoker": rev})
    async with AsyncExitStack() as stack:
        resources = resources_for(site, stack)
        service_site = Site("service", "extra_config.auth/revoker", site.service)
        assert revoker.COMPONENT.edge is not None and validator.COMPONENT.endpoint is not None
        middleware = await validator.COMPONENT.endpoint(validator.COMPONENT.parse(value, site), site, resources)
        await revoker.COMPONENT.edge(revoker.COMPONENT.parse(rev, service_site), service_site, resources)
        assert middleware is not None
        proxy = middleware(echo)
        headers = {"Authorization": [f"Bearer {mint(key, claims(jti='j-1'), alg='HS256')}"]}
        assert (await proxy(request(headers))).data
        answers = await arun_client(go_client, port, "add", "jti-j-1", "--", "check", "jti-j-1", "jti-j-2")
        assert answers == [{"count": 1}, {"checks": [True, False]}]
        with pytest.raises(Rejection) as info:
            await proxy(request(headers))
        assert info.value.status == 401 and info.value.reason == "revoked"
        # the HTTP admin API on the same port sees the same filters
        assert await _http_check(port, ["jti-j-1", "jti-j-2"]) == {"revoked": [True, False]}


async def test_revoker_rpc_answers_errors_as_go_net_rpc_and_keeps_the_connection(
    tmp_path: Path, go_client: Path
) -> None:
    async with _admin(tmp_path) as server:
        ops = ["union", "--", "call", "Other.Add", "--", "call", "BloomfilterRPC.Remove", "--"]
        # an element that is not UTF-8 can be no token's claim: counted, never stored
        answers = await arun_client(go_client, server.port, *ops, "add", "jti-a", "\udcff", "--", "check", "jti-a")
        assert answers == [
            {"error": "Union is not supported by krakenpy: add the elements with BloomfilterRPC.Add"},
            {"error": "rpc: can't find service Other.Add"},
            {"error": "rpc: can't find method BloomfilterRPC.Remove"},
            {"count": 2},
            {"checks": [True]},
        ]


async def test_revoker_rpc_with_an_admin_key_refuses_calls_and_http_still_works(
    tmp_path: Path, go_client: Path
) -> None:
    async with _admin(tmp_path, key="admin-secret") as server:
        answers = await arun_client(go_client, server.port, "add", "jti-a", "--", "check", "jti-a")
        # the first call is refused, then the connection closed: the next one finds it shut down (or
        # sent into the closing connection, whichever Go's client sees first)
        assert answers[0] == {"error": UNAUTHORIZED}
        assert answers[1]["error"] in ("connection is shut down", "unexpected EOF")
        assert not server.store.check("jti-a")
        assert await _http_check(server.port, ["jti-a"], key="admin-secret") == {"revoked": [False]}


async def _max_loop_lag(until: asyncio.Future[Any]) -> float:
    """The longest the event loop was held past a 10 ms sleep while ``until`` is pending."""
    worst = 0.0
    while not until.done():
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        worst = max(worst, time.perf_counter() - start - 0.01)
    return worst


async def test_revoker_rpc_with_an_admin_key_never_decodes_a_call_body(tmp_path: Path) -> None:
    # a 1 MiB CheckInput of empty elements took ~2.5 s of the worker's loop to decode before its refusal
    async with _admin(tmp_path, key="admin-secret") as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            call = header(Encoder(), "BloomfilterRPC.Check", 1) + check_input_defs()
            writer.write(call + check_input_value((1 << 20) - 16))
            answer = asyncio.ensure_future(asyncio.wait_for(reader.read(), 10))
            lag = await _max_loop_lag(answer)
            assert UNAUTHORIZED.encode() in await answer  # refused, then closed (read() reached the end)
            assert lag < 0.5
        finally:
            writer.close()


async def _answer_before_close(port: int, data: bytes, wait: float = 5.0) -> bytes:
    """What the server writes before it closes the connection (it must close within ``wait``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        pytest.param(b"\xf7\x00\x00", b"", id="bad-length"),
        pytest.param(b"\xfc\x7f\xff\xff\xff" + b"x" * 10, b"", id="over-1MiB"),
        pytest.param(b"\x03\xff\x81\x09", b"", id="bad-definition"),
        pytest.param(b"\x02\x82\x00", b"", id="undefined-type"),
        pytest.param(b"\x80" + bytes(range(256)) * 4, b"", id="gob-garbage"),
        # two ASCII bytes: HTTP's parser refuses it as Go's server does
        pytest.param(b"\x01\x10" + bytes(range(256)) * 4, b"HTTP/1.1 400 Bad Request", id="http-garbage"),
    ],
)
async def test_revoker_rpc_garbage_closes_that_connection_not_the_listener(
    tmp_path: Path, go_client: Path, data: bytes, answer: bytes
) -> None:
    async with _admin(tmp_path) as server:
        assert (await _answer_before_close(server.port, data)).startswith(answer)
        assert await arun_client(go_client, server.port, "add", "jti-a") == [{"count": 1}]
        assert await _http_check(server.port, ["jti-a"]) == {"revoked": [True]}


async def test_revoker_rpc_half_sent_message_times_out_and_the_listener_stays(
    tmp_path: Path, go_client: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gobrpc, "MESSAGE_TIMEOUT", 0.3)
    async with _admin(tmp_path) as server:
        # a message announcing 60 bytes, 3 sent, then silence: closed after the message timeout
        assert await _answer_before_close(server.port, b"\x3c\xff\x81\x03") == b""
        # one sent and the client leaves mid-message
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x3c\xff\x81")
        await writer.drain()
        writer.close()
        assert await arun_client(go_client, server.port, "check", "jti-a") == [{"checks": [False]}]
        assert await _http_check(server.port, ["jti-a"]) == {"revoked": [False]}


async def test_revoker_rpc_first_bytes_of_go_and_http_clients_are_told_apart(go_client: Path) -> None:
    seen: list[bytes] = []

    async def first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readexactly(2))
        writer.close()

    listener = await asyncio.start_server(first, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        proc = await asyncio.create_subprocess_exec(
            str(go_client), f"127.0.0.1:{port}", "add", "x", stdout=asyncio.subprocess.DEVNULL
        )
        await asyncio.wait_for(proc.wait(), 30)
        async with aiohttp.ClientSession() as session:
            for method in ("GET", "POST", "OPTIONS", "PRI"):
                try:
                    async with session.request(method, f"http://127.0.0.1:{port}/check"):
                        pass
                except aiohttp.ClientError:
                    pass
    # aiohttp retries a request once when the connection closes: each method at least once
    assert gobrpc.looks_like_gob(*seen[0])
    assert {pair[:1] for pair in seen[1:]} == {b"G", b"P", b"O"}
    assert not any(gobrpc.looks_like_gob(*pair) for pair in seen[1:])


async def test_revoker_rpc_idle_connection_keeps_no_decoded_call(tmp_path: Path) -> None:
    # a connection waiting for its next call used to keep its last body (here 20k elements, ~0.9 MB)
    async with _admin(tmp_path) as server:
        tracemalloc.start()
        conns = []
        try:
            for _ in range(4):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                call = header(Encoder(), "BloomfilterRPC.Check", 1) + check_input_defs()
                writer.write(call + check_input_value(20_000, 2))
                conns.append((reader, writer))
            for reader, _ in conns:  # the whole answer (20k bools) arrived: the call is over
                assert len(await asyncio.wait_for(reader.readexactly(20_000), 10)) == 20_000
            await asyncio.sleep(0.2)
            # what the decoder made and something still holds (the store's hash cache is bounded apart)
            decoded = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, gob.__file__)])
            kept = sum(stat.size for stat in decoded.statistics("filename"))
        finally:
            tracemalloc.stop()
            for _, writer in conns:
                writer.close()
        assert kept < 200_000, f"{kept} bytes of decoded calls kept by 4 idle RPC connections"


async def test_revoker_rpc_silence_between_calls_closes_the_connection(
    tmp_path: Path, go_client: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # without the idle clock, 64 connections that sent one header and went quiet held every slot
    monkeypatch.setattr(gobrpc, "IDLE_TIMEOUT", 0.3)
    monkeypatch.setattr(revocation, "MAX_RPC_CONNECTIONS", 2)
    async with _admin(tmp_path) as server:
        idle = []
        for _ in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(header(Encoder(), "BloomfilterRPC.Add", 1))
            idle.append((reader, writer))
        try:
            for reader, _ in idle:
                assert await asyncio.wait_for(reader.read(), 5) == b""
            assert await arun_client(go_client, server.port, "add", "jti-a") == [{"count": 1}]
        finally:
            for _, writer in idle:
                writer.close()


async def test_revoker_rpc_connection_sniffed_after_close_is_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a connection whose 2nd byte came after close() was served over the closed store (a task traceback)
    spawned: list[object] = []

    def record(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        spawned.append(coro)
        return spawn(coro)

    monkeypatch.setattr(revocation, "spawn", record)
    async with _admin(tmp_path) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        call = header(Encoder(), "BloomfilterRPC.Check", 1) + check_input_defs() + check_input_value(1)
        writer.write(call[:1])
        await writer.drain()
        await asyncio.sleep(0.2)
    try:
        assert await asyncio.wait_for(reader.read(), 5) == b""  # close() closed it
        assert not server.sniffing
        with contextlib.suppress(ConnectionError):
            writer.write(call[1:])
            await writer.drain()
        await asyncio.sleep(0.2)
        assert not spawned
    finally:
        writer.close()


async def test_revoker_rpc_start_after_close_closes_the_transport(tmp_path: Path) -> None:
    async with _admin(tmp_path) as server:
        pass
    closed = asyncio.get_running_loop().create_future()

    class Transport(asyncio.Transport):
        def close(self) -> None:
            closed.set_result(True)

    server.start_rpc(Transport(), b"\x80\x80")
    assert closed.done() and not server._rpc


async def test_revoker_rpc_one_byte_then_silence_is_closed_by_the_header_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HTTP's read-header clock closed such a connection; the sniffer held it on the 90 s idle clock
    monkeypatch.setattr(revocation, "DEFAULT_HEADER_TIMEOUT", 0.3)
    async with _admin(tmp_path) as server:
        assert await _answer_before_close(server.port, b"G", wait=3) == b""


async def test_revoker_rpc_unexpected_error_is_one_log_line_and_a_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise ValueError("mmap closed or invalid")

    monkeypatch.setattr(gobrpc, "_call", broken)
    async with _admin(tmp_path) as server:
        call = header(Encoder(), "BloomfilterRPC.Check", 1) + check_input_defs() + check_input_value(1)
        with caplog.at_level(logging.DEBUG, logger="krakenpy.jose"):
            assert await _answer_before_close(server.port, call) == b""
            await asyncio.sleep(0.05)
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().rsplit(": ", 1)[1] for r in lines] == ["unexpected ValueError('mmap closed or invalid')"]
    assert not any(r.exc_info for r in caplog.records)


async def test_revoker_rpc_garbage_warns_once_per_kind_then_logs_at_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(gobrpc, "_WARNED", set())
    async with _admin(tmp_path) as server:
        with caplog.at_level(logging.DEBUG, logger="krakenpy.jose"):
            for garbage in (b"\xfc\x7f\xff\xff\xff", b"\xfc\x7f\xff\xff\xfe", b"\xf7\x00\x00"):
                assert await _answer_before_close(server.port, garbage) == b""
            await asyncio.sleep(0.05)
    levels = [(r.levelno, r.getMessage().rsplit(": ", 1)[1]) for r in caplog.records if "closing" in r.getMessage()]
    assert levels == [
        (logging.WARNING, "message of 2147483647 bytes refused"),
        (logging.DEBUG, "message of 2147483646 bytes refused"),
        (logging.WARNING, "bad message length"),
    ]
