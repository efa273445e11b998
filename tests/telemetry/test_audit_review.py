"""The audit trail's review: restart continuity, chain verification, sink failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from krakenpy.telemetry.audit import AuditTrail, verify_chain
from krakenpy.telemetry.auditsink import FileSink, HttpSink, last_hash
from tests.telemetry.trail_records import record_deny


async def _collector_trail(
    handler: Callable[[web.Request], Awaitable[web.Response]], *, timeout: float
) -> tuple[TestServer, AuditTrail]:
    """An audit collector on 127.0.0.1 answering each POST with ``handler``, and a trail posting to it."""
    app = web.Application()
    app.router.add_post("/", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    trail = AuditTrail(HttpSink(f"http://127.0.0.1:{server.port}/", timeout=timeout), service="gw", config_hash="c")
    return server, trail


async def _until(done: Callable[[], bool]) -> None:
    """Wait for ``done()``, polling, for at most 5 s (no sleep standing in for an event)."""
    async with asyncio.timeout(5):
        while not done():
            await asyncio.sleep(0.005)


async def _chain(path: str, n: int, prev: str | None = None) -> list[bytes]:
    trail = AuditTrail(FileSink(path), service="gw", config_hash="c", prev_hash=prev)
    record_deny(trail, n)
    await trail.drain()
    await trail.sink.close()
    return Path(path).read_bytes().splitlines()


async def test_a_restart_after_a_torn_last_line_keeps_its_first_record_readable(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.log")
    lines = await _chain(path, 2)
    with open(path, "ab") as f:  # the process died in the middle of a write: half a line, no newline
        f.write(lines[-1][:40])
    prev = last_hash(path)
    assert prev == orjson.loads(lines[-1])["hash"]
    after = await _chain(path, 1, prev)
    record = orjson.loads(after[-1])  # its own line, not glued to the torn one
    assert record["prev_hash"] == prev and verify_chain([after[-1]], prev)


async def test_workers_opening_a_file_that_ends_mid_line_leave_no_blank_line(tmp_path: Path) -> None:
    """``run -w 2``: each worker's sink looked once, when it opened the shared file, whether the file
    ended mid-line, and started its first batch with a newline if so. A line the other worker was
    still writing then (a record written in two page-sized steps: its first part visible) had ended
    by that batch; a file torn by a process that died was ended by the worker that wrote first. Either
    way the newline made a blank line, where ``verify-trail`` stops ("not JSON")."""
    from krakenpy.telemetry.audit import verify_trail

    path = str(tmp_path / "audit.log")
    first = AuditTrail(FileSink(path), service="gw", config_hash="c")
    first.instance = "gw/w1"
    record_deny(first, 3)
    await first.drain()
    await first.sink.close()
    written = Path(path).read_bytes()
    cut = written.rindex(b"\n", 0, -1) + 40
    Path(path).write_bytes(written[:cut])  # worker 1's third record: its first part written so far
    second = AuditTrail(FileSink(path), service="gw", config_hash="c", prev_hash=last_hash(path))
    second.instance = "gw/w2"
    Path(path).write_bytes(written)  # the rest, before worker 2's first batch
    record_deny(second)
    await second.drain()
    await second.sink.close()
    lines = Path(path).read_bytes().splitlines(keepends=True)
    assert b"\n" not in lines and len(lines) == 4, lines
    assert verify_trail(lines)

    # a file a dead process left torn: the first worker to write ends the line, the other adds none
    torn = str(tmp_path / "torn.log")
    Path(torn).write_bytes(written[:cut])
    sinks = [FileSink(torn), FileSink(torn)]
    for sink in sinks:
        await sink.write([b'{"a":1}\n'])
        await sink.close()
    assert Path(torn).read_bytes() == written[:cut] + b'\n{"a":1}\n{"a":1}\n'


def _tampered(line: bytes, text: bytes) -> bytes:
    return b"{" + text + b"," + line[1:]


async def test_verify_chain_rejects_lines_that_are_not_as_written(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.log")
    lines = await _chain(path, 2)
    assert verify_chain(lines)
    # a duplicate key read first by another JSON reader, last (the true value) by orjson
    forged = [_tampered(lines[0], b'"decision":"allow"'), lines[1]]
    assert orjson.loads(forged[0])["decision"] == "deny"
    assert not verify_chain(forged)
    spaced = [lines[0].replace(b'"seq":1', b'"seq": 1'), lines[1]]
    assert not verify_chain(spaced)


@pytest.mark.parametrize("junk", [b"not json", b"[1]", b"{}", b'{"hash":1,"prev_hash":2}', b""])
def test_verify_chain_says_false_for_a_line_that_is_no_record(junk: bytes) -> None:
    assert verify_chain([junk]) is False


async def test_a_collector_redirect_is_no_delivery(caplog: pytest.LogCaptureFixture) -> None:
    got: list[bytes] = []

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_post("/", moved)
    app.router.add_route("*", "/elsewhere", elsewhere)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    sink = HttpSink(f"http://127.0.0.1:{server.port}/", timeout=2)
    caplog.set_level(logging.WARNING, logger="krakenpy.audit")
    import asyncio

    try:
        with pytest.raises(TimeoutError):  # retried: never taken as written
            await asyncio.wait_for(sink.write([b'{"seq":1}\n']), 0.3)
    finally:
        await sink.close()
        await server.close()
    assert not any(got)  # the batch never reached anyone, and a GET without it was no success
    assert any("302" in r.getMessage() for r in caplog.records)


async def test_a_file_that_cannot_be_written_counts_and_logs_its_lost_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    trail = AuditTrail(FileSink("/dev/full"), service="gw", config_hash="c")
    caplog.set_level(logging.ERROR, logger="krakenpy.audit")
    record_deny(trail, 3)
    await trail.drain()
    assert trail.dropped == 3 and trail.written == 0
    assert any("3" in r.getMessage() and "not written" in r.getMessage() for r in caplog.records)
    await trail.sink.close()


class _Broken:
    async def write(self, lines: Any) -> None:
        raise RuntimeError("a bug in the sink")

    async def close(self) -> None:
        pass


async def test_a_sink_failure_does_not_end_the_trail(caplog: pytest.LogCaptureFixture) -> None:

    trail = AuditTrail(_Broken(), service="gw", config_hash="c")
    caplog.set_level(logging.ERROR, logger="krakenpy.audit")
    await trail.start()
    record_deny(trail)
    await _until(lambda: trail.dropped == 1)
    record_deny(trail)
    await _until(lambda: trail.dropped == 2)  # the second record was taken too: the writer goes on
    assert trail._task is not None and not trail._task.done()
    assert not trail.queue
    await trail.stop()


async def test_shutdown_counts_the_batch_a_hanging_collector_holds(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    release, holding = asyncio.Event(), asyncio.Event()

    async def stuck(request: web.Request) -> web.Response:
        holding.set()
        await release.wait()
        return web.Response()

    server, trail = await _collector_trail(stuck, timeout=30)
    caplog.set_level(logging.ERROR, logger="krakenpy.audit")
    import krakenpy.telemetry.audit as audit_module

    await trail.start()
    record_deny(trail, 4)
    async with asyncio.timeout(5):
        await holding.wait()  # the four are in the batch the collector holds
    assert not trail.queue
    old = audit_module.STOP_WAIT
    audit_module.STOP_WAIT = 0.2
    try:
        await trail.stop()
    finally:
        audit_module.STOP_WAIT = old
        release.set()
        await server.close()
    assert any("4 record(s) not written" in r.getMessage() for r in caplog.records)


async def test_shutdown_delivers_the_batch_a_slow_collector_was_taking() -> None:
    import asyncio

    got: list[bytes] = []
    arrived = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        body = await request.read()
        arrived.set()
        await asyncio.sleep(0.2)  # the answer is slow: the stop has to wait for it
        got.append(body)
        return web.Response()

    server, trail = await _collector_trail(slow, timeout=30)
    await trail.start()
    record_deny(trail, 3)
    async with asyncio.timeout(5):
        await arrived.wait()  # the batch is on its way when the gateway stops
    await trail.stop()
    await server.close()
    seqs = [orjson.loads(line)["seq"] for body in got for line in body.splitlines()]
    assert set(seqs) == {1, 2, 3} and trail.dropped == 0


async def test_an_ip_filter_deny_leaves_one_record(served: Any, upstream: Any, tmp_path: Path) -> None:
    from tests.components.telemetry.conftest import recording_app

    base = await upstream(recording_app([]))
    audit_file = tmp_path / "audit.log"
    plugin = {"name": ["ip-filter"], "ip-filter": {"CIDR": ["10.0.0.0/8"], "allow": True}}
    doc = {
        "version": 3,
        "extra_config": {
            "telemetry/audit": {"sink": "file", "path": str(audit_file)},
            "plugin/http-server": plugin,
        },
        "endpoints": [{"endpoint": "/hello", "backend": [{"host": [base], "url_pattern": "/b"}]}],
    }
    s = await served(doc)
    assert (await s.client.get("/hello")).status == 403  # the test client is 127.0.0.1
    assert (await s.client.get("/nowhere")).status == 403
    await s.gateway.close()
    lines = audit_file.read_bytes().splitlines()
    assert verify_chain(lines)
    got = [
        (r["request"]["path"], r["decision"], r["reason"], r["response"]["status"]) for r in map(orjson.loads, lines)
    ]
    assert got == [("/hello", "deny", "ip_denied", 403), ("/nowhere", "deny", "ip_denied", 403)]
    assert orjson.loads(lines[0])["policy"]["type"] == "plugin/http-server"


class _DeadPool:
    """A Redis pool whose store never answers."""

    def __init__(self) -> None:
        import asyncio

        self.slots = asyncio.Semaphore(4)

    def script(self, source: str) -> Any:
        async def call(keys: Any, args: Any) -> Any:
            raise OSError("connection refused")

        return call


async def _audited(hub: Any, proxy: Any, path: str = "/x") -> list[dict[str, Any]]:
    """Run ``proxy`` under the audit layer of a ``GET /x`` endpoint; the records it left."""
    from krakenpy.config.build import build_service
    from krakenpy.errors import PipelineError, Rejection
    from krakenpy.proxy.types import Request
    from krakenpy.telemetry.exchange import EXCHANGE, Exchange
    from krakenpy.telemetry.layers.audit import AuditRoute, endpoint_middleware

    service = build_service(
        {"version": 3, "endpoints": [{"endpoint": "/x", "backend": [{"host": ["http://h"], "url_pattern": "/"}]}]}
    )
    endpoint = service.endpoints[0]
    request = Request(method="GET", path=path, params={}, headers={"X-User": ["u"]}, query={}, endpoint="/x")
    request.context[EXCHANGE] = Exchange()
    handler = endpoint_middleware(hub, endpoint, AuditRoute(endpoint))(proxy)
    try:
        await handler(request)
    except (Rejection, PipelineError):
        pass
    records = list(hub.audit.queue)
    hub.audit.queue.clear()
    return records


async def test_a_rate_limit_store_that_is_down_is_an_error_not_a_rate_limit() -> None:
    from krakenpy.proxy.types import Request, Response
    from krakenpy.ratelimit.cluster import redis_limit_middleware
    from krakenpy.ratelimit.options import RedisLimitOptions, RouterLimitOptions
    from krakenpy.telemetry.hub import Telemetry

    async def backend(request: Request) -> Response:
        return Response(data={})

    hub = Telemetry()
    hub.audit = AuditTrail(FileSink("/dev/null"), service="gw", config_hash="c")
    for limit in (RouterLimitOptions(client_max_rate=1), RouterLimitOptions(max_rate=1)):
        mw = redis_limit_middleware(
            RedisLimitOptions(limit, "r"),
            lambda r: "u",
            _DeadPool(),
            prefix="p",  # type: ignore[arg-type]
        )
        assert mw is not None
        (record,) = await _audited(hub, mw(backend))
        # the client used nothing up: the policy could not be evaluated
        assert (record["decision"], record["reason"]) == ("error", "policy_error")
        assert record["response"]["status"] in (429, 503)


async def test_a_backend_rate_limit_leaves_its_deny_record() -> None:
    from krakenpy.components.qos.ratelimit.proxy import proxy_limit_middleware
    from krakenpy.proxy.types import Request, Response
    from krakenpy.ratelimit.options import ProxyLimitOptions
    from krakenpy.telemetry.hub import Telemetry

    async def backend(request: Request) -> Response:
        return Response(data={})

    hub = Telemetry()
    hub.audit = AuditTrail(FileSink("/dev/null"), service="gw", config_hash="c")
    mw = proxy_limit_middleware(ProxyLimitOptions(max_rate=1, capacity=1), clock=lambda: 0)
    assert mw is not None
    limited = mw(backend)
    assert await _audited(hub, limited) == []  # the first call passes
    (record,) = await _audited(hub, limited)
    assert (record["decision"], record["reason"]) == ("deny", "rate_limited")
    assert record["policy"]["type"] == "qos/ratelimit/proxy"


async def test_workers_sharing_a_file_keep_their_own_chains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run -w 2``: both workers append to one file; they used to share the host as instance and
    number from 1 each, so duplicates and gaps were indistinguishable and no chain verified."""
    import krakenpy.telemetry.instance as instance_module
    from krakenpy.telemetry.audit import verify_trail

    path = str(tmp_path / "audit.log")
    await _chain(path, 2)  # an earlier run
    prev = last_hash(path)
    trails = []
    for slot in ("1", "2"):
        monkeypatch.setattr(instance_module, "worker_tag", lambda slot=slot: {"worker": slot})
        trail = AuditTrail(FileSink(path), service="gw", config_hash="c", prev_hash=prev)
        await trail.start()
        trails.append(trail)
    assert trails[0].instance != trails[1].instance and trails[1].instance.endswith("/w2")
    for _ in range(3):
        for trail in trails:
            record_deny(trail)
            await trail.drain()
    for trail in trails:
        await trail.stop()
    lines = Path(path).read_bytes().splitlines()
    assert len(lines) == 8 and verify_trail(lines)
    assert not verify_trail(lines[:4] + lines[5:])  # a record of one worker taken out
    assert not verify_trail(lines[2:])  # the earlier run's records taken out
    swapped = lines[:2] + [lines[4], lines[3], lines[2]] + lines[5:]
    assert not verify_trail(swapped)
    assert verify_trail(lines + lines[3:6])  # a batch a collector got twice (at-least-once delivery)


