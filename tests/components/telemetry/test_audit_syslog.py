"""``telemetry/audit`` ``sink: "syslog"``: RFC 5424 messages carrying the records byte for byte, to
real receivers on 127.0.0.1 (UDP from a real gateway, a unix datagram socket, TCP with octet
counting through a collector restart and an outage, TLS with a client certificate), and ``check``'s
errors at their JSON paths."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from krakenpy.telemetry.audit import AuditTrail, verify_chain, verify_trail
from krakenpy.telemetry.auditsink import SinkError
from krakenpy.telemetry.auditsyslog import FACILITIES, SyslogSink, SyslogTarget, parse_target, tls_context
from tests.cli_gateway import audited_deny_config, check_config, gateway_process
from tests.conftest import free_port
from tests.server.certs import Authority
from tests.telemetry.trail_records import record_deny

#: ``<PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID - MSG``
_MESSAGE = re.compile(rb"<(\d+)>1 (\S+) (\S+) krakenpy (\d+) (\S+) - (\{.*\})\Z", re.S)


def _parsed(message: bytes) -> tuple[int, bytes, bytes, dict[str, Any], bytes]:
    """PRI, timestamp, MSGID, the record and its line, of one message."""
    match = _MESSAGE.match(message)
    assert match is not None, message[:200]
    return int(match[1]), match[2], match[5], orjson.loads(match[6]), match[6]


async def test_a_real_gateway_sends_each_record_as_an_rfc5424_datagram(tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    port = free_port()
    config = audited_deny_config(
        tmp_path,
        port,
        {
            "sink": "syslog",
            "url": f"udp://127.0.0.1:{receiver.getsockname()[1]}",
            "facility": "local3",
        },
    )
    try:
        with gateway_process(config, port=port):
            async with aiohttp.ClientSession() as http:
                for _ in range(3):
                    async with http.get(f"http://127.0.0.1:{port}/x") as resp:
                        assert resp.status == 403
            messages = [receiver.recv(65536) for _ in range(3)]
    finally:
        receiver.close()
    lines = []
    for message in messages:
        pri, ts, msgid, record, line = _parsed(message)
        assert pri == FACILITIES["local3"] * 8 + 4  # an enforced deny: warning
        assert ts == record["ts"].encode() and msgid == record["event"].encode()
        assert record["reason"] == "lua_custom_error" and record["decision"] == "deny"
        lines.append(line)
    assert verify_chain(lines)  # the MSGs are the records as chained, byte for byte
    # as a daemon stores them: the RFC 5424 message, or a traditional file line, a header each
    stored = tmp_path / "stored.log"
    stored.write_bytes(
        messages[0] + b"\n" + b"Dec  6 12:00:00 vm krakenpy[42]: " + lines[1] + b"\n" + messages[2] + b"\n"
    )
    verify = [sys.executable, "-m", "krakenpy", "verify-trail", str(stored)]
    assert subprocess.run(verify, capture_output=True, timeout=60).returncode == 1  # the headers are no records
    checked = subprocess.run([*verify, "--strip-prefix"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and checked.stdout.startswith("intact: 3 records in 1 chain"), checked


async def test_a_unix_datagram_socket_gets_the_records(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(5)
    target = parse_target(f"unix://{path}")
    assert not isinstance(target, str)
    trail = AuditTrail(SyslogSink(target), service="gw", config_hash="c")
    record_deny(trail)
    record_deny(trail, enforced=False)  # a shadow rule's deny: notice
    await trail.drain()
    await trail.sink.close()
    got = [_parsed(receiver.recv(65536)) for _ in range(2)]
    receiver.close()
    assert [pri for pri, *_ in got] == [FACILITIES["authpriv"] * 8 + 4, FACILITIES["authpriv"] * 8 + 5]
    assert verify_chain([line for *_, line in got])


async def test_a_datagram_too_large_is_lost_and_counted() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    sink = SyslogSink(parse_target(f"udp://127.0.0.1:{receiver.getsockname()[1]}"))  # type: ignore[arg-type]
    with pytest.raises(SinkError) as caught:
        await sink.write([b'{"pad":"' + b"x" * 70_000 + b'"}\n', b'{"ok":1}\n'])
    await sink.close()
    receiver.settimeout(5)
    assert caught.value.lost == 1 and receiver.recv(65536).endswith(b'{"ok":1}')
    receiver.close()


class _Collector:
    """A TCP (or TLS) syslog collector on 127.0.0.1 reading octet-counted frames."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.frames: list[bytes] = []
        self.connections = 0
        self.peers: list[Any] = []
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        self.peers.append(writer.get_extra_info("peercert"))
        try:
            while True:
                size = int((await reader.readuntil(b" "))[:-1])
                self.frames.append(await reader.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def wait_for(self, n: int) -> None:
        for _ in range(500):
            if len(self.frames) >= n:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.frames)} frames of {n}")


