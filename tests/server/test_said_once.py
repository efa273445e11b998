"""With ``run -w 2`` a warning about an unreachable dependency (a JWK set, a GELF collector over TCP, a
Redis pool, a syslog daemon) is said once per gateway and configuration generation, by whichever
process says it first; the other worker, and a worker restarted after it died, log the same line at
DEBUG (real CLI, closed ports on 127.0.0.1, SIGHUP, SIGKILL). Each process said it before: five
warnings of each across a start, a reload and a restart."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiohttp import web

from krakenpy.jose.sources import RemoteKeySource
from krakenpy.server import saidonce
from krakenpy.telemetry.export import _Failures
from tests.conftest import free_port
from tests.jose.helpers import JwksServer, new_key
from tests.nats_server import NatsServer
from tests.sd.dnsserver import Zone, serve_dns
from tests.server.process import Gateway, write_json


def _config(port: int, closed: int) -> dict[str, Any]:
    validator = {"alg": "RS256", "jwk_url": f"http://127.0.0.1:{closed}/jwks", "disable_jwk_security": True}
    backend = {"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/__health"}
    limit = {"connection_name": "shared", "client_max_rate": 3, "every": "1h", "strategy": "header", "key": "X-User"}
    endpoint_extra = {"auth/validator": validator, "qos/ratelimit/router/redis": limit}
    endpoint = {"endpoint": "/jwt", "extra_config": endpoint_extra, "backend": [backend]}
    extra = {
        "telemetry/logging": {"level": "DEBUG", "stdout": True},
        "telemetry/gelf": {"address": f"127.0.0.1:{closed}", "enable_tcp": True},
        "redis": {"connection_pools": [{"name": "shared", "address": f"127.0.0.1:{closed}"}]},
    }
    return {"version": 3, "port": port, "listen_ip": "127.0.0.1", "extra_config": extra, "endpoints": [endpoint]}


def _levels(log: str, text: str) -> tuple[int, int]:
    """How many lines say ``text`` at WARNING, and at DEBUG."""
    lines = [line for line in log.splitlines() if text in line]
    warned = sum(1 for line in lines if re.search(r"\bWARNING\b", line))
    debug = sum(1 for line in lines if re.search(r"\bDEBUG\b", line))
    assert warned + debug == len(lines), lines
    return warned, debug


def test_a_dependency_warning_is_said_once_per_gateway_and_generation(tmp_path: Path) -> None:
    port, closed = free_port(), free_port()  # nothing listens on ``closed``
    config = write_json(tmp_path / "krakend.json", _config(port, closed))
    jwks = f"cannot fetch the JWK set http://127.0.0.1:{closed}/jwks"
    gelf = f"[GELF] cannot reach 127.0.0.1:{closed} over TCP"
    redis = f"redis pool shared (127.0.0.1:{closed}): not reachable at start-up"
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        first = gateway.worker_pids(2)[1]
        gateway.wait_log(re.escape(jwks), count=2)
        gateway.wait_log(re.escape(gelf), count=2)
        gateway.wait_log(re.escape(redis), count=2)
        assert _levels(gateway.log, jwks) == (1, 1), gateway.log
        assert _levels(gateway.log, gelf) == (1, 1), gateway.log
        assert _levels(gateway.log, redis) == (1, 1), gateway.log
        gateway.signal(signal.SIGHUP)  # a new generation: said again, once
        gateway.wait_log(r"reload 1 applied by 2/2 workers")
        gateway.wait_log(re.escape(jwks), count=4)
        gateway.wait_log(re.escape(gelf), count=4)
        gateway.wait_log(re.escape(redis), count=4)
        os.kill(first, signal.SIGKILL)  # its replacement builds the same generation: at DEBUG
        gateway.wait_log(r"listening on .* worker 1\)", count=2)
        gateway.wait_log(re.escape(jwks), count=5)
        gateway.wait_log(re.escape(gelf), count=5)
        gateway.wait_log(re.escape(redis), count=5)
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    assert _levels(gateway.log, jwks) == (2, 3), gateway.log
    assert _levels(gateway.log, gelf) == (2, 3), gateway.log
    assert _levels(gateway.log, redis) == (2, 3), gateway.log


class _KeySet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"keys": [{"kty": "oct", "kid": "s1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "alg": "HS256"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_jwk_set_back_is_said_once(tmp_path: Path) -> None:
    """The outage's end too: the JWK set served once both workers said they cannot fetch it; each
    worker's next try finds it, and ``reachable again`` is said once."""
    port, closed = free_port(), free_port()
    doc = _config(port, closed)
    doc["extra_config"] = {"telemetry/logging": {"level": "DEBUG", "stdout": True}}
    validator = {"alg": "HS256", "jwk_url": f"http://127.0.0.1:{closed}/jwks", "disable_jwk_security": True}
    doc["endpoints"][0]["extra_config"] = {"auth/validator": validator}
    config = write_json(tmp_path / "krakend.json", doc)
    back = f"JWK set http://127.0.0.1:{closed}/jwks reachable again (1 keys)"
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    server: ThreadingHTTPServer | None = None
    try:
        gateway.worker_pids(2)
        gateway.wait_log(re.escape(f"cannot fetch the JWK set http://127.0.0.1:{closed}/jwks"), count=2)
        server = ThreadingHTTPServer(("127.0.0.1", closed), _KeySet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        gateway.wait_log(re.escape(back), count=2)  # each retries within a few seconds (its back-off)
        assert gateway.stop() == 0
    finally:
        gateway.kill()
        if server is not None:
            server.shutdown()
            server.server_close()
    assert _levels(gateway.log, back) == (1, 1), gateway.log


def test_a_syslog_outage_is_said_once_by_the_gateway(tmp_path: Path) -> None:
    """The supervisor and each worker have their own socket: each said the outage (three lines at the
    start, at their first lines); now the first process says it, the others at DEBUG."""
    port = free_port()
    doc = _config(port, free_port())
    doc["extra_config"] = {"telemetry/logging": {"level": "DEBUG", "stdout": True, "syslog": True}}
    doc["endpoints"] = []
    config = write_json(tmp_path / "krakend.json", doc)
    missing = tmp_path / "no-daemon.sock"
    outage = f"syslog: cannot send to {missing}: No such file or directory"
    gateway = Gateway(config, "-w", "2", cwd=tmp_path, env={"KRAKENPY_SYSLOG_ADDRESS": str(missing)})
    try:
        gateway.worker_pids(2)
        gateway.wait_log(re.escape(outage), count=3)  # the supervisor's "worker N started" and each worker's
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    warned, debug = _levels(gateway.log, outage)
    assert (warned, debug) == (1, 2), gateway.log


def test_a_dns_srv_timeout_is_said_once_though_its_seconds_differ(tmp_path: Path) -> None:
    """A DNS server that never answers: each worker's lookup times out after its own number of seconds
    (``expired after 5.405 seconds``), so the lines differ in text; they are the same failure (the
    kind and the name), said once."""
    port, closed = free_port(), free_port()
    doc = _config(port, closed)
    doc["extra_config"] = {"telemetry/logging": {"level": "DEBUG", "stdout": True}}
    backend = {"host": ["_http._tcp.gw.test"], "sd": "dns", "url_pattern": "/x"}
    doc["endpoints"] = [{"endpoint": "/d", "backend": [backend]}]
    config = write_json(tmp_path / "krakend.json", doc)
    failed = "DNS SRV _http._tcp.gw.test: lookup failed (LifetimeTimeout"
    gateway = Gateway(config, "-w", "2", cwd=tmp_path, env={"KRAKENPY_DNS_SERVER": f"127.0.0.1:{closed}"})
    try:
        gateway.worker_pids(2, timeout=30)
        gateway.wait_log(re.escape(failed), count=2)
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    assert _levels(gateway.log, failed) == (1, 1), gateway.log


async def test_a_dns_srv_name_back_is_said_once(tmp_path: Path) -> None:
    """A real DNS server that answers SERVFAIL, then the name: each worker's lookup fails, then
    resolves at its next refresh (``dns_cache_ttl`` 1 s); both ends said once."""
    zone = Zone(servfail=True)
    transport, dns_port = await serve_dns(zone)
    port = free_port()
    doc = _config(port, free_port())
    doc["extra_config"] = {"telemetry/logging": {"level": "DEBUG", "stdout": True}}
    doc["dns_cache_ttl"] = "1s"
    backend = {"host": ["_http._tcp.gw.test"], "sd": "dns", "url_pattern": "/x"}
    doc["endpoints"] = [{"endpoint": "/d", "backend": [backend]}]
    config = write_json(tmp_path / "krakend.json", doc)
    failed = "DNS SRV _http._tcp.gw.test: lookup failed"
    back = "DNS SRV _http._tcp.gw.test: resolved again (1 host(s))"
    gateway = Gateway(config, "-w", "2", cwd=tmp_path, env={"KRAKENPY_DNS_SERVER": f"127.0.0.1:{dns_port}"})
    try:
        await asyncio.to_thread(gateway.worker_pids, 2)
        await asyncio.to_thread(gateway.wait_log, re.escape(failed), 15.0, 2)
        zone.records["_http._tcp.gw.test."] = [(0, 1, port, "127.0.0.1.")]
        zone.servfail = False
        await asyncio.to_thread(gateway.wait_log, re.escape(back), 15.0, 2)
        assert await asyncio.to_thread(gateway.stop) == 0
    finally:
        await asyncio.to_thread(gateway.kill)
        transport.close()
    assert _levels(gateway.log, failed) == (1, 1), gateway.log
    assert _levels(gateway.log, back) == (1, 1), gateway.log


def _nats_config(tmp_path: Path, port: int, closed: int) -> Path:
    """A gateway on ``port`` whose one endpoint subscribes to NATS subject ``orders`` (the server named
    by ``NATS_SERVER_URL``), its application log at DEBUG on standard output."""
    doc = _config(port, closed)
    doc["extra_config"] = {"telemetry/logging": {"level": "DEBUG", "stdout": True}}
    subscriber = {"backend/pubsub/subscriber": {"subscription_url": "orders"}}
    backend = {"host": ["nats://"], "disable_host_sanitize": True, "url_pattern": "/", "extra_config": subscriber}
    doc["endpoints"] = [{"endpoint": "/sub", "timeout": "1s", "backend": [backend]}]
    return write_json(tmp_path / "krakend.json", doc)


def test_a_nats_server_down_is_said_once(tmp_path: Path) -> None:
    """Each worker's subscriber connects on its own: its failure to subscribe is said once."""
    port, closed = free_port(), free_port()
    config = _nats_config(tmp_path, port, closed)
    failed = "[BACKEND: nats://orders][PubSub] cannot subscribe: nats: cannot connect"
    gateway = Gateway(config, "-w", "2", cwd=tmp_path, env={"NATS_SERVER_URL": f"nats://127.0.0.1:{closed}"})
    try:
        gateway.worker_pids(2, timeout=30)
        gateway.wait_log(re.escape(failed), count=2)
        gateway.wait_log(r"nats: connection closed", count=2)  # the failed attempt: never connected
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    lines = [line for line in gateway.log.splitlines() if failed in line]
    assert sum(1 for line in lines if re.search(r"\bERROR\b", line)) == 1, gateway.log
    assert sum(1 for line in lines if re.search(r"\bDEBUG\b", line)) == len(lines) - 1, gateway.log
    assert "nats: disconnected from the server" not in gateway.log


def test_a_nats_connection_the_gateway_closes_is_no_disconnection(tmp_path: Path) -> None:
    """nats-py calls its disconnection callback at its own close too: a reload (the old gateway's
    connection) and the stop said 'disconnected from the server, reconnecting' at WARNING while the
    server was fine, with one worker as with many. A real nats-server, the real CLI with -w 1."""
    server = NatsServer(free_port())
    assert server.launch()
    port = free_port()
    config = _nats_config(tmp_path, port, free_port())
    gateway = Gateway(config, "-w", "1", cwd=tmp_path, env={"NATS_SERVER_URL": server.url})
    try:
        gateway.worker_pids(1)
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(r"nats: connection closed")  # the old gateway's, once the new one serves
        assert gateway.stop() == 0
    finally:
        gateway.kill()
        server.kill()
    assert "nats: disconnected from the server" not in gateway.log


def test_a_nats_server_back_is_said_once(tmp_path: Path) -> None:
    """Both workers' connections to a real nats-server: killed, each worker finds it gone; brought
    back, each reconnects. ``disconnected`` and ``reconnected`` are said once each."""
    server = NatsServer(free_port())
    assert server.launch()
    port = free_port()
    config = _nats_config(tmp_path, port, free_port())
    gateway = Gateway(config, "-w", "2", cwd=tmp_path, env={"NATS_SERVER_URL": server.url})
    try:
        gateway.worker_pids(2)
        server.kill()
        gateway.wait_log(r"nats: disconnected from the server", count=2)
        assert server.launch()
        gateway.wait_log(r"nats: reconnected", count=2, timeout=30)
        assert gateway.stop() == 0
    finally:
        gateway.kill()
        server.kill()
    # nats-py may say a disconnection more than once a worker (each failed reconnect): one WARNING
    assert _levels(gateway.log, "nats: disconnected from the server")[0] == 1, gateway.log
    assert _levels(gateway.log, "nats: reconnected")[0] == 1, gateway.log


def _said_by_both(tmp_path: Path, doc: dict[str, Any], failed: str) -> str:
    """``run -w 2`` on ``doc`` until each worker logged ``failed`` (at some level), stopped: its log."""
    config = write_json(tmp_path / "krakend.json", doc)
    gateway = Gateway(config, "-w", "2", cwd=tmp_path)
    try:
        gateway.worker_pids(2)
        gateway.wait_log(re.escape(failed), count=2)
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    return gateway.log


def test_an_otlp_collector_down_is_said_once_a_minute_by_the_gateway(tmp_path: Path) -> None:
    """Each worker exports its own metrics and fails on its own: said by the first, in that minute."""
    port, closed = free_port(), free_port()
    doc = _config(port, closed)
    otlp = {"name": "col", "host": "127.0.0.1", "port": closed, "use_http": True, "disable_traces": True}
    otel = {"metric_reporting_period": 1, "exporters": {"otlp": [otlp]}}
    doc["extra_config"] = {"telemetry/logging": {"level": "DEBUG", "stdout": True}, "telemetry/opentelemetry": otel}
    doc["endpoints"] = []
    failed = f'[SERVICE: OpenTelemetry] metrics export to col failed: BackendError: Post "http://127.0.0.1:{closed}'
    log = _said_by_both(tmp_path, doc, failed)
    assert _levels(log, failed) == (1, 1), log


def test_an_influxdb_down_is_said_once_a_minute_by_the_gateway(tmp_path: Path) -> None:
    """Each worker pushes its own ``/__stats`` points: a refused push is said by the first, in that minute."""
    port, closed, stats = free_port(), free_port(), free_port()
    doc = _config(port, closed)
    doc["extra_config"] = {
        "telemetry/logging": {"level": "DEBUG", "stdout": True},
        "telemetry/metrics": {"collection_time": "1s", "listen_address": f"127.0.0.1:{stats}"},
        "telemetry/influx": {"address": f"http://127.0.0.1:{closed}", "ttl": "1s", "db": "krakend"},
    }
    doc["endpoints"] = []
    failed = f"[SERVICE: InfluxDB] cannot write to http://127.0.0.1:{closed}/write (db krakend)"
    log = _said_by_both(tmp_path, doc, failed)
    lines = [line for line in log.splitlines() if failed in line]
    assert [bool(re.search(r"\bERROR\b", line)) for line in lines] == [True, False], log
    assert re.search(r"\bDEBUG\b", lines[1]), log


def test_another_line_is_said_and_one_worker_says_everything(tmp_path: Path, caplog: Any) -> None:
    """The marker is per line and generation: another error is said, so is a later generation's;
    without a shared directory (``-w 1``, ``check``) every line is said."""
    logger = logging.getLogger("krakenpy.test.saidonce")
    caplog.set_level(logging.DEBUG, logger.name)
    try:
        saidonce.share(None)
        saidonce.say(logger, logging.WARNING, "down: %s", "refused")
        saidonce.say(logger, logging.WARNING, "down: %s", "refused")
        saidonce.share(str(tmp_path))
        saidonce.generation(3)
        saidonce.say(logger, logging.WARNING, "down: %s", "refused")
        saidonce.say(logger, logging.WARNING, "down: %s", "refused")  # as another worker would
        saidonce.say(logger, logging.WARNING, "down: %s", "timed out")
        saidonce.say(logger, logging.WARNING, "slow: %.1f s", 5.4, key="slow")
        saidonce.say(logger, logging.WARNING, "slow: %.1f s", 5.3, key="slow")  # the same failure
        saidonce.advance(4)
        saidonce.say(logger, logging.WARNING, "down: %s", "refused")
        saidonce.advance(5)  # generation 3's marker is gone; 4's stays for a worker still on it
        names = sorted(n for n in os.listdir(tmp_path) if n.startswith(".said-"))
    finally:
        saidonce.share(None)
        saidonce.generation(0)
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == logger.name]
    assert said == [
        ("WARNING", "down: refused"),
        ("WARNING", "down: refused"),
        ("WARNING", "down: refused"),
        ("DEBUG", "down: refused"),
        ("WARNING", "down: timed out"),
        ("WARNING", "slow: 5.4 s"),
        ("DEBUG", "slow: 5.3 s"),
        ("WARNING", "down: refused"),
    ]
    assert [n.split("-")[1] for n in names] == ["4"], names


