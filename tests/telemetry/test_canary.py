"""A secret canary through every telemetry output at once: it must appear in none of them."""

from __future__ import annotations

import asyncio
import gzip
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from yarl import URL

from krakenpy.telemetry.export import EXPORTER
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver

CANARY = "c4n4ry-7f3a9d2e"


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.data.append(gzip.decompress(data))


async def _drained(s: Any, gelf: _Collect, gelf_transport: Any, capfd: Any, datagrams: int) -> Any:
    """Every output written out: the span batch posted, ``datagrams`` GELF lines received (or five
    seconds gone: the test's own count then tells), the log handler flushed, the gateway closed;
    stdout and stderr as captured."""
    await s.gateway.resources.state[EXPORTER].flush()
    deadline = asyncio.get_running_loop().time() + 5
    while len(gelf.data) < datagrams and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    logging.getLogger("krakenpy").handlers[0].flush()
    await s.gateway.close()
    gelf_transport.close()
    return capfd.readouterr()


def _redirect(location: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


def _collector(bodies: list[bytes]) -> web.Application:
    """An audit trail's HTTP collector: keeps every batch posted to it."""

    async def handler(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/audit", handler)
    return app


@pytest.mark.parametrize("sink", ["file", "http"])
async def test_secret_canary_reaches_no_output(  # type: ignore[no-untyped-def]
    served, upstream, capfd, tmp_path: Path, dead_port: int, sink: str
) -> None:
    """One secret in ``Authorization``, a cookie, a ``sig`` query value, a JSON body field and a
    ``User-Agent`` quoting it as a bearer token, sent to routes that answer, fail, are refused by a
    guard (so the audit trail has records to write: a wrong API key, a JSON Schema violation) and to
    ``/__debug/``; then every output is searched: standard output and error, the access log file, the
    audit trail (a file, or the batches its HTTP collector got), the GELF datagrams, the OTLP bodies
    and the error bodies."""
    loop = asyncio.get_running_loop()
    gelf_transport, gelf = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([], {"ok": True}))
    failing = await upstream(recording_app([], {"error": "no"}, status=500))
    dead = f"http://127.0.0.1:{dead_port}"
    moved = await upstream(_redirect(f"http://ada:{CANARY}@127.0.0.1:{dead_port}/elsewhere"))
    access_file, audit_file = tmp_path / "access.log", tmp_path / "audit.log"
    collected: list[bytes] = []
    audit: dict[str, Any] = {"sink": "file", "path": str(audit_file)}
    if sink == "http":
        audit = {"sink": "http", "url": f"{await upstream(_collector(collected))}/audit"}
    everything = {"input_headers": ["*"], "input_query_strings": ["*"]}
    schema = {"type": "object", "properties": {"password": {"type": "string", "minLength": 64}}}
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "router": {"return_error_msg": True},
                "telemetry/logging": {"level": "DEBUG", "prefix": "[KRAKEND]", "stdout": True},
                "telemetry/gelf": {
                    "address": f"127.0.0.1:{gelf_transport.get_extra_info('sockname')[1]}",
                    "enable_tcp": False,
                },
                "telemetry/access_log": {"format": "json", "file": str(access_file)},
                "telemetry/audit": audit | {"sensitive": True},
                "auth/api-keys": {"keys": [{"key": "not-the-canary-0123456789", "roles": ["u"]}]},
                "telemetry/opentelemetry": {
                    "exporters": {
                        "otlp": [{"name": "r", "host": "127.0.0.1", "port": receiver_port, "use_http": True}]
                    },
                    "layers": {
                        "global": {"report_headers": True},
                        "proxy": {"report_headers": True},
                        "backend": {"traces": {"round_trip": True, "report_headers": True}},
                    },
                },
            },
            "endpoints": [
                {"endpoint": "/ok", "method": "POST", **everything, "backend": [{"host": [ok], "url_pattern": "/o"}]},
                {
                    "endpoint": "/fail",
                    "method": "POST",
                    **everything,
                    "backend": [{"host": [failing], "url_pattern": "/f"}],
                },
                {
                    "endpoint": "/down",
                    "method": "POST",
                    **everything,
                    "backend": [{"host": [dead], "url_pattern": "/d"}],
                },
                {  # a guard refuses the canary as an API key: a deny in the audit trail
                    "endpoint": "/guarded",
                    "method": "POST",
                    **everything,
                    "extra_config": {"auth/api-keys": {"roles": ["u"]}},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                },
                {  # a JSON Schema violation at the field holding the canary: a deny too
                    "endpoint": "/signup",
                    "method": "POST",
                    **everything,
                    "extra_config": {"validation/json-schema": schema},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                },
                {  # a backend URL's password: Go's client masks it in its errors (user:***@)
                    "endpoint": "/userinfo",
                    "method": "POST",
                    "input_query_strings": ["*"],  # no Authorization: the URL's credentials are sent
                    "backend": [
                        {
                            "host": [f"http://ada:{CANARY}@127.0.0.1:{dead_port}"],
                            "url_pattern": "/u",
                            "disable_host_sanitize": True,
                        }
                    ],
                },
                {  # a redirect to a URL with a password, which fails
                    "endpoint": "/redirected",
                    "method": "POST",
                    "input_query_strings": ["*"],
                    "backend": [{"host": [moved], "url_pattern": "/m"}],
                },
            ],
        },  # fmt: skip
        debug=True,
    )
    headers = {
        "Authorization": f"Bearer {CANARY}",
        "Cookie": f"session={CANARY}; theme=dark",
        "User-Agent": f"tool/1.0 Bearer {CANARY}",
        "Content-Type": "application/json",
    }
    body = orjson.dumps({"user": "ada", "password": CANARY})
    error_bodies: list[bytes] = []
    statuses: dict[str, int] = {}
    for path in ("/ok", "/fail", "/down", "/guarded", "/signup", "/userinfo", "/redirected", "/__debug/x", "/nowhere"):
        resp = await s.client.post(f"{path}?sig={CANARY}&page=1", data=body, headers=headers)
        statuses[path] = resp.status
        payload = await resp.read()
        if resp.status >= 400 or path.startswith("/__debug"):
            error_bodies.append(payload)
    captured = await _drained(s, gelf, gelf_transport, capfd, 15)
    outputs = {
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "access file": access_file.read_bytes(),
        "audit": audit_file.read_bytes() if sink == "file" else b"".join(collected),
        "gelf": b"\n".join(gelf.data),
        "otlp": b"\n".join(receiver.bodies),
        "error bodies": b"\n".join(error_bodies),
    }
    # every output was really produced (the test would pass vacuously otherwise)
    assert b"[ENDPOINT: /fail][BACKEND: /f]" in outputs["stdout"] and b"sig=[REDACTED]" in outputs["stdout"]
    assert b"password" in outputs["stdout"] and b"Bearer [REDACTED]" in outputs["stdout"]  # the /__debug/ line
    assert statuses == {
        "/ok": 200, "/fail": 500, "/down": 500, "/guarded": 401, "/signup": 400,
        "/userinfo": 500, "/redirected": 500, "/__debug/x": 200, "/nowhere": 404,
    }  # fmt: skip
    assert outputs["access file"].count(b"\n") == 9 and outputs["otlp"]
    assert outputs["gelf"].count(b'\\"latency_ms\\":') == 9  # every access line went to GELF too
    # the audit trail has the two denies, with the agent it quotes masked
    records = [orjson.loads(line) for line in outputs["audit"].splitlines()]
    assert [(r["policy"]["id"], r["decision"]) for r in records] == [
        ("POST /guarded#auth/api-keys", "deny"),
        ("POST /signup#validation/json-schema", "deny"),
    ]
    assert {r["client"]["user_agent"] for r in records} == {"tool/1.0 Bearer [REDACTED]"}
    assert (
        b"http.request.header.authorization" in outputs["otlp"]
        and b"invalid status code 500" in outputs["error bodies"]
    )
    # the failed fetches (/down; a URL with a password, direct and after a redirect: its URL masked),
    # worded as Go's client words them
    assert outputs["error bodies"].count(b": connect: connection refused") == 3
    assert b"REDACTED:REDACTED@127.0.0.1" in outputs["error bodies"] and b"ada:" not in outputs["stdout"]
    leaks = {name: data.count(CANARY.encode()) for name, data in outputs.items() if CANARY.encode() in data}
    assert leaks == {}