async def _closed(sink: SyslogSink) -> None:
    """Until the sink's connection has seen the collector's end of it."""
    for _ in range(500):
        if sink.connection_gone():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the connection's end was never seen")


async def test_tcp_octet_counting_survives_a_collector_restart_and_an_outage() -> None:
    collector = _Collector()
    await collector.start()
    sink = SyslogSink(parse_target(f"tcp://127.0.0.1:{collector.port}"))  # type: ignore[arg-type]
    trail = AuditTrail(sink, service="gw", config_hash="c")
    record_deny(trail, 3)
    await trail.drain()
    await collector.wait_for(3)

    # the collector drops the connection and a batch is written at once, into the closing connection
    # (taken or not: TCP syslog has no acknowledgement); once the end is seen, the next batch goes on
    # a new connection with that batch again ahead of it
    for writer in collector.writers:
        writer.close()
    record_deny(trail, 2)
    await trail.drain()
    await _closed(sink)
    record_deny(trail)
    await trail.drain()
    await collector.wait_for(6)
    assert collector.connections == 2

    # down for a while: the batch waits (retried with back-off), then arrives
    port = collector.port
    await collector.stop()
    await _closed(sink)
    record_deny(trail)
    draining = asyncio.ensure_future(trail.drain())
    await asyncio.sleep(0.3)
    assert not draining.done()  # no collector: the batch is held, not written off
    taken = len(collector.frames)
    await collector.start(port)
    await asyncio.wait_for(draining, 10)
    await collector.wait_for(taken + 1)
    await trail.stop()
    await collector.stop()

    lines = [_parsed(frame)[4] for frame in collector.frames]
    seqs = {orjson.loads(line)["seq"] for line in lines}
    assert seqs == {1, 2, 3, 4, 5, 6, 7}, sorted(seqs)
    assert trail.dropped == 0 and verify_trail(lines)  # a batch sent twice is skipped as repeated


async def test_tls_with_a_client_certificate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ca = Authority(tmp_path)
    server, client = ca.issue("127.0.0.1"), ca.issue("gateway", client=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.path))
    context.load_cert_chain(server.cert, server.key)
    context.verify_mode = ssl.CERT_REQUIRED
    collector = _Collector(context)
    await collector.start()
    tls = tls_context(str(ca.path), str(client.cert), str(client.key))
    assert isinstance(tls, ssl.SSLContext)
    sink = SyslogSink(parse_target(f"tls://127.0.0.1:{collector.port}"), FACILITIES["auth"], tls)  # type: ignore[arg-type]
    trail = AuditTrail(sink, service="gw", config_hash="c")
    record_deny(trail, 2)
    await trail.drain()
    await collector.wait_for(2)
    await trail.stop()
    assert collector.peers[0]["subject"] == ((("commonName", "gateway"),),)
    assert [_parsed(frame)[0] for frame in collector.frames] == [FACILITIES["auth"] * 8 + 4] * 2

    # a collector whose certificate another CA signed: nothing is sent to it, the batch is held
    (tmp_path / "other").mkdir()
    other = tls_context(str(Authority(tmp_path / "other", "Other CA").path), str(client.cert), str(client.key))
    assert isinstance(other, ssl.SSLContext)
    wrong = SyslogSink(parse_target(f"tls://127.0.0.1:{collector.port}"), tls=other)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, "krakenpy.audit"), pytest.raises(TimeoutError):
        await asyncio.wait_for(wrong.write([b'{"seq":1}\n']), 1.0)
    await wrong.close()
    await collector.stop()
    assert len(collector.frames) == 2
    assert any("CERTIFICATE_VERIFY_FAILED" in r.getMessage() for r in caplog.records), caplog.text


def _check(tmp_path: Path, audit: dict[str, Any]) -> Any:
    doc = {"version": 3, "extra_config": {"telemetry/audit": audit}, "endpoints": []}
    config = tmp_path / "krakend.json"
    config.write_text(json.dumps(doc))
    return check_config(config)