def test_a_process_stopped_while_it_holds_the_lock_holds_nobody(tmp_path: Path, caplog: Any) -> None:
    """Another process of the gateway stopped (``SIGSTOP``) between its look and its write: the line
    is said at its level after a short wait, not a loop's thread held until that process goes on."""
    logger = logging.getLogger("krakenpy.test.saidonce")
    caplog.set_level(logging.DEBUG, logger.name)
    holder = os.open(tmp_path / ".said.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    saidonce.share(str(tmp_path))
    try:
        saying = threading.Thread(target=saidonce.say, args=(logger, logging.WARNING, "down"), daemon=True)
        saying.start()
        saying.join(10)
        waited = saying.is_alive()
    finally:
        os.close(holder)  # lets the lock go (a thread still waiting ends)
        saying.join(10)
        saidonce.share(None)
    assert not waited
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == logger.name] == [("WARNING", "down")]


def _said(caplog: Any, name: str) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == name]


async def test_a_jwk_set_down_again_within_the_window_is_said_again(
    tmp_path: Path, backend: Callable[[web.Application], Awaitable[str]], caplog: Any
) -> None:
    """A JWK set down, back, down, back and down within a minute (a flapping server): each change is
    said, not folded into the same line said a moment before (the log's last word was the set's
    first 'reachable again' while it failed). A real key set server on 127.0.0.1, the real source,
    a shared directory."""
    server = JwksServer(keys=[new_key("HS256", "s1")], status=503)
    server.url = await backend(server.app()) + "/jwks"
    source = RemoteKeySource(server.url)
    caplog.set_level(logging.DEBUG, "krakenpy.jose")
    saidonce.share(str(tmp_path))
    try:
        assert not await source._refetch()
        server.status = 200
        assert await source._refetch()
        for status in (503, 200, 503):
            server.status = status
            assert await source._refetch() is (status == 200)
    finally:
        await source.close()
        saidonce.share(None)
    down, back = f"cannot fetch the JWK set {server.url}: status 503", f"JWK set {server.url} reachable again (1 keys)"
    assert _said(caplog, "krakenpy.jose") == [
        ("WARNING", down),
        ("WARNING", back),
        ("WARNING", f"{down} (keeping the previous keys)"),
        ("WARNING", back),
        ("WARNING", f"{down} (keeping the previous keys)"),
    ]


