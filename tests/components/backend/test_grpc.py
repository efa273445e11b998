"""``backend/grpc`` options and its method at start-up: the url_pattern names a unary method of the
catalog; errors at their JSON paths. The calls themselves: tests/grpc."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway, load
from krakenpy.grpc.channels import Channels, ChannelSpec
from krakenpy.grpc.options import parse_backend_options
from tests.grpc.conftest import flights_pb, grpc_backend, grpc_config

__all__ = ["flights_pb"]  # the fixture, shared with tests/grpc

BACKEND_PATH = "endpoints[0].backend[0]"


def _doc(catalog: list[str], url_pattern: str = "/flights.Flights/FindFlight", **grpc: Any) -> dict[str, Any]:
    backend = grpc_backend("127.0.0.1:19", grpc=grpc)
    backend["url_pattern"] = url_pattern
    return grpc_config(catalog, [{"endpoint": "/f", "backend": [backend]}])


async def _build_issues(doc: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        gateway = await build_gateway(build_service(doc), serving=False)
    except ConfigError as exc:
        return [(i.path, i.message) for i in exc.issues]
    await gateway.close()
    return []


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "krakend.json"
    path.write_text(json.dumps(doc))
    return path


def _parse(raw: dict[str, Any], url_pattern: str = "/pkg.Svc/Get") -> Any:
    return parse_backend_options(raw, url_pattern=url_pattern, path="p.extra_config.backend/grpc", owner="p")


def test_grpc_backend_options_defaults() -> None:
    options = _parse({})
    assert (options.service, options.method) == ("pkg.Svc", "Get")
    assert not options.use_request_body and not options.camel_case_response and not options.remove_unset
    assert options.max_recv == 4 * 1024 * 1024 and options.idle_timeout == 0.0
    assert not options.tls.allow_insecure and not options.tls.configured


def test_grpc_backend_options_read_every_field() -> None:
    options = _parse(
        {
            "use_request_body": True,
            "disable_query_params": True,
            "input_mapping": {"lat": "a.b", "@comment": "x"},
            "header_mapping": {"X-Tenant": "CustomerId"},
            "response_naming_convention": "camelCase",
            "output_enum_as_string": True,
            "output_timestamp_as_string": True,
            "output_duration_as_string": True,
            "output_remove_unset_values": True,
            "input_assume_bytes": True,
            "max_call_recv_msg_size": 1024,
            "idle_connection_timeout": "1m30s",
            "client_tls": {"ca_certs": ["ca.pem"], "client_certs": [{"certificate": "c", "private_key": "k"}]},
        }
    )
    assert options.input_mapping == {"lat": "a.b"}
    assert options.header_mapping == {"x-tenant": "customerid"}  # metadata names are lower case
    assert options.camel_case_response and options.enum_as_string and options.remove_unset and options.assume_bytes
    assert options.max_recv == 1024 and options.idle_timeout == 90.0
    assert options.tls.configured and options.tls.ca_certs == ("ca.pem",) and options.tls.client_key == "k"


def test_grpc_backend_options_insecure_means_plaintext() -> None:
    tls = _parse({"client_tls": {"allow_insecure_connections": True, "ca_certs": ["ca.pem"]}}).tls
    assert tls.allow_insecure and not tls.configured


def test_grpc_backend_options_bad_idle_timeout_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        _parse({"idle_connection_timeout": "soon"})
    assert [i.path for i in caught.value.issues] == ["p.extra_config.backend/grpc.idle_connection_timeout"]


@pytest.mark.parametrize(
    ("url_pattern", "message"),
    [
        (
            "/flights.Flights/Nope",
            "service 'flights.Flights' has no method 'Nope' (it has: BookFlight, FindFlight, Watch)",
        ),
        ("/flights.Boats/FindFlight", "service 'flights.Boats' is not in the gRPC catalog"),
        ("/flights.Flights/Watch", "flights.Flights.Watch streams: only unary methods are supported"),
    ],
)
async def test_grpc_backend_method_must_be_in_catalog(flights_pb, url_pattern, message) -> None:
    assert await _build_issues(_doc([str(flights_pb)], url_pattern)) == [(f"{BACKEND_PATH}.url_pattern", message)]


def test_grpc_backend_url_pattern_must_name_a_method(tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(_write(tmp_path, _doc(["x.pb"], "/api/v1/flights")))
    assert [(i.path, i.message) for i in caught.value.issues] == [
        (
            f"{BACKEND_PATH}.url_pattern",
            "a gRPC backend's url_pattern names the method as /package.Service/Method, not '/api/v1/flights'",
        )
    ]


def test_grpc_backend_needs_the_catalog(tmp_path) -> None:
    doc = _doc(["x.pb"])
    del doc["extra_config"]["grpc"]
    with pytest.raises(ConfigError) as caught:
        load(_write(tmp_path, doc))
    assert [i.path for i in caught.value.issues] == [f"{BACKEND_PATH}.extra_config.backend/grpc"]


def test_grpc_backend_unknown_option_is_a_schema_error(tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(_write(tmp_path, _doc(["x.pb"], output_enums_as_strings=True)))
    assert any("output_enums_as_strings" in i.message or "output_enums" in i.path for i in caught.value.issues)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"sd": "dns", "host": ["flights.service.consul"]}, "sd"),
        ({"host": ["http://{input_headers.X-Route}:4242"], "disable_host_sanitize": True}, "host"),
    ],
)
def test_grpc_backend_hosts_are_static(tmp_path, change, where) -> None:
    doc = _doc(["x.pb"])
    doc["endpoints"][0]["input_headers"] = ["X-Route"]
    doc["endpoints"][0]["backend"][0].update(change)
    with pytest.raises(ConfigError) as caught:
        load(_write(tmp_path, doc))
    assert [i.path for i in caught.value.issues] == [f"{BACKEND_PATH}.{where}"]


def test_grpc_backend_options_only_at_keys_are_comments_in_mappings() -> None:
    options = _parse(
        {
            "input_mapping": {"_id": "id", "$filter": "filter", "#tag": "tag", "@comment": "x"},
            "header_mapping": {"_X-Tenant": "tenant", "@note": "y"},
        }
    )
    assert options.input_mapping == {"_id": "id", "$filter": "filter", "#tag": "tag"}
    assert options.header_mapping == {"_x-tenant": "tenant"}


def test_grpc_backend_options_past_c_ints_are_clamped() -> None:
    options = _parse({"idle_connection_timeout": "1000h", "max_call_recv_msg_size": 3_000_000_000})
    assert options.max_recv == 2**31 - 1
    assert round(options.idle_timeout * 1000) == 2**31 - 1  # the channels' C int option (ms)


class _FailingChannel:
    """A channel whose close fails (a real grpcio channel cannot be made to)."""

    async def close(self, grace: float | None = None) -> None:
        raise RuntimeError("cannot close")


async def test_grpc_channels_close_every_channel_even_if_one_fails() -> None:
    channels = Channels()
    spec = ChannelSpec(None, ())
    first = channels.get("127.0.0.1:1", spec)
    channels._open[("127.0.0.1:2", spec)] = _FailingChannel()  # type: ignore[assignment]
    last = channels.get("127.0.0.1:3", spec)
    with pytest.raises(RuntimeError):
        await channels.close()
    assert first.get_state() is last.get_state() is grpc.ChannelConnectivity.SHUTDOWN