@pytest.mark.parametrize(
    ("audit", "errors"),
    [
        ({"sink": "syslog", "url": "tcp://collector.example"},
         ["extra_config.telemetry/audit.url: syslog url 'tcp://collector.example' needs a host and a port (1-65535)"]),
        ({"sink": "syslog", "url": "http://collector.example:514"},
         ["extra_config.telemetry/audit.url: a syslog url is udp://host:port, tcp://host:port, tls://host:port or "
          "unix:///path, not 'http://collector.example:514'"]),
        ({"sink": "syslog", "url": "udp://127.0.0.1:514", "ca_file": "/nonexistent/ca.pem"},
         ["extra_config.telemetry/audit.ca_file: applies to a tls:// syslog url only",
          "extra_config.telemetry/audit.ca_file: cannot read /nonexistent/ca.pem: No such file or directory"]),
        ({"sink": "syslog", "facility": "local9"},
         ["extra_config.telemetry/audit.facility: 'local9' is not one of ['kern', 'user', 'mail', 'daemon', 'auth', "
          "'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'audit', 'alert', 'clock', 'local0', "
          "'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7']"]),
        ({"sink": "file", "path": "a.log", "facility": "auth"},
         ["extra_config.telemetry/audit.facility: applies to sink 'syslog' only"]),
        # a login in the url was taken as part of the host name: accepted, never connected
        ({"sink": "syslog", "url": "tcp://user:s3cretpw@127.0.0.1:601"},
         ["extra_config.telemetry/audit.url: a tcp syslog url takes no user or password before its host "
          "(syslog has no login)"]),
    ],
)  # fmt: skip
def test_check_names_each_syslog_problem_at_its_path(tmp_path: Path, audit: dict[str, Any], errors: list[str]) -> None:
    out = _check(tmp_path, audit)
    assert out.returncode == 1
    got = [line.removeprefix("ERROR: ") for line in out.stderr.splitlines() if line.startswith("ERROR: ")]
    assert got == errors, out.stderr


