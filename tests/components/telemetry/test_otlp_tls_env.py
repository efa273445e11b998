"""``OTEL_EXPORTER_OTLP_CERTIFICATE``, ``_CLIENT_CERTIFICATE`` and ``_CLIENT_KEY`` (and the per-signal
forms) for OTLP/HTTP exports to an https collector: a real gateway exporting to a real aiohttp
receiver on 127.0.0.1 behind TLS that asks for a client certificate, all signed by a CA made here;
and the real ``check`` naming a file it cannot use."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from krakenpy.telemetry.export import EXPORTER
from tests.cli_gateway import check_config
from tests.components.telemetry.conftest import doc, recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.server.certs import Authority, Pair
from tests.server.process import write_json


class Pki:
    def __init__(self, folder: Path) -> None:
        self.ca = Authority(folder)
        self.server = self.ca.issue("collector", names=("127.0.0.1",))
        self.client = self.ca.issue("gateway", client=True)

    def server_context(self) -> ssl.SSLContext:
        """The collector's: its certificate, and a client certificate required (mutual TLS)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca.path))
        context.load_cert_chain(self.server.cert, self.server.key)
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def env(self, signal: str = "", client: Pair | None = None) -> dict[str, str]:
        client = client or self.client
        return {
            f"OTEL_EXPORTER_OTLP_{signal}CERTIFICATE": str(self.ca.path),
            f"OTEL_EXPORTER_OTLP_{signal}CLIENT_CERTIFICATE": str(client.cert),
            f"OTEL_EXPORTER_OTLP_{signal}CLIENT_KEY": str(client.key),
        }


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