async def test_secret_canary_in_disguise_reaches_no_output(served, upstream, capfd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The canary where the usual rules missed it (an adversarial review, round 28): a query key
    percent-encoded (``%73ig``, the gateway decodes it to ``sig``), a value running past ``;``, a
    JSON-schema violation quoting a masked field, a field named in another case, a Lua error and a
    Lua ``print`` quoting a credential that has no scheme, an ``Authorization`` without a scheme, a
    ``Referer`` carrying ``?code=`` and a ``User-Agent`` quoting a bearer token."""
    loop = asyncio.get_running_loop()
    gelf_transport, gelf = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([], {"ok": True}))
    combined_file = tmp_path / "combined.log"
    everything = {"input_headers": ["*"], "input_query_strings": ["*"]}
    lua_error = "local r = request.load(); error('bad key ' .. r:headers('X-Api-Key'))"
    lua_print = "local r = request.load(); print('auth=' .. r:headers('Authorization'))"
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "router": {"return_error_msg": True},
                "telemetry/logging": {"level": "DEBUG", "prefix": "[KRAKEND]", "stdout": True},
                "telemetry/gelf": {
                    "address": f"127.0.0.1:{gelf_transport.get_extra_info('sockname')[1]}",
                    "enable_tcp": False,
                },
                "telemetry/access_log": {"format": "combined", "file": str(combined_file), "stdout": False},
                "telemetry/opentelemetry": {
                    "exporters": {
                        "otlp": [{"name": "r", "host": "127.0.0.1", "port": receiver_port, "use_http": True}]
                    },
                    "layers": {"global": {"report_headers": True}, "backend": {"traces": {"report_headers": True}}},
                },
            },
            "endpoints": [
                {"endpoint": "/ok", "method": "POST", **everything, "backend": [{"host": [ok], "url_pattern": "/o"}]},
                {
                    "endpoint": "/signup",
                    "method": "POST",
                    **everything,
                    "extra_config": {
                        "validation/json-schema": {
                            "type": "object",
                            "properties": {"password": {"type": "string", "minLength": 64}},
                        }
                    },
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                },
                {
                    "endpoint": "/lua-error",
                    "method": "POST",
                    **everything,
                    "extra_config": {"modifier/lua-proxy": {"pre": lua_error}},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                },
                {
                    "endpoint": "/lua-print",
                    "method": "POST",
                    **everything,
                    "extra_config": {"modifier/lua-proxy": {"pre": lua_print}},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                },
            ],
        },  # fmt: skip
        debug=True,
    )
    headers = {
        "Authorization": f"{CANARY}a {CANARY}b",  # no scheme: no first word kept as one
        "X-Api-Key": CANARY,
        "Referer": f"https://app.example/cb?code={CANARY}&state=1",
        "User-Agent": f"tool/1.0 Bearer {CANARY}",
        "Content-Type": "application/json",
    }
    bodies = [orjson.dumps({"password": CANARY}), orjson.dumps({"Password": CANARY, "PASSWORD": CANARY})]
    queries = [f"%73ig={CANARY}", f"%53IG={CANARY}", f"page=1;sig={CANARY}", f"sig=a;{CANARY}"]
    statuses: dict[str, int] = {}
    error_bodies: list[bytes] = []
    for path, body, query in [
        ("/ok", bodies[1], queries[0]),
        ("/signup", bodies[0], queries[1]),
        ("/lua-error", bodies[0], queries[2]),
        ("/lua-print", bodies[0], queries[3]),
        ("/__debug/x", bodies[1], queries[0]),
    ]:
        # sent as written: yarl would decode ``%73`` to ``s`` in a URL it normalises
        url = URL(f"{str(s.client.make_url('')).rstrip('/')}{path}?{query}", encoded=True)
        resp = await s.client.session.post(url, data=body, headers=headers)
        statuses[path] = resp.status
        payload = await resp.read()
        if resp.status >= 400:
            error_bodies.append(payload)
    captured = await _drained(s, gelf, gelf_transport, capfd, 5)
    outputs = {
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "combined file": combined_file.read_bytes(),
        "gelf": b"\n".join(gelf.data),
        "otlp": b"\n".join(receiver.bodies),
        "error bodies": b"\n".join(error_bodies),
    }
    # each disguise was really exercised and written somewhere (the test would pass vacuously otherwise)
    assert statuses == {"/ok": 200, "/signup": 400, "/lua-error": 500, "/lua-print": 200, "/__debug/x": 200}
    out = outputs["stdout"]
    assert b"%73ig=[REDACTED]" in outputs["combined file"] and b"%53IG=[REDACTED]" in outputs["combined file"]
    assert b"page=1;sig=[REDACTED]" in outputs["combined file"] and b"sig=[REDACTED] HTTP" in outputs["combined file"]
    assert b"at '/password': minLength violated (value redacted)" in out
    assert b"bad key [REDACTED]" in out and b"auth=[REDACTED]" in out
    assert b"code=[REDACTED]" in outputs["combined file"] and b"Bearer [REDACTED]" in outputs["combined file"]
    assert b'"Password":"[REDACTED]"' in out and b'"PASSWORD":"[REDACTED]"' in out  # the /__debug/ line
    assert outputs["combined file"].count(b"\n") == 5 and outputs["gelf"] and outputs["otlp"]
    for name, data in outputs.items():
        at = data.find(CANARY.encode())
        if at >= 0:
            print("LEAK", name, data[max(0, at - 200) : at + 60])
    leaks = {name: data.count(CANARY.encode()) for name, data in outputs.items() if CANARY.encode() in data}
    assert leaks == {}


async def test_the_traced_edges_agent_is_redacted(served, upstream) -> None:  # type: ignore[no-untyped-def]
    """The default access log with traces (the traced edge's own SERVER span record): a token in a
    ``User-Agent`` is masked on the span, once per distinct agent."""
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([], {"ok": True}))
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "telemetry/access_log": {"stdout": False},
                "telemetry/opentelemetry": {
                    "exporters": {
                        "otlp": [{"name": "r", "host": "127.0.0.1", "port": receiver_port, "use_http": True}]
                    },
                },
            },
            "endpoints": [{"endpoint": "/ok", "backend": [{"host": [ok], "url_pattern": "/o"}]}],
        }
    )
    for agent in (f"tool/1.0 Bearer {CANARY}", f"tool/1.0 Bearer {CANARY}", "plain/2.0"):
        resp = await s.client.get("/ok", headers={"User-Agent": agent})
        assert resp.status == 200
    await s.gateway.resources.state[EXPORTER].flush()
    otlp = b"\n".join(receiver.bodies)
    assert otlp.count(b"tool/1.0 Bearer [REDACTED]") == 2 and b"plain/2.0" in otlp
    assert CANARY.encode() not in otlp
