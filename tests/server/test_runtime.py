"""The production runtime through the real CLI: reloads under load, refused reloads, a killed worker, a
killed supervisor, crash loops, hostile clients, TLS and mutual TLS, the exact drain, --watch.
Loopback only; every load and every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.server.certs import Authority
from tests.server.process import Gateway, Load, SlowBackend, alive, port_refuses, wait_http, write_json


def _echo_config(port: int, generation: int, **service: Any) -> dict[str, Any]:
    """/gen answers which configuration served it; the backend is the gateway's own /__echo."""
    return {
        "version": 3,
        "port": port,
        "echo_endpoint": True,
        **service,
        "endpoints": [
            {
                "endpoint": "/gen",
                "backend": [
                    {"host": [f"127.0.0.1:{port}"], "url_pattern": f"/__echo/g{generation}", "allow": ["req_uri"]}
                ],
            },
            {
                "endpoint": "/upload",
                "method": "POST",
                "backend": [{"host": [f"127.0.0.1:{port}"], "url_pattern": "/__echo/"}],
            },
        ],
    }


def _reload(gateway: Gateway, config: Path, doc: dict[str, Any], number: int) -> None:
    write_json(config, doc)
    gateway.signal(signal.SIGHUP)
    gateway.wait_log(rf"reload {number} (applied by|refused: the running)")


def _wait_served(load: Load, generation: int, timeout: float = 30) -> None:
    """Wait until the load has had an answer from configuration ``generation``."""
    body = f'{{"req_uri":"/__echo/g{generation}"}}'
    deadline = time.monotonic() + timeout
    while body not in load.bodies:
        assert time.monotonic() < deadline, f"generation {generation} never answered: {load.bodies}"
        time.sleep(0.02)


def test_runtime_ten_reloads_under_load_fail_no_request(tmp_path: Path) -> None:
    port = free_port()
    config = write_json(tmp_path / "krakend.json", _echo_config(port, 0))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        gateway.worker_pids(2)
        url = f"http://127.0.0.1:{port}/gen"
        wait_http(url)
        # each configuration serves the load before the next reload (waited for, not slept: the
        # machine may be busy), so every generation is seen
        with Load(url, concurrency=8) as load:
            _wait_served(load, 0)
            for generation in range(1, 11):
                _reload(gateway, config, _echo_config(port, generation), generation)
                gateway.wait_log(rf"reload {generation} applied by 2/2 workers")
                _wait_served(load, generation)
        assert load.failures == {}, (load.failures, gateway.log)
        assert set(load.statuses) == {200}
        assert set(load.bodies) == {f'{{"req_uri":"/__echo/g{g}"}}' for g in range(11)}
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def test_runtime_refused_reloads_keep_the_running_configuration(tmp_path: Path) -> None:
    port = free_port()
    config = write_json(tmp_path / "krakend.json", _echo_config(port, 1))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        gateway.worker_pids(2)
        url = f"http://127.0.0.1:{port}/gen"
        wait_http(url)
        invalid = _echo_config(port, 2, timeout="soon")
        _reload(gateway, config, invalid, 1)
        gateway.wait_log(r"reload 1 refused: timeout: .*soon")
        lua = _echo_config(port, 2)
        lua["endpoints"][0]["extra_config"] = {"modifier/lua-proxy": {"sources": ["missing.lua"], "pre": "x()"}}
        _reload(gateway, config, lua, 2)
        gateway.wait_log(r"reload 2 refused: endpoints\[0\]\.extra_config\.modifier/lua-proxy.*missing\.lua")
        other = free_port()
        _reload(gateway, config, _echo_config(other, 2), 3)
        gateway.wait_log(rf"reload 3 refused: listen address \*:{port} → \*:{other}: needs a restart")
        with Load(url, concurrency=2, limit=1) as load:
            time.sleep(0.5)
        assert load.failures == {} and set(load.bodies) == {'{"req_uri":"/__echo/g1"}'}
        assert port_refuses(other)
        assert "Traceback" not in gateway.log
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def test_runtime_killed_worker_is_replaced_and_a_crash_loop_gives_up(tmp_path: Path) -> None:
    port = free_port()
    config = write_json(tmp_path / "krakend.json", _echo_config(port, 1))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        pids = gateway.worker_pids(2)
        url = f"http://127.0.0.1:{port}/gen"
        wait_http(url)
        concurrency = 8
        with Load(url, concurrency=concurrency, fresh_connections=True) as load:
            time.sleep(0.5)

            os.kill(pids[1], signal.SIGKILL)
            gateway.wait_log(rf"worker 1 \(pid {pids[1]}\) died \(killed by SIGKILL\): restarting it")
            gateway.worker_pids(3)  # the replacement is listening
            before = load.total
            time.sleep(0.8)
        assert load.total > before + 20  # served on both slots again
        # only what the killed worker had in flight may fail; connections queued meanwhile wait
        assert sum(load.failures.values()) <= concurrency, load.failures
        listening = 3
        for _ in range(8):  # kill slot 1 as soon as it is up: with the first kill, 5 quick deaths
            pid = gateway.worker_pids(listening)[1]
            os.kill(pid, signal.SIGKILL)
            outcome = gateway.wait_log(rf"\(pid {pid}\) died \(killed by SIGKILL\): restarting|giving up")[0]
            if "giving up" in outcome.group(0):
                break
            listening += 1
        gateway.wait_log(r"worker 1 died 5 times in a row within 10 s: giving up")
        assert gateway.proc.wait(20) == 1
        assert not alive(pids[2])
    finally:
        gateway.kill()


