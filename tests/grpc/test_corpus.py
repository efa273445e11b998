"""Corpus 014 (KrakenD's gRPC example) served as written: its catalog and hosts pointed at stand-in
services on 127.0.0.1 (tests/grpc/protos/flight_finder.proto, train_finder.proto)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
from aiohttp import web
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc import aio

from tests.corpus import CORPUS, needs_corpus
from tests.grpc.conftest import compile_descriptor_set

pytestmark = needs_corpus

ANSWER = {
    "flights": [
        {"flight_number": "KD42", "kind": "DIRECT", "departure_time": "2024-05-01T10:30:00Z", "duration": "7200s"}
    ]
}


@pytest.fixture
async def travel(tmp_path: Path) -> AsyncIterator[tuple[Path, str]]:
    """Both services on one port; the catalog is a folder with one descriptor set per .proto."""
    catalog = tmp_path / "grpc_catalog"
    catalog.mkdir()
    compile_descriptor_set(catalog / "flights.pb", "flight_finder.proto")
    compile_descriptor_set(catalog / "trains.pb", "train_finder.proto", include_imports=False)
    pool = descriptor_pool.DescriptorPool()
    files = {
        f.name: f
        for pb in sorted(catalog.iterdir())
        for f in descriptor_pb2.FileDescriptorSet.FromString(pb.read_bytes()).file
    }
    for name in (
        "google/protobuf/duration.proto",
        "google/protobuf/timestamp.proto",
        "flight_finder.proto",
        "train_finder.proto",
    ):
        pool.Add(files[name])
    cls = lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))  # noqa: E731
    request, flights, trains = (
        cls("flight_finder.FindRequest"),
        cls("flight_finder.FindResponse"),
        cls("train_finder.FindTrainsResponse"),
    )

    async def find_flight(message: Any, context: Any) -> Any:
        answer = json_format.ParseDict(ANSWER, flights())
        answer.asked.CopyFrom(message)
        return answer

    async def find_trains(message: Any, context: Any) -> Any:
        return trains(train_list=[{"train_id": "AVE-3"}])

    def unary(handler: Any, response: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            handler, request_deserializer=request.FromString, response_serializer=response.SerializeToString
        )

    server = aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler("flight_finder.Flights", {"FindFlight": unary(find_flight, flights)}),
            grpc.method_handlers_generic_handler("train_finder.Trains", {"FindTrains": unary(find_trains, trains)}),
        )
    )
    await server.start()
    try:
        yield catalog, f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)


async def test_grpc_corpus_014_serves_flights_trains_and_hotels(gateway, backend, travel) -> None:
    catalog, target = travel
    app = web.Application()

    async def hotels(request: web.Request) -> web.Response:
        return web.json_response({"hotels": [{"name": "Hotel Arts"}]})

    app.router.add_get("/hotels", hotels)
    fakeapi = await backend(app)
    raw = (CORPUS / "014-krakend-examples-grpc.json").read_text()
    raw = raw.replace("/etc/krakend/grpc_catalog", str(catalog)).replace(
        "fakeapi:8088", fakeapi.removeprefix("http://")
    )
    doc = orjson.loads(raw.replace("grpc_flights:4242", target).replace("grpc_trains:4243", target))
    client = await gateway(doc)
    resp = await client.get("/grpc/travel/client_tls?lat=41.39&lon=2.17&tm=2024-05-01T08:00:00Z")
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert data["flights"] == [
        {"flightNumber": "KD42", "kind": "DIRECT", "departureTime": "2024-05-01T10:30:00Z", "duration": "7200s"}
    ]
    assert data["asked"] == {
        "origin": {"position": {"latitude": 41.39, "longitude": 2.17}},
        "departure": {"start": "2024-05-01T08:00:00Z"},
    }
    assert data["trains"] == {"trainList": [{"trainId": "AVE-3"}]}
    assert data["hotels"] == {"hotels": [{"name": "Hotel Arts"}]}
    assert resp.headers["X-Krakend-Completed"] == "true"
