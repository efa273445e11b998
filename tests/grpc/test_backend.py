"""backend/grpc end to end: a real gRPC server, a real gateway, HTTP requests in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from tests.grpc.conftest import grpc_backend, grpc_config, serve_flights

MAPPING = {"lat": "origin.position.latitude", "lon": "origin.position.longitude", "tm": "departure.start"}


def _find(host: str, pb: Path, *, query: list[str] | None = None, **options: Any) -> dict[str, Any]:
    endpoint = {
        "endpoint": "/flights/{class}",
        "input_query_strings": query or ["*"],
        "backend": [grpc_backend(host, grpc={"input_mapping": {**MAPPING, "Class": "seat_class"}, **options})],
    }
    return grpc_config([str(pb)], [endpoint])


async def test_grpc_backend_fills_nested_fields_from_params_and_query(gateway, flights_server, flights_pb) -> None:
    client = await gateway(_find(flights_server.target, flights_pb, output_remove_unset_values=True))
    query = "lat=41.3&lon=2.08&tm=2024-05-01T10:00:00Z&carriers=KP&carriers=VY&max_price=900&direct_only=t"
    resp = await client.get(f"/flights/BUSINESS?{query}&passengers=3&token=AQID&classes=FIRST&classes=1")
    assert resp.status == 200, await resp.text()
    echo = (await resp.json())["echo"]
    assert echo == {
        "origin": {"position": {"latitude": 41.3, "longitude": 2.08}},
        "departure": {"start": {"seconds": 1714557600, "nanos": 0}},
        "seat_class": 1,
        "carriers": ["KP", "VY"],
        "max_price": 900,
        "direct_only": True,
        "passengers": 3,
        "token": "AQID",
        "classes": [2, 1],
    }


async def test_grpc_backend_renders_strings_and_camel_case(gateway, flights_server, flights_pb) -> None:
    options = {
        "response_naming_convention": "camelCase",
        "output_enum_as_string": True,
        "output_timestamp_as_string": True,
        "output_duration_as_string": True,
    }
    client = await gateway(_find(flights_server.target, flights_pb, **options))
    data = await (await client.get("/flights/FIRST?lat=1.5")).json()
    flight = data["flights"][0]
    assert flight["flightId"] == "KP101"
    assert flight["seatClass"] == "FIRST"
    assert flight["departsAt"] == "2023-11-14T22:13:20.500Z"
    assert flight["flightTime"] == "5400s"
    assert flight["priceCents"] == 12_345_678_901  # a number, not protobuf JSON's string
    assert flight["note"] is None and flight["labels"] == {}
    assert data["totalCount"] == 1
    assert data["echo"]["seatClass"] == "FIRST" and data["echo"]["departure"] is None


async def test_grpc_backend_default_rendering_has_every_field(gateway, flights_server, flights_pb) -> None:
    client = await gateway(_find(flights_server.target, flights_pb))
    data = await (await client.get("/flights/0")).json()
    flight = data["flights"][0]
    assert flight["seat_class"] == 2
    assert flight["departs_at"] == {"seconds": 1_700_000_000, "nanos": 500_000_000}
    assert flight["flight_time"] == {"seconds": 5400, "nanos": 0}
    assert flight["origin"] == {"name": "BCN", "position": None}
    assert data["echo"]["carriers"] == [] and data["echo"]["max_price"] == 0 and data["echo"]["token"] == ""


async def test_grpc_backend_remove_unset_values_leaves_defaults_out(gateway, flights_server, flights_pb) -> None:
    client = await gateway(_find(flights_server.target, flights_pb, output_remove_unset_values=True))
    data = await (await client.get("/flights/ECONOMY")).json()
    assert data["echo"] == {}  # set (the server copied it), every field of it at its default
    assert "note" not in data["flights"][0] and "labels" not in data["flights"][0]
    assert data["flights"][0]["origin"] == {"name": "BCN"}


async def test_grpc_backend_body_wins_over_params(gateway, flights_server, flights_pb) -> None:
    backend = grpc_backend(
        flights_server.target,
        "BookFlight",
        grpc={"use_request_body": True, "input_mapping": {"Id_flight": "flight_id", "Who": "main_passenger.full_name"}},
    )
    endpoint = {"endpoint": "/book/{id_flight}/{who}", "method": "POST", "backend": [backend]}
    client = await gateway(grpc_config([str(flights_pb)], [endpoint]))
    resp = await client.post("/book/KP101/Ada", json={"seats": "2", "mainPassenger": {"age": 36}})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["request"] == {
        "flight_id": "KP101",
        "main_passenger": {"full_name": "Ada", "age": 36},
        "seats": 2,
    }
    resp = await client.post("/book/KP101/Ada", json={"flight_id": "KP202"})
    assert (await resp.json())["request"]["flight_id"] == "KP202"


async def test_grpc_backend_bad_input_is_400(gateway, flights_server, flights_pb) -> None:
    client = await gateway(_find(flights_server.target, flights_pb))
    assert (await client.get("/flights/BUSINESS?max_price=cheap")).status == 400
    assert (await client.get("/flights/WINDOW")).status == 400
    assert (await client.get("/flights/0?tm=yesterday")).status == 400
    assert flights_server.metadata == []  # nothing was sent


async def test_grpc_backend_headers_become_metadata(gateway, flights_server, flights_pb) -> None:
    doc = _find(flights_server.target, flights_pb, header_mapping={"X-Tenant": "customerid"})
    doc["endpoints"][0]["input_headers"] = ["*"]
    client = await gateway(doc)
    headers = {"X-Tenant": "acme", "Grpc-Trace": "t1", "X-Odd!": "left out", "X-Bad": "caf\u00e9"}
    resp = await client.get("/flights/0", headers=headers)
    labels = (await resp.json())["flights"][0]["labels"]
    assert labels == {"customerid": "acme", "in-grpc-trace": "t1"}
    seen = flights_server.metadata[0]
    assert seen["customerid"] == "acme" and "x-odd!" not in seen and "x-bad" not in seen


async def test_grpc_backend_merges_with_http_backend(gateway, backend, flights_server, flights_pb) -> None:
    app = web.Application()

    async def weather(request: web.Request) -> web.Response:
        return web.json_response({"sky": "clear"})

    app.router.add_get("/weather", weather)
    url = await backend(app)
    endpoint = {
        "endpoint": "/trip",
        "input_query_strings": ["lat"],
        "backend": [
            grpc_backend(
                flights_server.target, group="flights", grpc={"input_mapping": MAPPING}, allow=["total_count"]
            ),
            {"host": [url], "url_pattern": "/weather"},
        ],
    }
    client = await gateway(grpc_config([str(flights_pb)], [endpoint]))
    resp = await client.get("/trip?lat=2")
    assert resp.status == 200
    assert await resp.json() == {"flights": {"total_count": 1}, "sky": "clear"}
    assert resp.headers["X-Krakend-Completed"] == "true"


async def test_grpc_backend_round_robins_hosts_on_shared_channels(gateway, flights_pb, flights_server) -> None:
    async with serve_flights(flights_pb) as other:
        doc = _find(flights_server.target, flights_pb)
        # the first two hosts are one target (one channel), the third another server
        doc["endpoints"][0]["backend"][0]["host"] = [
            flights_server.target,
            f"http://{flights_server.target}",
            other.target,
        ]
        client = await gateway(doc)
        for _ in range(6):
            assert (await client.get("/flights/0")).status == 200
    assert (len(flights_server.metadata), len(other.metadata)) == (4, 2)
    assert len(set(flights_server.peers)) == 1  # both spellings of the host share one connection


async def test_grpc_backend_no_op_passes_json_body(gateway, flights_server, flights_pb) -> None:
    doc = _find(flights_server.target, flights_pb, output_remove_unset_values=True)
    doc["endpoints"][0]["output_encoding"] = "no-op"
    doc["endpoints"][0]["backend"][0]["encoding"] = "no-op"
    client = await gateway(doc)
    resp = await client.get("/flights/0")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/json")
    assert (await resp.json())["total_count"] == 1