def test_runtime_killed_supervisor_leaves_no_worker_on_the_port(tmp_path: Path) -> None:
    port = free_port()
    config = write_json(tmp_path / "krakend.json", _echo_config(port, 1, max_shutdown_wait_time="2s"))
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        pids = gateway.worker_pids(2)
        wait_http(f"http://127.0.0.1:{port}/gen")
        gateway.proc.kill()  # SIGKILL: no chance to clean up
        deadline = time.monotonic() + 5
        while (any(alive(p) for p in pids.values()) or not port_refuses(port)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(p) for p in pids.values())
        assert port_refuses(port)
    finally:
        gateway.kill()


def test_runtime_hostile_clients_and_the_exact_drain(tmp_path: Path) -> None:
    port = free_port()
    with SlowBackend() as backend:
        doc = _echo_config(port, 1, read_header_timeout="2s", max_shutdown_wait_time="1s")
        doc["endpoints"].append(
            {
                "endpoint": "/sleep",
                "input_query_strings": ["s"],
                "backend": [{"host": [backend.url], "url_pattern": "/sleep"}],
                "timeout": "10s",
            }
        )
        config = write_json(tmp_path / "krakend.json", doc)
        gateway = Gateway(config, "-w", "1", cwd=tmp_path)
        try:
            gateway.worker_pids(1)
            wait_http(f"http://127.0.0.1:{port}/gen")
            slow = socket.create_connection(("127.0.0.1", port))
            start = time.monotonic()
            closed_after = None
            for byte in b"GET /gen HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 30:  # one byte per second, at most
                try:
                    slow.sendall(bytes([byte]))
                    slow.settimeout(1.0)
                    if slow.recv(1) == b"":
                        closed_after = time.monotonic() - start
                        break
                except TimeoutError:
                    continue
                except ConnectionError:
                    closed_after = time.monotonic() - start
                    break
            slow.close()
            assert closed_after is not None and closed_after < 4.0  # read_header_timeout 2 s (+ a tick)

            big = socket.create_connection(("127.0.0.1", port))
            big.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n")
            sent, chunk, start = 0, b"\0" * 65536, time.monotonic()
            try:
                while sent < 1 << 30 and time.monotonic() - start < 20:
                    big.sendall(chunk)
                    sent += len(chunk)
            except ConnectionError:
                pass
            big.close()
            assert sent < 64 << 20, sent  # 10 MiB read, then 413 and the connection closed
            assert time.monotonic() - start < 10

            with (
                Load(f"http://127.0.0.1:{port}/sleep?s=5", concurrency=1, limit=10) as cut,
                Load(f"http://127.0.0.1:{port}/sleep?s=0.3", concurrency=1, limit=10) as quick,
            ):
                time.sleep(0.5)
                gateway.signal(signal.SIGTERM)
                stopped = time.monotonic()
                code = gateway.proc.wait(10)
                took = time.monotonic() - stopped
            assert code == 0
            assert 0.9 <= took < 2.0, (took, gateway.log)  # max_shutdown_wait_time 1 s, not aiohttp's 2x
            cut_after = cut.failed_at[0] - stopped
            assert 0.95 <= cut_after <= 1.25, cut_after  # the cut itself, seen by the client
            assert cut.failures and not cut.statuses  # the 5 s request was cut at 1 s
            assert quick.statuses[200] >= 1
            assert "max_shutdown_wait_time reached" in gateway.log
            assert "Traceback" not in gateway.log
        finally:
            gateway.kill()


