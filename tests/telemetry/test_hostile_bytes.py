"""Client bytes that are not UTF-8 (header values arrive as surrogate escapes) through every telemetry
output at once: each output still writes its line, as U+FFFD, and nothing answers 500 or logs a traceback."""

from __future__ import annotations

import asyncio
import gzip
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.telemetry.audit import verify_chain
from krakenpy.telemetry.export import EXPORTER
from tests.components.telemetry.conftest import recording_app
from tests.components.telemetry.otlp_receiver import Receiver
from tests.server.wirekit import get, raw_request

HOSTILE = ("User-Agent: \xff\xfe", "Referer: r\xff", "Authorization: Bearer \xff", "X-Bin: caf\xe9")


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.data.append(gzip.decompress(data))


@pytest.mark.parametrize("fmt", ["gin", "json", "common", "combined"])
async def test_telemetry_hostile_header_bytes_reach_every_output(
    served: Any, upstream: Any, capfd: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    loop = asyncio.get_running_loop()
    gelf_transport, gelf = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    ok = await upstream(recording_app([], {"ok": True}))
    failing = await upstream(recording_app([], {"error": "no"}, status=500))
    access_file, audit_file = tmp_path / "access.log", tmp_path / "audit.log"
    everything = {"input_headers": ["*"], "input_query_strings": ["*"]}
    s = await served(
        {
            "version": 3,
            "extra_config": {
                "telemetry/logging": {"level": "DEBUG", "stdout": True},
                "telemetry/logstash": {"enabled": True},
                "telemetry/gelf": {"address": f"127.0.0.1:{gelf_transport.get_extra_info('sockname')[1]}"},
                "telemetry/access_log": {"format": fmt, "file": str(access_file)},
                "telemetry/audit": {"sink": "file", "path": str(audit_file), "sensitive": True},
                "auth/api-keys": {"keys": [{"key": "k-1", "roles": ["user"]}], "identifier": "X-Key"},
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
                {"endpoint": "/ok", **everything, "backend": [{"host": [ok], "url_pattern": "/o"}]},
                {"endpoint": "/fail", **everything, "backend": [{"host": [failing], "url_pattern": "/f"}]},
                {
                    "endpoint": "/key",
                    **everything,
                    "extra_config": {"auth/api-keys": {"roles": ["user"]}},
                    "backend": [{"host": [ok], "url_pattern": "/o"}],
                },
            ],
        },  # fmt: skip
        debug=True,
    )
    port = s.client.server.port
    statuses = [
        (await raw_request(port, get(path, *HOSTILE, *([key] if key else [])))).status
        for path, key in [("/ok?q=%ff", ""), ("/fail", ""), ("/key", "X-Key: \xff"), ("/key", "X-Key: k-1"),
                          ("/__debug/x?q=%ff", "")]
    ]  # fmt: skip
    assert statuses == [200, 500, 401, 200, 200]
    await s.gateway.resources.state[EXPORTER].flush()
    for _ in range(100):  # GELF datagrams are sent by a background task
        if gelf.data:
            break
        await asyncio.sleep(0.01)
    logging.getLogger("krakenpy").handlers[0].flush()
    await s.gateway.close()
    gelf_transport.close()
    captured = capfd.readouterr()
    assert "Traceback" not in captured.out + captured.err
    access = access_file.read_bytes()
    assert access.count(b"\n") >= 5 and b"/__debug/x" in access
    if fmt == "json":
        assert "\ufffd\ufffd".encode() in access  # the User-Agent: JSON holds text only
    if fmt == "combined":
        assert b'"\xff\xfe"' in access  # the User-Agent as received, as Go writes it
    audit = audit_file.read_bytes().splitlines()
    records = [orjson.loads(line) for line in audit]
    assert verify_chain(audit) and {r["response"]["status"] for r in records} == {200, 401}
    assert all(r["client"]["user_agent"] == "\ufffd\ufffd" for r in records)
    assert b"\xef\xbf\xbd" in b"".join(receiver.bodies)  # the spans' user_agent.original
    logstash = [orjson.loads(line) for line in captured.out.splitlines() if line.startswith('{"@timestamp"')]
    assert any("method=GET" in line["message"] for line in logstash)  # the /__debug/ line, headers in it
    assert gelf.data
