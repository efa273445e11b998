"""backend/grpc over TLS: a real grpc.aio server with a certificate from a test CA, client certificates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError
from krakenpy.gateway import build_gateway
from krakenpy.grpc.channels import channel_spec, channels_of
from krakenpy.grpc.options import parse_backend_options
from tests.grpc.conftest import FlightsServer, flights_handler, grpc_backend, grpc_config
from tests.server.certs import Authority


@pytest.fixture
async def tls_server(tmp_path: Path, flights_pb: Path) -> AsyncIterator[tuple[FlightsServer, Authority, Any]]:
    """The flights service on 127.0.0.1 over TLS, asking for a client certificate of the same CA."""
    ca = Authority(tmp_path)
    pair = ca.issue("localhost", names=("127.0.0.1", "localhost"))
    credentials = grpc.ssl_server_credentials(
        [(pair.key.read_bytes(), pair.cert.read_bytes())],
        root_certificates=ca.path.read_bytes(),
        require_client_auth=True,
    )
    server = aio.server()
    port = server.add_secure_port("127.0.0.1:0", credentials)
    seen = FlightsServer(target=f"127.0.0.1:{port}")
    server.add_generic_rpc_handlers((flights_handler(flights_pb, seen),))
    await server.start()
    try:
        yield seen, ca, ca.issue("gateway", client=True)
    finally:
        await server.stop(grace=None)


def _doc(pb: Path, host: str, client_tls: dict[str, Any]) -> dict[str, Any]:
    backend = grpc_backend(host, grpc={"client_tls": client_tls})
    backend["extra_config"]["backend/http"] = {"return_error_code": True}
    return grpc_config([str(pb)], [{"endpoint": "/flights", "backend": [backend]}])


async def test_grpc_tls_with_ca_and_client_certificate(gateway, tls_server, flights_pb) -> None:
    server, ca, client_pair = tls_server
    tls = {
        "ca_certs": [str(ca.path)],
        "client_certs": [{"certificate": str(client_pair.cert), "private_key": str(client_pair.key)}],
    }
    client = await gateway(_doc(flights_pb, server.target, tls))  # a bare host: TLS because of ca_certs
    resp = await client.get("/flights")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["total_count"] == 1


async def test_grpc_tls_without_client_certificate_fails(gateway, tls_server, flights_pb) -> None:
    server, ca, _ = tls_server
    client = await gateway(_doc(flights_pb, f"https://{server.target}", {"ca_certs": [str(ca.path)]}))
    assert (await client.get("/flights")).status == 503
    assert server.metadata == []


async def test_grpc_tls_unknown_ca_fails(gateway, tls_server, flights_pb) -> None:
    server, _, client_pair = tls_server
    tls = {"client_certs": [{"certificate": str(client_pair.cert), "private_key": str(client_pair.key)}]}
    client = await gateway(_doc(flights_pb, server.target, tls))  # the system pool does not know the CA
    assert (await client.get("/flights")).status == 503


async def test_grpc_insecure_connections_is_plaintext(gateway, flights_server, flights_pb) -> None:
    # allow_insecure_connections against a plaintext server, as KrakenD's playground does
    client = await gateway(_doc(flights_pb, f"https://{flights_server.target}", {"allow_insecure_connections": True}))
    assert (await client.get("/flights")).status == 200


async def test_grpc_tls_unreadable_ca_is_a_config_error(gateway, flights_pb, tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        await gateway(_doc(flights_pb, "127.0.0.1:4242", {"ca_certs": [str(tmp_path / "nope.pem")]}))
    assert [i.path for i in caught.value.issues] == [
        "endpoints[0].backend[0].extra_config.backend/grpc.client_tls.ca_certs"
    ]


async def test_grpc_backends_with_the_same_tls_settings_share_channels(tmp_path, flights_pb) -> None:
    ca = Authority(tmp_path)
    gateway = await build_gateway(build_service(_doc(flights_pb, "127.0.0.1:4242", {})), serving=False)
    raw = {"client_tls": {"ca_certs": [str(ca.path)]}}
    one, two = (parse_backend_options(raw, url_pattern="/a.B/C", path=p, owner=p) for p in ("x", "y"))
    first = channel_spec(one, False, gateway.resources, "x")
    assert channel_spec(two, False, gateway.resources, "y") is first
    assert channel_spec(two, True, gateway.resources, "y") is first  # an https:// host: TLS either way
    bare = parse_backend_options({}, url_pattern="/a.B/C", path="z", owner="z")
    plain = channel_spec(bare, False, gateway.resources, "z")
    assert plain.credentials is None and first.credentials is not None
    channels = channels_of(gateway.resources)
    assert channels.get("127.0.0.1:4242", first) is channels.get("127.0.0.1:4242", first)
    await gateway.close()
