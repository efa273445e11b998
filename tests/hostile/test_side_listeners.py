"""The listeners beside the gateway (``/__stats``, Prometheus ``/metrics``, the revocation admin API) keep
the gateway's wire rules: no ``Server`` header, a fixed 400 that never echoes the request, quiet client
disconnects, and credentials compared as bytes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from krakenpy.jose.bloom import RotatingBloom
from krakenpy.jose.revocation import AdminServer
from krakenpy.telemetry.servers import PROM_LISTENERS, STATS_LISTENER
from tests.components.telemetry.conftest import served as served  # the fixture
from tests.conftest import free_port
from tests.server.wirekit import raw_request

#: requests aiohttp's parser refuses; its own answer quoted the offending line (a cookie here)
MALFORMED = {
    "header without colon": b"GET {path} HTTP/1.1\r\nHost: x\r\nCookie: s=CANARYCOOKIE\r\nno colon here\r\n\r\n",
    "control byte in a header": b"GET {path} HTTP/1.1\r\nHost: x\r\nCookie: s=CANARYCOOKIE\x01\r\n\r\n",
    "bad request line": b"GET {path}?t=CANARYCOOKIE HTTP/1.1 junk\r\nHost: x\r\n\r\n",
}


def _get(path: str, *lines: str) -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/1.1", "Host: x", "Connection: close", *lines]) + "\r\n\r\n").encode()


async def _wire_rules(port: int, path: str) -> None:
    ok = await raw_request(port, _get(path))
    assert ok.status == 200 and "server" not in ok.names()
    missing = await raw_request(port, _get("/nope"))
    assert missing.status == 404 and "server" not in missing.names()
    for name, template in MALFORMED.items():
        head = await raw_request(port, template.replace(b"{path}", path.encode()))
        assert (head.status, head.body) == (400, b"400 Bad Request"), name
        assert "server" not in head.names() and b"CANARY" not in head.body, name


async def test_side_listeners_telemetry_keep_the_gateway_wire_rules(served: Any) -> None:
    stats, prom = free_port(), free_port()
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "telemetry/metrics": {"listen_address": f"127.0.0.1:{stats}"},
                "telemetry/opentelemetry": {
                    "exporters": {"prometheus": [{"name": "p", "port": prom, "listen_ip": "127.0.0.1"}]}
                },
            },
            "endpoints": [{"endpoint": "/e", "backend": [{"host": ["http://127.0.0.1:19"], "url_pattern": "/"}]}],
        }
    )
    state = s.gateway.resources.state
    assert state[STATS_LISTENER].bound_port == stats and state[PROM_LISTENERS][0].bound_port == prom
    await _wire_rules(stats, "/__stats")
    await _wire_rules(prom, "/metrics")
    moved = await raw_request(stats, _get("/__stats/"))
    assert moved.status == 301 and moved.get("Location") == "/__stats"


async def test_side_listeners_revoker_bytes_disconnects_and_wire_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = RotatingBloom(tmp_path / "bloom", capacity=100, false_positive=1e-6, ttl=60)
    port = free_port()
    server = AdminServer(store, host="127.0.0.1", port=port, key="admin-secret")
    await server.start()
    try:
        body = b'{"elements": ["jti-1"]}'

        def post(path: str, auth: str, payload: bytes = body) -> bytes:
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {auth}\r\n"
            return (head + f"Content-Length: {len(payload)}\r\n\r\n").encode("latin-1") + payload

        for auth in ("Bearer \xff", "Bearer \xff\xfe", "Bearer caf\xc3\xa9", "Bearer nope"):
            head = await raw_request(port, post("/revoke", auth))
            assert head.status == 401 and "server" not in head.names(), auth
        caplog.set_level(logging.DEBUG)
        for _ in range(3):  # the client leaves halfway through its body
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post("/check", "Bearer admin-secret")[:-5])
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.close()
            await writer.wait_closed()
        await asyncio.sleep(0.1)
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        added = await raw_request(port, post("/revoke", "Bearer admin-secret"))
        assert added.status == 200 and added.body == b'{"added":1}' and "server" not in added.names()
        wrong = await raw_request(port, _get("/revoke"))
        assert wrong.status == 405 and wrong.get("Allow") == "POST"
        too_big = post("/check", "Bearer admin-secret", b"x" * (1024 * 1024 + 1))
        big = await raw_request(port, too_big[: too_big.index(b"\r\n\r\n") + 4])  # refused on its length
        assert big.status == 413
        for name, template in MALFORMED.items():
            head = await raw_request(port, template.replace(b"{path}", b"/check"))
            assert (head.status, head.body) == (400, b"400 Bad Request"), name
    finally:
        await server.close()
        store.close()
