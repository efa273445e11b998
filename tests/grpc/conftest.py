"""A real gRPC server (grpc.aio on 127.0.0.1) for the flights service of ``protos/flights.proto``,
its descriptor set compiled by grpcio-tools' protoc, and config helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc import aio
from grpc_tools import protoc

PROTOS = Path(__file__).parent / "protos"
SERVICE = "flights.Flights"


def compile_descriptor_set(out: Path, proto: str = "flights.proto", *, include_imports: bool = True) -> Path:
    """``protoc --descriptor_set_out=out [--include_imports] proto``, as KrakenD's docs tell users."""
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = ["protoc", f"-I{PROTOS}", f"-I{well_known}", f"--descriptor_set_out={out}", proto]
    if include_imports:
        args.insert(-1, "--include_imports")
    assert protoc.main(args) == 0, f"protoc failed for {proto}"
    return out


@pytest.fixture(scope="session")
def flights_pb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The flights descriptor set (with its google/protobuf imports)."""
    return compile_descriptor_set(tmp_path_factory.mktemp("catalog") / "flights.pb")


@dataclass
class FlightsServer:
    """What the server saw: the metadata and the deadline left of each call."""

    target: str
    metadata: list[dict[str, str]] = field(default_factory=list)
    time_left: list[float | None] = field(default_factory=list)
    #: the client address of each call (one per gateway channel: tells the callers apart)
    peers: list[str] = field(default_factory=list)


def _classes(pb: Path) -> Callable[[str], Any]:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(pb.read_bytes()).file:
        pool.Add(file)
    return lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def flights_handler(pb: Path, seen: FlightsServer) -> Any:
    cls = _classes(pb)
    find_request, find_response = cls("flights.FindRequest"), cls("flights.FindResponse")
    book_request, booking = cls("flights.BookRequest"), cls("flights.Booking")

    async def behave(context: Any) -> dict[str, str]:
        """``x-behave: fail:NOT_FOUND`` aborts with that status, ``sleep:2`` waits first."""
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        seen.metadata.append(metadata)
        seen.time_left.append(context.time_remaining())
        seen.peers.append(context.peer())
        action = metadata.get("x-behave", "")
        if action.startswith("sleep:"):
            await asyncio.sleep(float(action[6:]))
        if action.startswith("fail:"):
            await context.abort(getattr(grpc.StatusCode, action[5:]), f"told to fail with {action[5:]}")
        return metadata

    async def find(request: Any, context: Any) -> Any:
        metadata = await behave(context)
        answer = find_response(total_count=1)
        answer.echo.CopyFrom(request)
        flight = answer.flights.add(flight_id="KP101", seat_class=2, price_cents=12_345_678_901)
        flight.departs_at.seconds, flight.departs_at.nanos = 1_700_000_000, 500_000_000
        flight.flight_time.seconds = 5400
        flight.origin.name = "BCN"
        for key, value in metadata.items():
            if key in ("customerid", "x-tenant") or key.startswith("in-grpc"):
                flight.labels[key] = value
        return answer

    async def book(request: Any, context: Any) -> Any:
        await behave(context)
        answer = booking(booking_id="B-1")
        answer.request.CopyFrom(request)
        return answer

    handlers = {
        "FindFlight": grpc.unary_unary_rpc_method_handler(
            find, request_deserializer=find_request.FromString, response_serializer=find_response.SerializeToString
        ),
        "BookFlight": grpc.unary_unary_rpc_method_handler(
            book, request_deserializer=book_request.FromString, response_serializer=booking.SerializeToString
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


@asynccontextmanager
async def serve_flights(pb: Path) -> AsyncIterator[FlightsServer]:
    """A flights server on 127.0.0.1 (plaintext HTTP/2) for the block."""
    server = aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    seen = FlightsServer(target=f"127.0.0.1:{port}")
    server.add_generic_rpc_handlers((flights_handler(pb, seen),))
    await server.start()
    try:
        yield seen
    finally:
        await server.stop(grace=None)


@pytest.fixture
async def flights_server(flights_pb: Path) -> AsyncIterator[FlightsServer]:
    """The flights service on 127.0.0.1 (plaintext HTTP/2)."""
    async with serve_flights(flights_pb) as seen:
        yield seen


@pytest.fixture(scope="session")
def probe_pb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe descriptor set (``protos/probe.proto``: JSON-valued fields, float32, recursion)."""
    return compile_descriptor_set(tmp_path_factory.mktemp("catalog") / "probe.pb", "probe.proto")


@pytest.fixture
async def probe_server() -> AsyncIterator[str]:
    """``probe.Probe/Echo`` answering raw bytes: the request's own, or the hex of ``x-answer``
    (an answer no real service would send), or the status ``x-status`` (``UNAVAILABLE``)."""

    async def echo(request: bytes, context: Any) -> bytes:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        if "x-status" in metadata:
            await context.abort(getattr(grpc.StatusCode, metadata["x-status"]), "the server says no")
        return bytes.fromhex(metadata["x-answer"]) if "x-answer" in metadata else request

    server = aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    handler = grpc.unary_unary_rpc_method_handler(echo)  # no (de)serializers: bytes in and out
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("probe.Probe", {"Echo": handler}),))
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)


def grpc_config(catalog: list[str], endpoints: list[dict[str, Any]], **service: Any) -> dict[str, Any]:
    """A version-3 config with the gRPC catalog."""
    doc: dict[str, Any] = {"version": 3, "timeout": "3s", "extra_config": {"grpc": {"catalog": catalog}}}
    doc["endpoints"] = endpoints
    doc.update(service)
    return doc


def grpc_backend(host: str, method: str = "FindFlight", **options: Any) -> dict[str, Any]:
    """A backend calling ``flights.Flights/<method>`` with ``backend/grpc`` options."""
    backend: dict[str, Any] = {"host": [host], "url_pattern": f"/{SERVICE}/{method}"}
    extra = {"backend/grpc": options.pop("grpc", {})}
    extra.update(options.pop("extra_config", {}))
    backend["extra_config"] = extra
    backend.update(options)
    return backend
