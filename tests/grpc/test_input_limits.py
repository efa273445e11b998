"""Request values the message cannot take are the client's mistake (InputError: 400), never a crash:
JSON-valued fields of the wrong shape, bad base64, float32 overflow, timestamps outside protobuf's
years, paths and bodies nested too deeply."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from krakenpy.grpc.options import BackendOptions
from krakenpy.grpc.request import InputError, message_builder
from krakenpy.proxy.types import Request


@pytest.fixture(scope="module")
def sample(probe_pb: Path) -> Any:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(probe_pb.read_bytes()).file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("probe.Sample"))


def _build(sample: Any, *, body: bytes = b"", query: dict[str, list[str]] | None = None, **options: Any) -> Any:
    opts = BackendOptions(service="probe.Probe", method="Echo", use_request_body=True, **options)
    return message_builder(opts, sample, {})(Request("POST", "/", {}, {}, query or {}, body))


def _nested(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def test_grpc_input_json_valued_fields_take_any_json(sample) -> None:
    message = _build(sample, body=b'{"attributes": {"a": [1, {"b": null}]}, "value": "x", "items": [true, 2]}')
    assert message.attributes["a"][1]["b"] is None
    assert message.value.string_value == "x" and list(message.items) == [True, 2.0]


@pytest.mark.parametrize(
    "body",
    [
        b'{"attributes": 5}',  # a Struct is an object
        b'{"items": {"a": 1}}',  # a ListValue is an array
        b'{"attributes": ' + _nested(150) + b"}",  # past protobuf's recursion limit
        b'{"value": {"a": ' + _nested(150) + b"}}",
    ],
)
def test_grpc_input_json_valued_fields_of_the_wrong_shape_are_input_errors(sample, body) -> None:
    with pytest.raises(InputError):
        _build(sample, body=body)


def test_grpc_input_struct_depth_counts_the_body_around_it(sample) -> None:
    def body(messages: int) -> bytes:  # a Struct 20 levels deep under ``messages`` nested Nodes
        return b'{"node": ' + b'{"child": ' * messages + b'{"extra": ' + _nested(20) + b"}" * (messages + 2)

    assert _build(sample, body=body(2)).node.child.child.extra["a"]["a"]["a"] is not None
    with pytest.raises(InputError):  # 40 messages, then the Struct: more than 64 levels in all
        _build(sample, body=body(40))


@pytest.mark.parametrize("text", ["!!!not base64!!!", "AQ+_", "AQ ID", "AQ==AQ", "A"])
def test_grpc_input_bytes_refuse_what_is_not_base64(sample, text) -> None:
    with pytest.raises(InputError):
        _build(sample, query={"blob": [text]})
    with pytest.raises(InputError):
        _build(sample, body=b'{"blob": "' + text.encode() + b'"}')


def test_grpc_input_bytes_take_either_alphabet_with_or_without_padding(sample) -> None:
    for text in ("+/8=", "+/8", "-_8", "-_8=", "AQID"):
        padded = text + "=" * (-len(text) % 4)
        expected = base64.b64decode(padded, altchars=b"-_" if "-" in text else None)
        assert _build(sample, query={"blob": [text]}).blob == expected


def test_grpc_input_float32_overflow_is_an_input_error(sample) -> None:
    for body in (b'{"ratio": 1e300}', b'{"ratio": "1e39"}', b'{"ratio": -4e38}'):
        with pytest.raises(InputError):
            _build(sample, body=body)
    with pytest.raises(InputError):
        _build(sample, query={"ratio": ["1e39"]})
    assert _build(sample, body=b'{"total": 1e300}').total == 1e300  # a double holds it
    assert _build(sample, body=b'{"ratio": 3.4e38, "total": "Infinity"}').total == float("inf")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_grpc_input_timestamp_outside_protobuf_years_is_an_input_error(sample, text) -> None:
    with pytest.raises(InputError):
        _build(sample, query={"at": [text]})


def test_grpc_input_timestamp_range_ends_are_accepted(sample) -> None:
    assert _build(sample, query={"at": ["0001-01-01T00:00:00Z"]}).at.seconds == -62135596800
    assert _build(sample, query={"at": ["9999-12-31T23:59:59Z"]}).at.seconds == 253402300799


def test_grpc_input_dotted_path_nested_too_deeply_is_an_input_error(sample) -> None:
    assert _build(sample, query={"node.child.child.name": ["x"]}).node.child.child.name == "x"
    with pytest.raises(InputError):
        _build(sample, query={"node." + "child." * 70 + "name": ["x"]})
    # a long path that matches no field is ignored, as every unknown name is
    assert not _build(sample, query={"nope." * 70 + "name": ["x"]}).HasField("node")


@pytest.mark.parametrize("text", ["87660001h", "-87660001h", "315576000001s", "1e400h"])
def test_grpc_input_duration_out_of_range_is_an_input_error(sample, text) -> None:
    # Go's form stops at Go's own limit (~292 years), protobuf's at 10000 years
    assert _build(sample, query={"span": ["2562047h"]}).span.seconds == 2562047 * 3600
    assert _build(sample, query={"span": ["315576000000s"]}).span.seconds == 315_576_000_000
    with pytest.raises(InputError):
        _build(sample, query={"span": [text]})
