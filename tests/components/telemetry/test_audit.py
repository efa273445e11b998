from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from krakenpy.config.build import build_service
from krakenpy.errors import ConfigError, Rejection
from krakenpy.proxy.types import Proxy, Request, Response
from krakenpy.telemetry.audit import AuditTrail, audit_decision, verify_chain
from krakenpy.telemetry.auditsettings import parse_audit
from krakenpy.telemetry.auditsink import FileSink, HttpSink, ends_torn, last_hash
from krakenpy.telemetry.exchange import EXCHANGE, Exchange
from krakenpy.telemetry.hub import Telemetry
from krakenpy.telemetry.layers.audit import AuditRoute, endpoint_middleware

TOKEN = "eyJhbGciOi.CANARYTOKEN.sig"


def _endpoint() -> Any:
    service = build_service(
        {
            "version": 3,
            "endpoints": [{"endpoint": "/orders/{id}", "backend": [{"host": ["http://h"], "url_pattern": "/"}]}],
        }
    )
    return service.endpoints[0]


def _request(claims: dict[str, Any] | None = None) -> Request:
    r = Request(
        method="GET", path="/orders/1", params={"Id": "1"}, headers={"Authorization": [f"Bearer {TOKEN}"]},
        query={}, client_ip="203.0.113.7", client_path="/orders/1", endpoint="/orders/{id}",
    )  # fmt: skip
    exchange = r.context[EXCHANGE] = Exchange()
    exchange.request_id = "req-9"
    r.claims = claims
    return r


def _guard(expired: bool) -> Proxy:
    """A JWT-like guard: rejects with a reason, or sets the claims and reports an allow."""

    async def guard(request: Request) -> Response:
        if expired:
            raise Rejection(401, reason="jwt_expired", policy="auth/validator", detail="exp 2026-11-30T15:59:00Z")
        request.claims = {"sub": "user-42", "iss": "https://idp.example", "scope": "orders:read", "azp": "web"}
        audit_decision(request.context, policy="auth/validator")
        return Response(data={"ok": True})

    return guard


def test_parse_audit_rules() -> None:
    assert parse_audit({}, "p").sink == "stdout"
    with pytest.raises(ConfigError) as err:
        parse_audit({"sink": "file"}, "p")
    assert err.value.issues[0].path == "p.path"
    with pytest.raises(ConfigError):
        parse_audit({"sink": "http", "url": "ftp://x"}, "p")


def test_the_fingerprint_key_is_never_in_the_options_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_REPR_KEY", "operator-secret-key")
    options = parse_audit({"fingerprint_key_env": "AUDIT_REPR_KEY"}, "p")
    assert options.fingerprint_key == b"operator-secret-key"
    assert "operator-secret-key" not in repr(options) and "fingerprint_key" not in repr(options)


@pytest.mark.parametrize("host", ["a..b", "x" * 64, ".a"])
def test_a_collector_host_no_resolver_takes_is_refused_at_the_url(host: str) -> None:
    # aiohttp's resolver raised UnicodeError at every batch: every record lost
    with pytest.raises(ConfigError) as err:
        parse_audit({"sink": "http", "url": f"http://{host}:8080/audit"}, "p")
    [issue] = err.value.issues
    assert issue.path == "p.url" and f"host {host!r} has an empty label" in issue.message
    assert parse_audit({"sink": "http", "url": "http://xn--n-nga1b.de:8080/"}, "p").sink == "http"
    assert parse_audit({"sink": "http", "url": "http://ünï.de:8080/"}, "p").sink == "http"