def _tls_config(port: int, server: Any, ca: Authority, **tls: Any) -> dict[str, Any]:
    doc = _echo_config(port, 1, read_header_timeout="1s")
    doc["endpoints"][0]["backend"] = [{"host": ["127.0.0.1:19"], "url_pattern": "/"}]
    doc["endpoints"][0]["extra_config"] = {"proxy": {"static": {"strategy": "always", "data": {"tls": True}}}}
    doc["tls"] = {
        "keys": [{"public_key": str(server.cert), "private_key": str(server.key)}],
        "enable_mtls": True,
        "ca_certs": [str(ca.path)],
        "disable_system_ca_pool": True,
        **tls,
    }
    return doc


def _https_get(port: int, ca: Authority, cert: Any) -> tuple[bytes, dict[str, Any]]:
    context = ssl.create_default_context(cafile=str(ca.path))
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            peer = tls.getpeercert() or {}
            tls.sendall(b"GET /gen HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
            return data, peer


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # uvloop: connections through server/acceptor.py
def test_runtime_tls_mtls_handshake_timeout_and_certificate_rotation(tmp_path: Path, loop: str) -> None:
    port = free_port()
    ca, stranger = Authority(tmp_path), Authority(tmp_path, "Stranger CA")
    server = ca.issue("localhost", names=("localhost", "127.0.0.1"))
    alice = ca.issue("alice", client=True)
    config = write_json(tmp_path / "krakend.json", _tls_config(port, server, ca))
    gateway = Gateway(config, "-w", "1", "--loop", loop, cwd=tmp_path)
    try:
        gateway.wait_log(r"listening on \*:\d+ \(TLS\)")
        data, peer = _https_get(port, ca, alice)
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b'{"tls":true}')
        first_serial = peer["serialNumber"]
        for cert in (None, stranger.issue("mallory", client=True)):  # no or a foreign client certificate
            try:
                data, _ = _https_get(port, ca, cert)
            except (ssl.SSLError, ConnectionError):
                continue
            assert data == b""  # TLS 1.3: the refusal may only show as a closed connection when reading

        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.sendall(b"\x16\x03\x01\x00\xc8\x01")  # the first bytes of a ClientHello, then nothing
        stalled.settimeout(5)
        start = time.monotonic()
        try:
            assert stalled.recv(1) == b""
        except ConnectionError:
            pass
        assert time.monotonic() - start < 3.0  # the handshake gets read_header_timeout (1 s)
        stalled.close()

        ca.issue("localhost", names=("localhost", "127.0.0.1"))  # same files, new certificate
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"reload 1 applied by 1/1 workers")
        data, peer = _https_get(port, ca, alice)
        assert data.startswith(b"HTTP/1.1 200 OK")
        assert peer["serialNumber"] != first_serial
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def test_runtime_watch_reloads_on_config_and_lua_changes(tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "stamp.lua"
    script.write_text("function stamp(r) r:headers('X-Stamp', 'one') end\n")
    doc = _echo_config(port, 1)
    doc["endpoints"][0]["backend"][0]["allow"] = ["req_uri", "req_headers.X-Stamp"]
    doc["endpoints"][0]["backend"][0]["extra_config"] = {
        "modifier/lua-backend": {"sources": ["stamp.lua"], "pre": "stamp(request.load())"}
    }
    config = write_json(tmp_path / "krakend.json", doc)
    gateway = Gateway(config, "-w", "1", "--watch", cwd=tmp_path)
    try:
        gateway.worker_pids(1)
        url = f"http://127.0.0.1:{port}/gen"
        wait_http(url)
        doc["endpoints"][0]["backend"][0]["url_pattern"] = "/__echo/g2"
        write_json(config, doc)
        gateway.wait_log(r"reload 1 applied by 1/1 workers", timeout=10)
        script.write_text("function stamp(r) r:headers('X-Stamp', 'two') end\n")
        gateway.wait_log(r"--watch: .*stamp\.lua changed", timeout=10)
        gateway.wait_log(r"reload 2 applied by 1/1 workers", timeout=10)
        import urllib.request

        body = urllib.request.urlopen(url, timeout=5).read()
        assert b"/__echo/g2" in body and b'"two"' in body
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def test_runtime_watch_renders_flexible_configuration_again(tmp_path: Path) -> None:
    port = free_port()
    settings = tmp_path / "settings"
    settings.mkdir()
    write_json(settings / "service.json", {"port": port, "generation": "g1"})
    template = tmp_path / "krakend.tmpl"
    doc = _echo_config(port, 0)
    doc["port"] = "PORT"
    doc["endpoints"][0]["backend"][0]["url_pattern"] = "/__echo/GEN"
    text = json.dumps(doc).replace('"PORT"', "{{ .service.port }}").replace("GEN", "{{ .service.generation }}")
    template.write_text(text)
    env = {"FC_ENABLE": "1", "FC_SETTINGS": str(settings)}
    gateway = Gateway(template, "-w", "1", "--watch", cwd=tmp_path, env=env)
    try:
        gateway.worker_pids(1)
        url = f"http://127.0.0.1:{port}/gen"
        wait_http(url)
        write_json(settings / "service.json", {"port": port, "generation": "g2"})
        gateway.wait_log(r"--watch: .*service\.json changed", timeout=10)
        gateway.wait_log(r"reload 1 applied by 1/1 workers", timeout=10)
        import urllib.request

        assert urllib.request.urlopen(url, timeout=5).read() == b'{"req_uri":"/__echo/g2"}'
        assert gateway.stop() == 0
    finally:
        gateway.kill()


@pytest.mark.parametrize("loop", ["auto", "asyncio"])  # auto: uvloop, accepting through server/acceptor.py
def test_runtime_low_open_file_limit_logs_a_count_not_a_flood(tmp_path: Path, loop: str) -> None:
    import resource

    port = free_port()
    config = write_json(tmp_path / "krakend.json", _echo_config(port, 1))

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    gateway = Gateway(config, "-w", "1", "--loop", loop, cwd=tmp_path, preexec=low_limit)
    clients: list[socket.socket] = []
    try:
        gateway.worker_pids(1)
        for _ in range(120):  # idle sockets: more than the worker can accept
            clients.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(2.5)
        accept_lines = [line for line in gateway.lines if "accept" in line]
        assert len(accept_lines) == 1, accept_lines  # the rest counted (logs.Tally), on either loop
        assert "Too many open files" in accept_lines[0]
        assert "Traceback" not in gateway.log
    finally:
        for client in clients:
            client.close()
        gateway.kill()


def test_runtime_build_warnings_logged_once_at_start_and_on_reload(tmp_path: Path) -> None:
    """What components find while building (a missing static folder) reaches the log of `run`, from
    one worker, and a reload's summary, not only `check`'s output."""
    port = free_port()
    static = {"server/static-filesystem": {"prefix": "/static/", "path": "./missing"}}
    doc = _echo_config(port, 0, extra_config=static)
    config = write_json(tmp_path / "krakend.json", doc)
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        gateway.worker_pids(2)
        assert (
            len(gateway.wait_log(r"WARNING: extra_config\.server/static-filesystem\.path: folder .* does not exist"))
            == 1
        )
        _reload(gateway, config, _echo_config(port, 1, extra_config=static), 1)
        gateway.wait_log(r"reload 1: 1 warning\(s\)$")
        gateway.wait_log(r"reload 1: extra_config\.server/static-filesystem\.path: folder")
        assert gateway.log.count("does not exist") == 2, gateway.log
        assert gateway.stop() == 0
    finally:
        gateway.kill()