async def _exported(served: Any, upstream: Any, pki: Pki) -> Receiver:
    """The receiver's catch after one request through a gateway exporting to it over https."""
    receiver = Receiver()
    collector = TestServer(receiver.app(), host="127.0.0.1")
    await collector.start_server(ssl=pki.server_context())
    try:
        base = await upstream(recording_app([]))
        exporter = {"name": "tls", "host": "https://127.0.0.1", "port": collector.port, "use_http": True}
        s = await served(
            doc([{"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}],
                extra_config={"telemetry/opentelemetry": {"exporters": {"otlp": [exporter]}}})
        )  # fmt: skip
        assert (await s.client.get("/a")).status == 200
        await s.gateway.resources.state[EXPORTER].flush()
    finally:
        await collector.close()
    return receiver


@pytest.mark.parametrize("signal", ["", "TRACES_"])
async def test_spans_reach_a_mutual_tls_collector_with_the_environments_files(
    served: Any, upstream: Any, pki: Pki, monkeypatch: pytest.MonkeyPatch, signal: str
) -> None:
    """The CA file verifies the collector (its certificate is no system root's) and the client pair
    answers its request for a certificate; the traces' own variables alone do it for spans."""
    for name, value in pki.env(signal).items():
        monkeypatch.setenv(name, value)
    receiver = await _exported(served, upstream, pki)
    assert receiver.spans(), "no span reached the TLS collector"


async def test_without_the_client_pair_the_collector_refuses(
    served: Any, upstream: Any, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CA alone: the collector is verified but refuses the gateway (no client certificate), so
    the pair above is what got the spans in; the metrics' variables do not serve the traces."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(pki.ca.path))
    for name, value in pki.env("METRICS_").items():
        monkeypatch.setenv(name, value)
    receiver = await _exported(served, upstream, pki)
    assert not receiver.spans()


def _doc(exporter: dict[str, Any]) -> dict[str, Any]:
    return doc([], extra_config={"telemetry/opentelemetry": {"exporters": {"otlp": [exporter]}}})


def test_check_names_the_tls_variables_it_cannot_use(tmp_path: Path, pki: Pki) -> None:
    exporter = {"name": "tls", "host": "https://collector.example", "port": 4318, "use_http": True}
    config = write_json(tmp_path / "krakend.json", _doc(exporter))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    bad = {
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(tmp_path / "missing.pem"),
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": str(pki.client.cert),
        "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE": str(tmp_path / "junk.pem"),
    }
    done = check_config(config, env=bad)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    assert f"OTEL_EXPORTER_OTLP_CERTIFICATE='{tmp_path}/missing.pem' cannot be read (No such file or directory)" in out
    without = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE (or the variable without TRACES_) is set without its key"
    assert without in out, out
    assert f"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE='{tmp_path}/junk.pem' holds no CA certificate" in out, out
    junk = str(tmp_path / "junk.pem")
    pair = check_config(config, env={**pki.env(), "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY": junk})
    assert (
        f"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE='{pki.client.cert}' and OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY='{junk}' "
        "are not a PEM certificate and its key"
    ) in pair.stdout + pair.stderr, pair.stderr
    quiet = check_config(config, env=pki.env())
    assert "OTEL_EXPORTER_OTLP" not in quiet.stdout + quiet.stderr


def test_an_encrypted_client_key_is_left_out_without_asking_for_its_passphrase(tmp_path: Path, pki: Pki) -> None:
    """OpenSSL's default asked for the passphrase on the terminal: ``check`` and ``run`` stopped at
    "Enter PEM pass phrase:" (for ever in a terminal)."""
    exporter = {"name": "tls", "host": "https://collector.example", "port": 4318, "use_http": True}
    config = write_json(tmp_path / "krakend.json", _doc(exporter))
    locked = pki.ca.issue("locked", client=True, password=b"secret")
    done = check_config(config, env=pki.env(client=locked))
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "pass phrase" not in out and "Traceback" not in out, out
    assert (
        f"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE='{locked.cert}' and OTEL_EXPORTER_OTLP_CLIENT_KEY='{locked.key}' "
        "are not a PEM certificate and its key (encrypted private keys are not supported): no client certificate"
    ) in out, out


def test_a_plaintext_exporter_reads_no_tls_file(tmp_path: Path) -> None:
    exporter = {"name": "plain", "host": "http://127.0.0.1", "port": 4318, "use_http": True}
    config = write_json(tmp_path / "krakend.json", _doc(exporter))
    done = check_config(config, env={"OTEL_EXPORTER_OTLP_CERTIFICATE": str(tmp_path / "missing.pem")})
    assert done.returncode == 0 and "OTEL_EXPORTER_OTLP_CERTIFICATE" not in done.stdout + done.stderr


async def test_spans_reach_a_mutual_tls_grpc_collector_with_the_environments_files(
    served: Any, upstream: Any, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KrakenD's default transport, OTLP/gRPC, with the same variables: the channel's credentials are
    the CA and the client pair (read once at start-up); without the pair the collector refuses."""
    import grpc

    got: list[bytes] = []

    async def export(request: bytes, context: Any) -> bytes:
        got.append(request)
        return b""

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": grpc.unary_unary_rpc_method_handler(export)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    credentials = grpc.ssl_server_credentials(
        [(pki.server.key.read_bytes(), pki.server.cert.read_bytes())],
        root_certificates=pki.ca.path.read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        base = await upstream(recording_app([]))
        exporter = {"name": "g", "host": "https://127.0.0.1", "port": port, "disable_metrics": True}
        endpoint = {"endpoint": "/a", "backend": [{"host": [base], "url_pattern": "/"}]}
        for env, reached in ((pki.env("METRICS_"), False), (pki.env("TRACES_"), True)):
            for name in [n for n in os.environ if n.startswith("OTEL_EXPORTER_OTLP_")]:
                monkeypatch.delenv(name)
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            got.clear()
            s = await served(
                doc([endpoint], extra_config={"telemetry/opentelemetry": {"exporters": {"otlp": [exporter]}}})
            )
            assert (await s.client.get("/a")).status == 200
            await s.gateway.resources.state[EXPORTER].flush()
            assert bool(got) is reached, env
    finally:
        await server.stop(None)


def test_a_fifo_or_a_device_as_a_tls_variable_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO nobody writes to blocked ``check`` (and ``run``) for ever in the probe that opened it."""
    exporter = {"name": "tls", "host": "https://collector.example", "port": 4318, "use_http": True}
    config = write_json(tmp_path / "krakend.json", _doc(exporter))
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    done = check_config(config, env={"OTEL_EXPORTER_OTLP_CERTIFICATE": str(fifo)})
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    assert f"OTEL_EXPORTER_OTLP_CERTIFICATE='{fifo}' cannot be read (not a regular file" in out, out
    dev = check_config(config, env={"OTEL_EXPORTER_OTLP_CERTIFICATE": "/dev/zero"})
    assert "OTEL_EXPORTER_OTLP_CERTIFICATE='/dev/zero' cannot be read (not a regular file" in dev.stdout + dev.stderr
