"""The request message and the rendered answer, without a server: conversions, names, well-known types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from krakenpy.grpc.options import BackendOptions
from krakenpy.grpc.request import InputError, message_builder
from krakenpy.grpc.response import Renderer
from krakenpy.proxy.types import Request


@pytest.fixture(scope="module")
def classes(flights_pb: Path) -> Any:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(flights_pb.read_bytes()).file:
        pool.Add(file)
    return lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"flights.{name}"))


def _build(classes: Any, query: dict[str, list[str]], *, body: bytes = b"", params: dict[str, str] | None = None,
           **options: Any) -> Any:  # fmt: skip
    opts = BackendOptions(service="flights.Flights", method="FindFlight", **options)
    build = message_builder(opts, classes("FindRequest"), {"Class": "class"})
    return build(Request("GET", "/", params or {}, {}, query, body))


def test_grpc_message_bools_enums_and_ints_from_strings(classes) -> None:
    for text, expected in [("1", True), ("T", True), ("true", True), ("0", False), ("False", False)]:
        assert _build(classes, {"direct_only": [text]}).direct_only is expected
    assert _build(classes, {"seat_class": ["2"]}).seat_class == 2
    assert _build(classes, {"seatClass": ["FIRST"]}).seat_class == 2  # the JSON name works too
    assert _build(classes, {"max_price": ["-9007199254740993"]}).max_price == -9007199254740993
    assert list(_build(classes, {"classes": ["FIRST", "0"]}).classes) == [2, 0]


@pytest.mark.parametrize(
    "query",
    [{"direct_only": ["yes"]}, {"max_price": ["1e3"]}, {"max_price": ["99999999999999999999"]}, {"seat_class": ["X"]}],
)
def test_grpc_message_bad_strings_are_input_errors(classes, query) -> None:
    with pytest.raises(InputError):
        _build(classes, query)


def test_grpc_message_durations_timestamps_wrappers_bytes(classes) -> None:
    message = _build(
        classes,
        {"departure.length": ["1m30s"], "departure.start": ["2024-05-01T10:00:00.25+02:00"], "passengers": ["4"]},
    )
    assert (message.departure.length.seconds, message.departure.length.nanos) == (90, 0)
    assert (message.departure.start.seconds, message.departure.start.nanos) == (1714550400, 250_000_000)
    assert message.HasField("passengers") and message.passengers.value == 4
    assert _build(classes, {"token": ["-_8"]}).token == b"\xfb\xff"  # URL-safe base64, no padding
    assert _build(classes, {"token": ["raw"]}, assume_bytes=True).token == b"raw"


def test_grpc_message_mapping_renames_and_unknown_names_are_ignored(classes) -> None:
    message = _build(
        classes,
        {"where": ["Girona"], "nope": ["x"], "origin.nope.deeper": ["y"]},
        params={"Class": "BUSINESS"},
        input_mapping={"where": "origin.name", "class": "seat_class"},
    )
    assert message.origin.name == "Girona" and message.seat_class == 1


def test_grpc_message_body_types(classes) -> None:
    body = b'{"origin": {"position": {"latitude": "1.5", "longitude": 2}}, "max_price": "12", "carriers": "KP",'
    body += b' "passengers": 2, "classes": ["FIRST", 1], "departure": {"start": "2024-01-01T00:00:00Z"}, "x": {}}'
    message = _build(classes, {}, body=body, use_request_body=True)
    assert message.origin.position.latitude == 1.5 and message.origin.position.longitude == 2.0
    assert message.max_price == 12 and list(message.carriers) == ["KP"] and message.passengers.value == 2
    assert list(message.classes) == [2, 1] and message.departure.start.seconds == 1704067200


@pytest.mark.parametrize("body", [b"[1]", b"{", b'{"max_price": 1.5}', b'{"origin": "BCN"}', b'{"direct_only": 1}'])
def test_grpc_message_bad_bodies_are_input_errors(classes, body) -> None:
    with pytest.raises(InputError):
        _build(classes, {}, body=body, use_request_body=True)


def test_grpc_message_body_ignored_without_use_request_body_and_params_disabled(classes) -> None:
    message = _build(classes, {"max_price": ["5"]}, body=b'{"max_price": 7}', disable_query_params=True)
    assert message.max_price == 0


def test_grpc_render_maps_bytes_and_wrappers(classes) -> None:
    flight = classes("Flight")(flight_id="X", labels={"a": "b"})
    flight.note.value = "window"
    answer = classes("FindResponse")(flights=[flight])
    answer.echo.token = b"\x00\xff"
    options = BackendOptions(service="s", method="m", remove_unset=True, camel_case_response=True)
    data = Renderer(options).message(answer)
    assert data["flights"] == [{"flightId": "X", "labels": {"a": "b"}, "note": "window"}]
    assert data["echo"] == {"token": "AP8="}