@pytest.mark.parametrize("url", ["http://", "http://x y/", "https://c.example:99999/", "http://u:pw@/x"])
def test_a_collector_url_that_can_take_no_batch_is_a_config_error(url: str) -> None:
    from krakenpy.errors import ConfigError
    from krakenpy.telemetry.auditsettings import parse_audit

    with pytest.raises(ConfigError) as err:
        parse_audit({"sink": "http", "url": url}, "extra_config.telemetry/audit")
    (issue,) = err.value.issues
    assert issue.path == "extra_config.telemetry/audit.url" and ":pw@" not in issue.message


def test_a_collector_url_with_a_host_is_taken() -> None:
    from krakenpy.telemetry.auditsettings import parse_audit

    for url in ("http://[::1]:8080/a", "https://u:p@c.example/in?x=1", "http://collector"):
        assert parse_audit({"sink": "http", "url": url}, "p").url == url


async def test_a_client_that_goes_away_after_an_allow_leaves_the_allow() -> None:
    """The guard let the request through (a sensitive route) and the backend was called; the client
    disconnected before the answer: the access was granted all the same."""
    import asyncio

    from krakenpy.config.build import build_service
    from krakenpy.proxy.types import Request, Response
    from krakenpy.telemetry.audit import audit_decision
    from krakenpy.telemetry.exchange import EXCHANGE, Exchange
    from krakenpy.telemetry.hub import Telemetry
    from krakenpy.telemetry.layers.audit import AuditRoute, endpoint_middleware

    started = asyncio.Event()

    async def guarded(request: Request) -> Response:
        request.claims = {"sub": "ada"}
        audit_decision(request.context, policy="auth/validator")
        started.set()
        await asyncio.sleep(30)  # the backend
        return Response(data={})

    service = build_service(
        {"version": 3, "endpoints": [{"endpoint": "/x", "backend": [{"host": ["http://h"], "url_pattern": "/"}]}]}
    )
    endpoint = service.endpoints[0]
    hub = Telemetry()
    hub.audit = AuditTrail(FileSink("/dev/null"), service="gw", config_hash="c")
    handler = endpoint_middleware(hub, endpoint, AuditRoute(endpoint, sensitive=True))(guarded)
    request = Request(method="GET", path="/x", params={}, headers={}, query={}, endpoint="/x")
    request.context[EXCHANGE] = Exchange()
    task = asyncio.ensure_future(handler(request))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (record,) = hub.audit.queue
    assert record["decision"] == "allow" and record["subject"] == {"sub": "ada"}
    assert record["response"] == {"status": 500}  # as the access log records a request the client left


