"""TLS contexts on real loopback handshakes: SNI choice, mutual TLS, versions, file problems at their
JSON paths, and certificates replaced in place by a reload."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from krakenpy.errors import ConfigError
from krakenpy.server.tls import TlsOptions, parse_tls
from krakenpy.server.tlscontext import TlsListener, check_tls
from tests.server.certs import Authority, Pair


def _options(raw: dict[str, Any]) -> TlsOptions:
    options, errors, _ = parse_tls(raw)
    assert errors == [] and options is not None
    return options


def _keys(*pairs: Pair) -> list[dict[str, str]]:
    return [{"public_key": str(p.cert), "private_key": str(p.key)} for p in pairs]


Handshake = Callable[..., Awaitable[x509.Certificate]]


@pytest.fixture
async def handshake() -> AsyncIterator[Callable[[TlsListener], Awaitable[Handshake]]]:
    """Serve a listener on 127.0.0.1; ``shake(name, ...)`` returns the certificate the server sent."""
    servers: list[asyncio.Server] = []

    async def start(listener: TlsListener) -> Handshake:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.read(1))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=listener.context)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]

        async def shake(
            name: str | None,
            *,
            cert: Pair | None = None,
            ca: Path | None = None,
            version: ssl.TLSVersion | None = None,
        ) -> x509.Certificate:
            client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            client.check_hostname = False
            if ca is None:
                client.verify_mode = ssl.CERT_NONE
            else:
                client.load_verify_locations(cafile=ca)
            if cert is not None:
                client.load_cert_chain(cert.cert, cert.key)
            if version is not None:
                client.maximum_version = version
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname=name)
            try:
                der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
                writer.write(b"x")
                if await reader.read(1) != b"x":  # with TLS 1.3, a refused client certificate shows here
                    raise ConnectionResetError("closed by the server")
            finally:
                writer.close()
            return x509.load_der_x509_certificate(der)

        return shake

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.rfc4514_string())


async def test_tlscontext_picks_the_certificate_by_sni_else_the_first(tmp_path: Path, handshake: Any) -> None:
    ca = Authority(tmp_path)
    api = ca.issue("api.test")
    wild = ca.issue("*.apps.test")
    shake = await handshake(TlsListener(_options({"keys": _keys(api, wild)})))
    assert _cn(await shake("shop.apps.test", ca=ca.path)) == "CN=*.apps.test"
    assert _cn(await shake("API.test")) == "CN=api.test"
    assert _cn(await shake("other.test")) == "CN=api.test"
    assert _cn(await shake(None)) == "CN=api.test"
    assert _cn(await shake("a.b.apps.test")) == "CN=api.test"  # a wildcard covers one label


async def test_tlscontext_serves_tls13_only_by_default(tmp_path: Path, handshake: Any) -> None:
    pair = Authority(tmp_path).issue("api.test")
    shake = await handshake(TlsListener(_options({"keys": _keys(pair)})))
    await shake("api.test")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await shake("api.test", version=ssl.TLSVersion.TLSv1_2)
    shake12 = await handshake(TlsListener(_options({"keys": _keys(pair), "min_version": "TLS12"})))
    await shake12("api.test", version=ssl.TLSVersion.TLSv1_2)


async def test_tlscontext_mtls_accepts_only_clients_signed_by_a_listed_ca(tmp_path: Path, handshake: Any) -> None:
    ca = Authority(tmp_path)
    other = Authority(tmp_path, "Other CA")
    server = ca.issue("api.test")
    raw = {"keys": _keys(server), "enable_mtls": True, "ca_certs": [str(ca.path)], "disable_system_ca_pool": True}
    shake = await handshake(TlsListener(_options(raw)))
    await shake("api.test", cert=ca.issue("alice", client=True), ca=ca.path)
    for cert in (None, other.issue("mallory", client=True)):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await shake("api.test", cert=cert, ca=ca.path)


async def test_tlscontext_apply_replaces_certificates_for_new_handshakes(tmp_path: Path, handshake: Any) -> None:
    ca = Authority(tmp_path)
    listener = TlsListener(_options({"keys": _keys(ca.issue("old.test"))}))
    shake = await handshake(listener)
    assert _cn(await shake(None)) == "CN=old.test"
    listener.apply(_options({"keys": _keys(ca.issue("new.test"))}))
    assert _cn(await shake(None)) == "CN=new.test"
    with pytest.raises(ConfigError):  # unusable files: the current certificates stay
        listener.apply(_options({"keys": [{"public_key": str(tmp_path / "gone.crt"), "private_key": "k"}]}))
    assert _cn(await shake(None)) == "CN=new.test"


def test_tlscontext_check_names_every_file_problem_at_its_path(tmp_path: Path) -> None:
    ca = Authority(tmp_path)
    good, other = ca.issue("a.test"), ca.issue("b.test")
    locked = ca.issue("c.test", password=b"secret")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    raw = {
        "keys": [
            {"public_key": str(good.cert), "private_key": str(other.key)},
            {"public_key": str(tmp_path / "missing.crt"), "private_key": str(good.key)},
            {"public_key": str(garbage), "private_key": str(good.key)},
            {"public_key": str(locked.cert), "private_key": str(locked.key)},
        ],
        "enable_mtls": True,
        "ca_certs": [str(tmp_path / "no-ca.pem")],
    }
    errors, _ = check_tls(_options(raw))
    assert [str(e) for e in errors] == [
        f"tls.ca_certs[0]: cannot read {tmp_path / 'no-ca.pem'}: No such file or directory",
        f"tls.keys[0].private_key: {other.key} does not match the certificate {good.cert}",
        f"tls.keys[1].public_key: cannot read {tmp_path / 'missing.crt'}: No such file or directory",
        f"tls.keys[2].public_key: {garbage}: not a PEM certificate",
        f"tls.keys[3].private_key: {locked.key}: encrypted private keys are not supported",
    ]
    assert "secret" not in " ".join(str(e) for e in errors)


def test_tlscontext_check_warns_about_an_expired_certificate(tmp_path: Path) -> None:
    expired = Authority(tmp_path).issue("old.test", days=-1)
    errors, warnings = check_tls(_options({"keys": _keys(expired)}))
    assert errors == []
    assert [w.path for w in warnings] == ["tls.keys[0].public_key"]
    assert "certificate expired on" in warnings[0].message
