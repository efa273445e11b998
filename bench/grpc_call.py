"""``python -m bench.grpc_call``: what krakenpy adds to a unary gRPC call (``backend/grpc``).

1. In process, CPU µs per request: the request message from three mapped query strings (nested
   fields, a timestamp), and the answer (a flight list) rendered to JSON data with string enums,
   timestamps and durations; best of ``--rounds``.
2. Over loopback against a grpc.aio server in the same process: p50 of krakenpy's executor (build,
   call with a deadline, render) and of a bare ``grpc.aio`` call of a prebuilt message on the same
   channel kind, sequential, ``-n`` calls each, interleaved in rounds. The difference is the
   executor's overhead; the gateway's HTTP hop is the same as for any backend and is not included.

Needs grpcio-tools (a dev dependency) to compile ``tests/grpc/protos/flights.proto``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import timeit
from importlib import resources
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import message_factory
from grpc import aio
from grpc_tools import protoc

from krakenpy.config.build import build_service
from krakenpy.gateway import build_gateway
from krakenpy.grpc.catalog import load_catalog
from krakenpy.grpc.executor import grpc_executor
from krakenpy.grpc.options import BackendOptions, CatalogOptions
from krakenpy.grpc.request import message_builder
from krakenpy.grpc.response import Renderer
from krakenpy.proxy.types import Request

PROTOS = Path(__file__).resolve().parents[1] / "tests" / "grpc" / "protos"
MAPPING = {"lat": "origin.position.latitude", "lon": "origin.position.longitude", "tm": "departure.start"}
QUERY = {"lat": ["41.3"], "lon": ["2.08"], "tm": ["2024-05-01T10:00:00Z"]}
OPTIONS = BackendOptions(
    service="flights.Flights",
    method="FindFlight",
    input_mapping=MAPPING,
    enum_as_string=True,
    timestamp_as_string=True,
    duration_as_string=True,
)


def _compile(folder: Path) -> Path:
    out = folder / "flights.pb"
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = ["protoc", f"-I{PROTOS}", f"-I{well_known}", "--include_imports", f"--descriptor_set_out={out}"]
    assert protoc.main([*args, "flights.proto"]) == 0
    return out


def _answer(classes: Any, flights: int = 5) -> Any:
    answer = classes("FindResponse")(total_count=flights)
    for i in range(flights):
        flight = answer.flights.add(flight_id=f"KP{i}", seat_class=1, price_cents=12_345)
        flight.departs_at.seconds = 1_700_000_000 + i
        flight.flight_time.seconds = 5400
        flight.origin.name = "BCN"
    return answer


def _best(fn: Any, n: int, rounds: int) -> float:
    return min(timeit.repeat(fn, number=n, repeat=rounds, timer=time.process_time)) / n * 1e6


def in_process(pb: Path, n: int, rounds: int) -> None:
    catalog = load_catalog(CatalogOptions(catalog=(str(pb),)), Path.cwd(), "grpc")
    method = catalog.method("flights.Flights", "FindFlight")
    request_class = message_factory.GetMessageClass(method.input_type)
    build = message_builder(OPTIONS, request_class, {})
    render = Renderer(OPTIONS).message
    answer = _answer(
        lambda name: message_factory.GetMessageClass(catalog.pool.FindMessageTypeByName(f"flights.{name}"))
    )
    request = Request("GET", "/flights", {}, {}, QUERY)
    print(f"request message (3 mapped query strings): {_best(lambda: build(request), n, rounds):.2f} µs")
    rendered = _best(lambda: render(answer), n, rounds)
    print(f"answer rendered (5 flights, string enums/timestamps/durations): {rendered:.2f} µs")


async def loopback(pb: Path, n: int, rounds: int) -> None:
    catalog = load_catalog(CatalogOptions(catalog=(str(pb),)), Path.cwd(), "grpc")
    classes = lambda name: message_factory.GetMessageClass(catalog.pool.FindMessageTypeByName(f"flights.{name}"))  # noqa: E731
    find_request, find_response = classes("FindRequest"), classes("FindResponse")
    canned = _answer(classes)

    async def find(request: Any, context: Any) -> Any:
        return canned

    handler = grpc.unary_unary_rpc_method_handler(
        find, request_deserializer=find_request.FromString, response_serializer=find_response.SerializeToString
    )
    server = aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("flights.Flights", {"FindFlight": handler}),))
    await server.start()
    doc = {
        "version": 3,
        "extra_config": {"grpc": {"catalog": [str(pb)]}},
        "endpoints": [{"endpoint": "/f", "backend": [{"host": [f"127.0.0.1:{port}"], "url_pattern": "/x"}]}],
    }
    gateway = await build_gateway(build_service(doc))
    backend = gateway.resources.service.endpoints[0].backends[0]
    executor = await grpc_executor(OPTIONS, backend, gateway.resources, None, {}, "bench")
    channel = aio.insecure_channel(f"127.0.0.1:{port}")
    bare = channel.unary_unary(
        "/flights.Flights/FindFlight",
        request_serializer=find_request.SerializeToString,
        response_deserializer=find_response.FromString,
    )
    message = message_builder(OPTIONS, find_request, {})(Request("GET", "/", {}, {}, QUERY))
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        for _ in range(n):
            start = time.perf_counter()
            await executor(Request("GET", "/f", {}, {}, {k: list(v) for k, v in QUERY.items()}))
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            await bare(message, timeout=3.0)
            theirs.append(time.perf_counter() - start)
    await channel.close()
    await gateway.close()
    await server.stop(None)
    p50_ours, p50_bare = statistics.median(ours) * 1e6, statistics.median(theirs) * 1e6
    print(f"loopback p50: executor {p50_ours:.0f} µs, bare grpc.aio {p50_bare:.0f} µs, +{p50_ours - p50_bare:.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.grpc_call", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        pb = _compile(Path(folder))
        in_process(pb, args.n * 10, args.rounds)
        asyncio.run(loopback(pb, args.n, args.rounds))


if __name__ == "__main__":
    main()