def test_a_topic_holds_one_marker_whatever_its_lines_say(tmp_path: Path, caplog: Any) -> None:
    """Lines whose text changes (a count, an error's detail) leave one marker per topic, not one per
    text, in the run directory that lives as long as the gateway; the marker's name is a keyed digest
    (nothing a line's secret can be guessed back from)."""
    logger = logging.getLogger("krakenpy.test.saidonce")
    caplog.set_level(logging.DEBUG, logger.name)
    saidonce.share(str(tmp_path))
    try:
        for n in range(50):
            saidonce.say(logger, logging.WARNING, "down: %d failures", n, topic="dependency")
        saidonce.say(logger, logging.WARNING, "down: %d failures", 49, topic="dependency")  # another worker
        names = sorted(n for n in os.listdir(tmp_path) if n.startswith(".said-"))
    finally:
        saidonce.share(None)
    said = _said(caplog, logger.name)
    assert said[-1] == ("DEBUG", "down: 49 failures") and said.count(("DEBUG", "down: 49 failures")) == 1, said
    assert len(names) == 1, names
    plain = {hashlib.blake2b(t.encode(), digest_size=12).hexdigest() for t in ("dependency", "down: 49 failures")}
    assert not plain & {n.rsplit("-", 1)[1] for n in names}, names