def test_a_fingerprint_key_variable_that_is_not_set_is_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    from krakenpy.components.telemetry.audit import COMPONENT
    from tests.components.helpers import site

    monkeypatch.delenv("AUDIT_FP_KEY_UNSET", raising=False)
    at = site("telemetry/audit", "service")
    COMPONENT.parse({"fingerprint_key_env": "AUDIT_FP_KEY_UNSET"}, at)
    (note,) = at.notes
    assert note.severity == "warning" and note.path.endswith("telemetry/audit.fingerprint_key_env")
    monkeypatch.setenv("AUDIT_FP_KEY_UNSET", "k")
    at = site("telemetry/audit", "service")
    assert COMPONENT.parse({"fingerprint_key_env": "AUDIT_FP_KEY_UNSET"}, at).fingerprint_key == b"k"
    assert not at.notes


def test_the_first_drop_is_logged_whatever_the_clock(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import krakenpy.telemetry.audit as audit_module

    monkeypatch.setattr(audit_module.time, "monotonic", lambda: 3.0)  # a host booted 3 s ago
    trail = AuditTrail(FileSink("/dev/null"), service="gw", config_hash="c", queue_size=1)
    caplog.set_level(logging.ERROR, logger="krakenpy.audit")
    record_deny(trail, 2)
    assert trail.dropped == 1 and any("queue full" in r.getMessage() for r in caplog.records)


async def test_a_record_the_collector_refuses_for_good_does_not_stall_the_trail() -> None:
    """A collector that answers 413 to a large batch, or 400 to one record it cannot read: the same
    body retried for ever held every later record back until the queue dropped them all."""
    import asyncio

    got: list[bytes] = []

    async def picky(request: web.Request) -> web.Response:
        body = await request.read()
        if body.count(b"\n") > 2:
            return web.Response(status=413)
        if b"POISON" in body:
            return web.Response(status=400)
        got.extend(body.splitlines())
        return web.Response()

    server, trail = await _collector_trail(picky, timeout=5)
    try:
        record_deny(trail, 3)
        trail.record(
            decision="deny", reason="bot_detected", policy="security/bot-detector", route_id="GET /x", status=403,
            request={"id": None, "method": "GET", "route": "/x", "path": "/x"},
            client={"address": "203.0.113.7", "user_agent": "POISON"}, subject=None,
        )  # fmt: skip
        record_deny(trail, 2)
        await asyncio.wait_for(trail.drain(), 5)
        assert [orjson.loads(line)["seq"] for line in got] == [1, 2, 3, 5, 6]
        assert trail.dropped == 1 and trail.written == 5
    finally:
        await trail.sink.close()
        await server.close()


def test_a_sink_set_at_endpoint_level_is_warned_about() -> None:
    from krakenpy.components.telemetry.audit import COMPONENT
    from tests.components.helpers import site

    backend = {"host": ["http://h"], "url_pattern": "/"}
    audited = {
        "version": 3,
        "extra_config": {"telemetry/audit": {}},
        "endpoints": [{"endpoint": "/a", "backend": [backend]}],
    }
    at = site("telemetry/audit", "endpoint", audited)
    COMPONENT.parse({"sink": "file", "path": "/tmp/x.log", "sensitive": True}, at)
    assert sorted(n.path.rsplit(".", 1)[-1] for n in at.notes) == ["path", "sink"]
    assert all(n.severity == "warning" for n in at.notes)
    at = site("telemetry/audit", "endpoint", audited)
    COMPONENT.parse({"sensitive": True, "sample": 0.5}, at)
    assert not at.notes


@pytest.mark.parametrize("how", ["rotated", "deleted"])
async def test_a_file_moved_or_deleted_while_running_is_created_anew(tmp_path: Path, how: str) -> None:
    import os

    path = str(tmp_path / "audit.log")
    trail = AuditTrail(FileSink(path), service="gw", config_hash="c")
    record_deny(trail, 2)
    await trail.drain()
    old = Path(path).read_bytes().splitlines()
    if how == "rotated":
        os.rename(path, path + ".1")
    else:
        os.unlink(path)
    record_deny(trail, 2)
    await trail.drain()
    await trail.sink.close()
    new = Path(path).read_bytes().splitlines()  # not into the rotated file, nor into a deleted one
    assert [orjson.loads(line)["seq"] for line in new] == [3, 4]
    assert verify_chain(old + new) and os.stat(path).st_mode & 0o777 == 0o600
    if how == "rotated":
        assert Path(path + ".1").read_bytes().splitlines() == old


@pytest.mark.parametrize("on_failure", ["drop", "block"])
async def test_lost_records_are_a_prometheus_counter(
    served, upstream, monkeypatch: pytest.MonkeyPatch, on_failure: str
) -> None:  # type: ignore[no-untyped-def]
    """observability §3.4: the records the trail lost are a metric to alert on,
    ``krakenpy_audit_records_dropped_total``, with OTel metrics on (a collector that hangs, a queue of 1);
    with ``on_failure: block`` the requests refused instead, ``krakenpy_audit_requests_refused_total``."""
    from prometheus_client.parser import text_string_to_metric_families

    from krakenpy.telemetry import audit as audit_module
    from krakenpy.telemetry.servers import PROM_LISTENERS
    from krakenpy.telemetry.setup import hub_for
    from tests.components.telemetry.conftest import recording_app
    from tests.conftest import free_port

    monkeypatch.setattr(audit_module, "STOP_WAIT", 0.1)

    async def hang(request: web.Request) -> web.Response:  # slower than the six requests
        await asyncio.sleep(1.5)
        return web.Response()

    collector = web.Application()
    collector.router.add_post("/audit", hang)
    sink = await upstream(collector)
    ok = await upstream(recording_app([], {"ok": True}))
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "telemetry/audit": {"sink": "http", "url": f"{sink}/audit", "queue_size": 1, "on_failure": on_failure},
                "telemetry/opentelemetry": {
                    "exporters": {"prometheus": [{"name": "p", "port": free_port(), "listen_ip": "127.0.0.1"}]}
                },
            },
            "endpoints": [
                {
                    "endpoint": "/x",
                    "extra_config": {"validation/cel": [{"check_expr": "req_method == 'POST'"}]},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                }
            ],
        }
    )
    statuses = [(await s.client.get("/x")).status for _ in range(6)]  # each a deny record, when decided
    trail = hub_for(s.gateway.resources).audit
    assert trail is not None
    if on_failure == "drop":
        assert statuses == [500] * 6 and trail.dropped >= 3
    else:
        assert statuses.count(503) >= 3 and trail.refused == statuses.count(503) and trail.dropped == 0
    port = s.gateway.resources.state[PROM_LISTENERS][0].bound_port
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            text = await resp.text()
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("krakenpy_audit")
    }
    expected = {"krakenpy_audit_records_dropped_total": trail.dropped}
    if on_failure == "block":
        expected["krakenpy_audit_requests_refused_total"] = trail.refused
    assert values == expected


def test_check_warns_about_an_audit_file_open_to_others(tmp_path: Path) -> None:
    """The trail creates its file 0600 but keeps an existing file's mode: ``check`` (and ``run``) say so
    when others can read it; ``--lint`` makes it an error."""
    import os

    from tests.cli_gateway import check_config

    trail = tmp_path / "audit.log"
    trail.write_bytes(b"")
    os.chmod(trail, 0o644)
    config = tmp_path / "krakend.json"
    doc = {"version": 3, "endpoints": [], "extra_config": {"telemetry/audit": {"sink": "file", "path": str(trail)}}}
    config.write_bytes(orjson.dumps(doc))
    done = check_config(config)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "extra_config.telemetry/audit.path" in out and "open to others (mode 0644)" in out
    assert check_config(config, "--lint").returncode == 1
    os.chmod(trail, 0o600)
    quiet = check_config(config)
    assert quiet.returncode == 0 and "open to others" not in quiet.stdout + quiet.stderr