def test_check_refuses_a_ca_file_that_is_no_certificate_and_a_lone_cert_file(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    out = _check(tmp_path, {"sink": "syslog", "url": "tls://127.0.0.1:6514", "ca_file": str(junk)})
    assert out.returncode == 1 and "ERROR: extra_config.telemetry/audit.ca_file: ca_file " in out.stderr, out.stderr
    lone = _check(tmp_path, {"sink": "syslog", "url": "tls://127.0.0.1:6514", "cert_file": str(junk)})
    assert lone.returncode == 1
    assert "ERROR: extra_config.telemetry/audit.key_file: cert_file and key_file go together" in lone.stderr


def test_check_refuses_an_encrypted_client_key_without_asking_for_its_passphrase(tmp_path: Path) -> None:
    """OpenSSL's default asked for the passphrase on the terminal: ``check`` and ``run`` stopped at
    "Enter PEM pass phrase:" (for ever in a terminal; the server's own ``tls`` keys were refused)."""
    ca = Authority(tmp_path)
    client = ca.issue("gateway", client=True, password=b"secret")
    audit = {"sink": "syslog", "url": "tls://127.0.0.1:6514", "ca_file": str(ca.path)}
    out = _check(tmp_path, {**audit, "cert_file": str(client.cert), "key_file": str(client.key)})
    assert out.returncode == 1 and "pass phrase" not in out.stdout + out.stderr, out.stderr
    assert (
        f"ERROR: extra_config.telemetry/audit.cert_file: cert_file {client.cert} and key_file {client.key}: "
        "not a certificate and its key (encrypted private keys are not supported)"
    ) in out.stderr, out.stderr


def test_check_warns_when_the_syslog_socket_is_not_there(tmp_path: Path) -> None:
    out = _check(tmp_path, {"sink": "syslog", "url": f"unix://{tmp_path}/none.sock"})
    assert out.returncode == 0, out.stderr
    assert f"extra_config.telemetry/audit.url: no syslog socket at {tmp_path}/none.sock" in out.stderr


def test_check_warns_when_the_syslog_socket_takes_no_datagrams(tmp_path: Path) -> None:
    """The sink writes datagrams: a stream socket (some systems' ``/dev/log``) refused every batch
    (EPROTOTYPE) while ``check`` passed without a word, and the queue filled until records dropped."""
    path = str(tmp_path / "stream.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    try:
        out = _check(tmp_path, {"sink": "syslog", "url": f"unix://{path}"})
    finally:
        listener.close()
    assert out.returncode == 0, out.stderr
    assert f"extra_config.telemetry/audit.url: {path} is a stream socket: " in out.stderr, out.stderr
    datagram = str(tmp_path / "dgram.sock")
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(datagram)
    try:
        quiet = _check(tmp_path, {"sink": "syslog", "url": f"unix://{datagram}"})
        daemon.settimeout(0.2)
        with pytest.raises(TimeoutError):
            daemon.recv(1)  # check sent the daemon nothing
    finally:
        daemon.close()
    assert quiet.returncode == 0 and "WARNING" not in quiet.stderr, quiet.stderr


def test_the_local_daemon_is_the_first_path_that_is_a_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``/var/run/log`` is a directory on systemd hosts: a container without ``/dev/log`` named it as
    the daemon's socket (a ``check`` warning about ``/var/run/log``, every record sent there refused)."""
    from krakenpy.telemetry import syslog

    missing, folder, sock = tmp_path / "dev-log", tmp_path / "run-log", tmp_path / "syslog.sock"
    folder.mkdir()
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(str(sock))
    monkeypatch.delenv("KRAKENPY_SYSLOG_ADDRESS", raising=False)
    try:
        monkeypatch.setattr(syslog, "_PATHS", (str(missing), str(folder), str(sock)))
        assert syslog.default_address() == str(sock)
        assert parse_target("") == SyslogTarget("unix", str(sock))
        monkeypatch.setattr(syslog, "_PATHS", (str(missing), str(folder)))
        assert syslog.default_address() == str(missing)  # none there: the first, as the warning names it
    finally:
        daemon.close()


def test_check_refuses_an_empty_fingerprint_key_env_as_auth_api_keys_does(tmp_path: Path) -> None:
    """``"fingerprint_key_env": ""`` named no variable: auth/api-keys' schema refused it while the audit's
    took it in silence (and the fingerprints then came from a random key per run, unsaid)."""
    out = _check(tmp_path, {"fingerprint_key_env": ""})
    assert out.returncode == 1
    assert "ERROR: extra_config.telemetry/audit.fingerprint_key_env: '' should be non-empty" in out.stderr, out.stderr


@pytest.mark.parametrize("value", [None, ""])
def test_check_says_an_unset_fingerprint_key_env_gives_a_key_per_run_not_per_process(
    tmp_path: Path, value: str | None
) -> None:
    """The warning said "a random key per process", so an operator read every worker's fingerprints as
    different; the key is drawn once per run before the workers fork (they share it, as the README
    and auth/api-keys' own warning say). An empty variable is "not set or empty", as api-keys says."""
    config = tmp_path / "krakend.json"
    audit = {"fingerprint_key_env": "AUDIT_FP_DOCS33"}
    config.write_text(json.dumps({"version": 3, "extra_config": {"telemetry/audit": audit}}))
    env = {} if value is None else {"AUDIT_FP_DOCS33": value}
    out = check_config(config, env=env)
    assert out.returncode == 0, out.stderr
    warning = next(line for line in out.stderr.splitlines() if "fingerprint_key_env" in line)
    at = "WARNING: extra_config.telemetry/audit.fingerprint_key_env: "
    assert warning.startswith(at + "environment variable AUDIT_FP_DOCS33 is not set or empty"), warning
    assert "random key per run (its workers share it)" in warning and "per process" not in warning, warning


async def test_the_batch_a_closing_connection_took_is_sent_again_after_an_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the collector goes away (connection and listener) just as a batch is written into the closing
    # connection; the next batch finds no collector for a try or more: once one is back, the batch
    # the dead connection took is sent again ahead of it (it was forgotten after the first failed try)
    collector = _Collector()
    await collector.start()
    sink = SyslogSink(parse_target(f"tcp://127.0.0.1:{collector.port}"))  # type: ignore[arg-type]
    trail = AuditTrail(sink, service="gw", config_hash="c")
    record_deny(trail, 2)
    await trail.drain()
    await collector.wait_for(2)
    port = collector.port
    await collector.stop()
    record_deny(trail)  # seq 3: into the closing connection, never read
    await trail.drain()
    await _closed(sink)
    caplog.set_level(logging.WARNING, "krakenpy.audit")
    record_deny(trail)  # seq 4: no collector
    draining = asyncio.ensure_future(trail.drain())
    for _ in range(500):
        if any("did not take a batch" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the batch was never refused")
    back = _Collector()
    await back.start(port)
    await asyncio.wait_for(draining, 10)
    await back.wait_for(2)
    await trail.stop()
    await back.stop()
    seqs = [orjson.loads(_parsed(frame)[4])["seq"] for frame in back.frames]
    assert seqs == [3, 4]