def test_otlp_lines_about_a_worker_own_spans_are_said_by_each_worker(tmp_path: Path, caplog: Any) -> None:
    """'N span(s) dropped so far' counts this worker's spans: each worker says its own (two workers
    with the same count are two lines), and leaves no marker per count behind."""
    caplog.set_level(logging.DEBUG, "krakenpy")
    saidonce.share(str(tmp_path))
    try:
        for worker in (_Failures(), _Failures()):
            worker.once("buffer", "3 span(s) dropped so far: the export buffer (2) was full")
        names = [n for n in os.listdir(tmp_path) if n.startswith(".said-")]
    finally:
        saidonce.share(None)
    said = [(r.levelname, r.getMessage()) for r in caplog.records if "span(s) dropped" in r.getMessage()]
    assert [level for level, _ in said] == ["WARNING", "WARNING"], said
    assert names == [], names


_SAY_AND_DIE = """
import asyncio, logging, os, signal, sys
from krakenpy.server import saidonce
from krakenpy.telemetry.applog import LineHandler
from krakenpy.telemetry.writer import stdout_writer

async def main():
    logger = logging.getLogger("krakenpy.test.saidonce")
    logger.addHandler(LineHandler(stdout_writer(), logging.Formatter("%(levelname)s %(message)s")))
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    saidonce.share(sys.argv[1])
    saidonce.say(logger, logging.WARNING, "a dependency is down")
    os.kill(os.getpid(), signal.SIGKILL)  # in the same loop tick: before the batch's timer

asyncio.run(main())
"""


def test_a_line_said_for_the_gateway_is_written_before_the_sayer_can_die(tmp_path: Path) -> None:
    """The first sayer's line waited in the log writer's batch (up to 20 ms) after its marker told the
    other processes it was said: a worker killed then (SIGKILL, the OOM killer) lost it for the whole
    gateway, the others logging it at DEBUG for a minute. A real process, the real stdout writer."""
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path(__file__).parents[2]))}
    done = subprocess.run(
        [sys.executable, "-c", _SAY_AND_DIE, str(tmp_path)], capture_output=True, timeout=60, env=env, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert [n for n in os.listdir(tmp_path) if n.startswith(".said-")], "the line is marked as said"
    assert done.stdout.decode() == "WARNING a dependency is down\n", done.stderr
