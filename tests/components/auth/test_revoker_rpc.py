"""auth/revoker's KrakenD RPC port: a Go net/rpc client (compiled here) adds and checks revocations
beside the HTTP admin API on the same port; garbage never takes the listener down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from krakenpy.components.auth import revoker, validator
from krakenpy.components.base import Site
from krakenpy.errors import Rejection
from krakenpy.jose import gobrpc
from krakenpy.jose.bloom import RotatingBloom
from krakenpy.jose.revocation import AdminServer
from tests.components.auth.gorpc_client import arun_client, build_client
from tests.conftest import free_port
from tests.jose.helpers import claims, echo, mint, new_key, public_jwk, request, resources_for, site_for

UNAUTHORIZED = "unauthorized: this port has an admin key and RPC cannot carry one: use the HTTP admin API"


@pytest.fixture(scope="module")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_client(tmp_path_factory.mktemp("gorpc"))


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
        assert answers == [{"error": UNAUTHORIZED}, {"error": UNAUTHORIZED}]
        assert not server.store.check("jti-a")
        assert await _http_check(server.port, ["jti-a"], key="admin-secret") == {"revoked": [False]}


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
