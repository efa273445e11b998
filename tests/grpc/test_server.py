"""``grpc.server``: a real grpc.aio client calling the gateway (HTTP/2 prior knowledge on its HTTP
port), whose methods run aiohttp backends on 127.0.0.1 and a real grpc.aio backend."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from aiohttp import web
from grpc import aio

from tests.cli_gateway import check_config, gateway_process
from tests.conftest import free_port
from tests.grpc.conftest import SERVICE, _classes, grpc_backend

Start = Callable[..., Awaitable[Any]]


def _method(name: str = "FindFlight", **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


def _config(pb: Path, methods: list[dict[str, Any]], **service: Any) -> dict[str, Any]:
    server = {"services": [{"name": SERVICE, "methods": methods}]}
    doc: dict[str, Any] = {"version": 3, "timeout": "3s", "endpoints": []}
    doc["extra_config"] = {"grpc": {"catalog": [str(pb)], "server": server}}
    doc.update(service)
    return doc


async def _call(port: int, pb: Path, request: Any, method: str = "FindFlight", **kwargs: Any) -> Any:
    cls = _classes(pb)
    answer = cls("flights.FindResponse" if method == "FindFlight" else "flights.Booking")
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
            response_deserializer=answer.FromString,
        )
        return await call(request, **kwargs)


def _find(pb: Path, **fields: Any) -> Any:
    return _classes(pb)("flights.FindRequest")(**fields)


@pytest.fixture
async def search_backend(backend: Start) -> tuple[str, list[dict[str, Any]]]:
    """An HTTP backend at ``/search/{from}`` answering flights JSON; records what it got."""
    seen: list[dict[str, Any]] = []

    async def search(request: web.Request) -> web.Response:
        if request.match_info["origin"] == "slow":
            await asyncio.sleep(2)
        seen.append({"path": request.path, "headers": dict(request.headers), "body": await request.json()})
        flights = [{"flight_id": "KP7", "seat_class": "BUSINESS", "price_cents": 99}]
        return web.json_response({"flights": flights, "total_count": 3, "not_in_the_message": True})

    app = web.Application()
    app.router.add_post("/search/{origin}", search)
    return await backend(app), seen


async def test_server_http_backend_params_headers_and_reply(
    gateway: Start, flights_pb: Path, search_backend: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = search_backend
    method = _method(
        input_headers=["X-Tenant"],
        payload_params={"origin.name": "origin"},
        backend=[{"host": [url], "url_pattern": "/search/{origin}", "method": "POST"}],
    )
    client = await gateway(_config(flights_pb, [method]))
    request = _find(flights_pb, max_price=500, seat_class=1)
    request.origin.name = "BCN"
    metadata = (("x-tenant", "acme"), ("x-other", "secret"))
    reply = await _call(client.port, flights_pb, request, metadata=metadata)
    assert reply.total_count == 3
    assert [(f.flight_id, f.seat_class, f.price_cents) for f in reply.flights] == [("KP7", 1, 99)]
    assert seen[0]["path"] == "/search/BCN"
    assert seen[0]["headers"]["X-Tenant"] == "acme"
    assert "X-Other" not in seen[0]["headers"]
    body = seen[0]["body"]
    assert body["origin"]["name"] == "BCN" and body["seat_class"] == "BUSINESS" and body["max_price"] == 500


async def test_server_grpc_backend_gets_the_message(gateway: Start, flights_pb: Path, flights_server: Any) -> None:
    backend = grpc_backend(flights_server.target, grpc={"use_request_body": True})
    client = await gateway(_config(flights_pb, [_method(backend=[backend], input_headers=["x-tenant"])]))
    request = _find(flights_pb, carriers=["KP", "VY"], max_price=7)
    request.origin.position.latitude = 41.5
    reply = await _call(client.port, flights_pb, request, metadata=(("x-tenant", "acme"),))
    assert list(reply.echo.carriers) == ["KP", "VY"] and reply.echo.max_price == 7
    assert reply.echo.origin.position.latitude == 41.5
    assert reply.flights[0].flight_id == "KP101" and reply.flights[0].labels["x-tenant"] == "acme"


async def test_server_errors_are_statuses(
    gateway: Start, flights_pb: Path, search_backend: tuple[str, list[dict[str, Any]]], dead_port: int
) -> None:
    url, _ = search_backend
    methods = [
        _method(payload_params={"origin.name": "origin"}, backend=[{"host": [url], "url_pattern": "/search/{origin}"}]),
        _method("BookFlight", backend=[{"host": [f"http://127.0.0.1:{dead_port}"], "url_pattern": "/book"}]),
    ]
    client = await gateway(_config(flights_pb, methods, timeout="500ms"))
    port = client.port

    with pytest.raises(aio.AioRpcError) as bad:  # not a FindRequest: field 1 is a message, not a varint
        await _call(port, flights_pb, b"\x08\x01\x0a\xff")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    with pytest.raises(aio.AioRpcError) as down:
        await _call(port, flights_pb, _classes(flights_pb)("flights.BookRequest")(), method="BookFlight")
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "127.0.0.1" not in (down.value.details() or "") and str(dead_port) not in (down.value.details() or "")

    slow = _find(flights_pb)
    slow.origin.name = "slow"
    with pytest.raises(aio.AioRpcError) as late:  # the gateway's own 500ms, not the client's deadline
        await _call(port, flights_pb, slow)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        unknown = channel.unary_unary(f"/{SERVICE}/CancelFlight")
        with pytest.raises(aio.AioRpcError) as missing:
            await unknown(b"")
    assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED

    health = await client.get("/__health")  # HTTP/1.1 on the same port still works
    assert health.status == 200


async def test_server_grpc_timeout_shortens_the_deadline(gateway: Start, flights_pb: Path, flights_server: Any) -> None:
    backend = grpc_backend(flights_server.target, grpc={"use_request_body": True})
    client = await gateway(_config(flights_pb, [_method(backend=[backend])], timeout="10s"))
    await _call(client.port, flights_pb, _find(flights_pb), timeout=2.0)
    await _call(client.port, flights_pb, _find(flights_pb))
    # the client's grpc-timeout (2 s) is the backend call's deadline when sooner than the gateway's 10 s
    # (about 2 s: gRPC's core rounds a grpc-timeout up, 2.0086 s seen on a loaded machine)
    short, long = flights_server.time_left
    assert short is not None and long is not None
    assert short <= 2.1 < 9.0 < long


async def test_server_cli_serves_grpc_and_http(tmp_path: Path, flights_pb: Path, flights_server: Any) -> None:
    port = free_port()
    backend = grpc_backend(flights_server.target, grpc={"use_request_body": True})
    doc = _config(flights_pb, [_method(backend=[backend])], port=port)
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    with gateway_process(config, port=port, workers=1):
        reply = await _call(port, flights_pb, _find(flights_pb, max_price=3))
        assert reply.echo.max_price == 3 and reply.total_count == 1


def test_server_check_refuses_a_method_not_in_the_catalog(tmp_path: Path, flights_pb: Path) -> None:
    methods = [_method("CancelFlight", backend=[{"host": ["http://127.0.0.1:8000"], "url_pattern": "/x"}])]
    config = tmp_path / "krakend.json"
    config.write_text(orjson.dumps(_config(flights_pb, methods)).decode())
    done = check_config(config)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "extra_config.grpc.server.services[0].methods[0].name" in out and "CancelFlight" in out


async def test_server_message_too_large_is_resource_exhausted(gateway: Start, flights_pb: Path) -> None:
    backend = {"host": ["http://127.0.0.1:8000"], "url_pattern": "/never"}
    client = await gateway(_config(flights_pb, [_method(backend=[backend])]))
    huge = _find(flights_pb, carriers=["x" * 1024] * 5000)  # ~5 MiB: past the 4 MiB a call may carry
    with pytest.raises(aio.AioRpcError) as big:
        await _call(client.port, flights_pb, huge)
    assert big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_server_preface_without_grpc_server_is_refused(gateway: Start) -> None:
    client = await gateway({"version": 3, "endpoints": []})
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(100), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400")


async def test_server_drain_waits_for_calls_in_flight(
    flights_pb: Path, search_backend: tuple[str, list[dict[str, Any]]]
) -> None:
    from krakenpy.config.build import build_service
    from krakenpy.gateway import build_gateway
    from krakenpy.server.limits import ServerLimits
    from krakenpy.server.protocol import GatewayServer
    from krakenpy.server.takeover import h2_takeover

    url, seen = search_backend
    methods = [
        _method(payload_params={"origin.name": "origin"}, backend=[{"host": [url], "url_pattern": "/search/{origin}"}])
    ]
    gw = await build_gateway(build_service(_config(flights_pb, methods)))
    server = GatewayServer(gw.edge, limits=ServerLimits())
    server.h2 = h2_takeover(gw)
    listener = await asyncio.get_running_loop().create_server(server, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        slow = _find(flights_pb)
        slow.origin.name = "slow"  # the backend answers after 2 s
        call = asyncio.ensure_future(_call(port, flights_pb, slow))
        async with asyncio.timeout(5):
            while server.in_flight() == 0:
                await asyncio.sleep(0.01)
        assert await server.drain(10.0)  # nothing cut: it waited for the call
        reply = await call
        assert reply.total_count == 3 and len(seen) == 1
        assert not server.connections
    finally:
        listener.close()
        await gw.close()


async def test_server_plain_http2_request_is_served_as_http(gateway: Start, flights_pb: Path) -> None:
    import h2.config
    import h2.connection
    import h2.events

    backend = {"host": ["http://127.0.0.1:8000"], "url_pattern": "/never"}
    client = await gateway(_config(flights_pb, [_method(backend=[backend])]))
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    headers = [(":method", "GET"), (":path", "/__health"), (":scheme", "http"), (":authority", "gw")]
    conn.send_headers(1, headers, end_stream=True)
    writer.write(conn.data_to_send())
    status, body, ended = "", b"", False
    while not ended:
        data = await asyncio.wait_for(reader.read(65536), 5)
        assert data, "the gateway closed the connection"
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers)[":status"]
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
            elif isinstance(event, h2.events.StreamEnded):
                ended = True
        writer.write(conn.data_to_send())
    writer.close()
    assert status == "200" and b"ok" in body.lower()