async def test_audit_records_denies_and_sensitive_allows_in_a_hash_chain(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.log")
    hub = Telemetry()
    hub.audit = AuditTrail(FileSink(path), service="gw", config_hash="c0ffee")
    endpoint = _endpoint()
    deny = endpoint_middleware(hub, endpoint, AuditRoute(endpoint, sensitive=True))(_guard(expired=True))
    allow = endpoint_middleware(hub, endpoint, AuditRoute(endpoint, sensitive=True))(_guard(expired=False))
    with pytest.raises(Rejection):
        await deny(_request())
    await allow(_request())
    await hub.audit.drain()
    await hub.audit.sink.close()
    lines = Path(path).read_bytes().splitlines()
    assert len(lines) == 2 and verify_chain(lines)
    denied, allowed = (orjson.loads(line) for line in lines)
    assert (
        denied["decision"] == "deny" and denied["reason"] == "jwt_expired" and denied["event"] == "authn_token_expired"
    )
    assert denied["policy"] == {
        "id": "GET /orders/{id}#auth/validator",
        "type": "auth/validator",
        "config_hash": "c0ffee",
    }
    assert denied["response"] == {"status": 401} and denied["reason_detail"] == "exp 2026-11-30T15:59:00Z"
    assert denied["request"]["id"] == "req-9" and denied["client"]["address"] == "203.0.113.7"
    assert denied["subject"]["credential"].startswith("hmac-sha256:")
    assert allowed["decision"] == "allow" and allowed["seq"] == denied["seq"] + 1
    assert allowed["subject"]["sub"] == "user-42" and allowed["subject"]["scopes"] == ["orders:read"]
    assert allowed["subject"]["client_id"] == "web" and allowed["response"] == {"status": 200}
    assert b"CANARYTOKEN" not in Path(path).read_bytes()
    assert last_hash(path) == allowed["hash"]  # a restart continues the chain


@pytest.mark.timeout(30)
def test_a_restart_reads_the_end_of_a_regular_file_only(tmp_path: Path) -> None:
    """The chain to continue and a torn last line come from a regular file's end: a FIFO nobody
    writes to (a log shipper not there yet), a device or a missing file has none, and is never
    waited on or read."""
    fifo = tmp_path / "shipper"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero", str(tmp_path / "missing.log")):
        assert last_hash(path) is None and not ends_torn(path), path
    log = tmp_path / "a.log"
    log.write_bytes(b'{"seq":1,"hash":"h1"}\n{"seq":2,"hash":"h2"}\n{"seq":3,"ha')
    assert last_hash(str(log)) == "h2" and ends_torn(str(log))
    log.write_bytes(b'{"seq":1,"hash":"h1"}\n')
    assert last_hash(str(log)) == "h1" and not ends_torn(str(log))
    log.write_bytes(b"")
    assert last_hash(str(log)) is None and not ends_torn(str(log))


async def test_audit_allows_not_kept_on_ordinary_routes(tmp_path: Path) -> None:
    hub = Telemetry()
    hub.audit = AuditTrail(FileSink(str(tmp_path / "a.log")), service="gw", config_hash="x")
    await endpoint_middleware(hub, _endpoint(), None)(_guard(expired=False))(_request())
    assert not hub.audit.queue and hub.audit.seq == 0


async def test_audit_blocked_sink_drops_counts_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp.test_utils import TestServer

    release = asyncio.Event()

    async def stuck(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/", stuck)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    hub = Telemetry()
    trail = hub.audit = AuditTrail(HttpSink(f"http://127.0.0.1:{server.port}/", timeout=30), service="gw",
                                   config_hash="x", queue_size=3)  # fmt: skip
    await trail.start()
    deny = endpoint_middleware(hub, _endpoint(), None)(_guard(expired=True))
    caplog.set_level(logging.ERROR, logger="krakenpy.audit")
    for _ in range(10):
        with pytest.raises(Rejection):
            await deny(_request())
        await asyncio.sleep(0.01)  # the writer takes the first record, then blocks on the collector
    assert trail.dropped >= 5 and trail.seq == 10
    assert any("dropped" in r.getMessage() for r in caplog.records)
    release.set()
    await trail.stop()
    await server.close()


async def test_audit_component_wires_the_trail_when_serving(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "audit.log"
    s = await served(
        {
            "version": 3,
            "extra_config": {"telemetry/audit": {"sink": "file", "path": str(path)}},
            "endpoints": [
                {
                    "endpoint": "/a",
                    "extra_config": {"telemetry/audit": {"sensitive": True}},
                    "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}],
                },
            ],
        }  # fmt: skip
    )
    from krakenpy.telemetry.hub import HUB

    hub = s.gateway.resources.state[HUB]
    assert hub.audit is not None and path.exists()
    hub.audit.record(decision="deny", reason="ip_denied", policy="security/ip", route_id="GET /a", status=403,
                     request={}, client={}, subject=None)  # fmt: skip
    await s.gateway.close()
    assert verify_chain(path.read_bytes().splitlines())


async def test_audit_records_a_real_guards_rejection_through_the_gateway(served, upstream, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.components.telemetry.conftest import recording_app

    key = "4d2c61e1-34c4-e96c-9456-15bd983c5019"
    base = await upstream(recording_app([]))
    path = tmp_path / "audit.log"
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "auth/api-keys": {"keys": [{"key": key, "roles": ["user"]}]},
                "telemetry/audit": {"sink": "file", "path": str(path)},
            },
            "endpoints": [
                {
                    "endpoint": "/orders/{id}",
                    "extra_config": {"auth/api-keys": {"roles": ["admin"]}},
                    "backend": [{"host": [base], "url_pattern": "/o/{id}"}],
                },
            ],
        }  # fmt: skip
    )
    assert (await s.client.get("/orders/1", headers={"X-Request-Id": "a-1"})).status == 401
    assert (await s.client.get("/orders/2", headers={"Authorization": f"Bearer {key}"})).status == 403
    await s.gateway.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2 and verify_chain(lines)
    first, second = (orjson.loads(line) for line in lines)
    assert (first["reason"], first["response"], first["request"]["id"]) == ("no_credentials", {"status": 401}, "a-1")
    assert first["policy"]["id"] == "GET /orders/{id}#auth/api-keys" and first["request"]["route"] == "/orders/{id}"
    assert second["reason"] == "role_missing" and second["decision"] == "deny"
    assert second["subject"]["credential"].startswith("hmac-sha256:") and key.encode() not in path.read_bytes()
