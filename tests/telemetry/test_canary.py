"""A secret canary through every telemetry output at once: it must appear in none of them."""

from __future__ import annotations

import asyncio
import gzip
import logging
from pathlib import Path

import orjson
from aiohttp import web

from krakenpy.telemetry.export import EXPORTER
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver

CANARY = "c4n4ry-7f3a9d2e"


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.data.append(gzip.decompress(data))


def _redirect(location: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def test_secret_canary_reaches_no_output(served, upstream, capfd, tmp_path: Path, dead_port: int) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    gelf_transport, gelf = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([], {"ok": True}))
    failing = await upstream(recording_app([], {"error": "no"}, status=500))
    dead = f"http://127.0.0.1:{dead_port}"
    moved = await upstream(_redirect(f"http://ada:{CANARY}@127.0.0.1:{dead_port}/elsewhere"))
    access_file, audit_file = tmp_path / "access.log", tmp_path / "audit.log"
    everything = {"input_headers": ["*"], "input_query_strings": ["*"]}
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
                "telemetry/audit": {"sink": "file", "path": str(audit_file), "sensitive": True},
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
        "Content-Type": "application/json",
    }
    body = orjson.dumps({"user": "ada", "password": CANARY})
    error_bodies: list[bytes] = []
    for path in ("/ok", "/fail", "/down", "/userinfo", "/redirected", "/__debug/x", "/nowhere"):
        resp = await s.client.post(f"{path}?sig={CANARY}&page=1", data=body, headers=headers)
        payload = await resp.read()
        if resp.status >= 400 or path.startswith("/__debug"):
            error_bodies.append(payload)
    await s.gateway.resources.state[EXPORTER].flush()
    for _ in range(50):
        if len(gelf.data) >= 8:
            break
        await asyncio.sleep(0.01)
    logging.getLogger("krakenpy").handlers[0].flush()
    await s.gateway.close()
    gelf_transport.close()
    captured = capfd.readouterr()
    outputs = {
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "access file": access_file.read_bytes(),
        "audit file": audit_file.read_bytes() if audit_file.exists() else b"",
        "gelf": b"\n".join(gelf.data),
        "otlp": b"\n".join(receiver.bodies),
        "error bodies": b"\n".join(error_bodies),
    }
    # every output was really produced (the test would pass vacuously otherwise)
    assert b"[ENDPOINT: /fail][BACKEND: /f]" in outputs["stdout"] and b"sig=[REDACTED]" in outputs["stdout"]
    assert b"password" in outputs["stdout"] and b"Bearer [REDACTED]" in outputs["stdout"]  # the /__debug/ line
    assert outputs["access file"].count(b"\n") == 7 and outputs["gelf"] and outputs["otlp"]
    assert (
        b"http.request.header.authorization" in outputs["otlp"]
        and b"invalid status code 500" in outputs["error bodies"]
    )
    # the failed fetch of a URL with a password (direct, and after a redirect), its URL masked
    assert outputs["error bodies"].count(b"ClientConnectorError") == 2
    assert b"REDACTED:REDACTED@127.0.0.1" in outputs["error bodies"] and b"ada:" not in outputs["stdout"]
    leaks = {name: data.count(CANARY.encode()) for name, data in outputs.items() if CANARY.encode() in data}
    assert leaks == {}
