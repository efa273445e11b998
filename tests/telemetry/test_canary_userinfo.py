"""A backend URL's password with ``/``, ``?``, ``#`` or whitespace in it, unencoded, through every
telemetry output at once: neither half of it may appear in any (:mod:`krakenpy.userinfo`'s rule).
Go's ``url.Parse`` ends the authority at the first ``/``, ``?`` or ``#``: masks that followed it
showed the password's rest (``http://ada:REDACTED@…`` never matched, the whole URL was written)."""

from __future__ import annotations

import asyncio
import gzip
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from krakenpy.errors import ConfigIssue
from krakenpy.telemetry.export import EXPORTER
from krakenpy.telemetry.redact import Redactor
from tests.components.telemetry.otlp_receiver import Receiver

HEAD, TAIL = "c4n4ryHEAD", "c4n4ryTAIL"
SEPARATORS = ["/", "?", "#", " ", "\t", "/?# ", "@/", "?sig="]


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.data.append(gzip.decompress(data))


@pytest.mark.parametrize("sep", SEPARATORS)
def test_the_masks_hide_a_password_holding_url_delimiters(sep: str) -> None:
    url = f"http://ada:{HEAD}{sep}{TAIL}@127.0.0.1:8080/x?a=1"
    for text in (
        f"ClientConnectorError: refused [GET]: {url}",
        f"host '{url}' not valid",
        f'Get "{url}": dial tcp: refused',
        f"[ENDPOINT: /x][BACKEND: {url}] failed",
        f"an http:// URL, got {url}",
    ):
        for shown in (Redactor().text(text), str(ConfigIssue("endpoints[0].backend[0].host[0]", text))):
            assert HEAD not in shown and TAIL not in shown, shown
            assert "127.0.0.1:8080/x?a=1" in shown, shown
        assert Redactor().text(Redactor().text(text)) == Redactor().text(text)  # masking twice: the same


def test_the_mask_reaches_the_last_at_of_the_line_only() -> None:
    masked = Redactor().text
    assert masked("http://ada:p/w@h/x") == "http://REDACTED:REDACTED@h/x"
    assert ConfigIssue("", "got http://ada:p?w@h/x").message == "got http://ada:[REDACTED]@h/x"
    # the price of the rule: an "@" after the authority is read as the end of a password
    assert masked("GET http://127.0.0.1:1/users/a@b") == "GET http://REDACTED:REDACTED@b"
    # an "@" before any URL, a URL on another line, a "scheme://" in prose: not user information
    assert masked("mail a@b at http://h/x") == "mail a@b at http://h/x"
    assert masked("http://h/x\nmail a@b") == "http://h/x\nmail a@b"
    assert masked("an amqp:// URL, got a@b") == "an amqp:// URL, got a@b"


@pytest.mark.parametrize("sep", [s for s in SEPARATORS if s != "\t"])  # a control character: refused
async def test_a_password_with_url_delimiters_reaches_no_output(
    served: Any, upstream: Any, capfd: pytest.CaptureFixture[str], tmp_path: Path, dead_port: int, sep: str
) -> None:
    loop = asyncio.get_running_loop()
    gelf_transport, gelf = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    receiver = Receiver()
    receiver_port = int((await upstream(receiver.app())).rsplit(":", 1)[1])
    host = f"http://ada:{HEAD}{sep}{TAIL}@127.0.0.1:{dead_port}"
    access_file, audit_file = tmp_path / "access.log", tmp_path / "audit.log"
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
                    "layers": {"backend": {"traces": {"round_trip": True, "detailed_connection": True}}},
                },
            },
            "endpoints": [
                {
                    "endpoint": "/userinfo",
                    "backend": [{"host": [host], "url_pattern": "/u", "disable_host_sanitize": True}],
                },
            ],
        },  # fmt: skip
        debug=True,
    )
    error_bodies: list[bytes] = []
    for path in ("/userinfo", "/__debug/x"):
        resp = await s.client.get(path)
        error_bodies.append(await resp.read())
        if path != "/__debug/x":
            assert resp.status >= 500
    await s.gateway.resources.state[EXPORTER].flush()
    for _ in range(50):
        if gelf.data:
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
    assert b"[ENDPOINT: /userinfo][BACKEND: /u]" in outputs["stdout"], outputs["stdout"]
    assert outputs["access file"].count(b"\n") == 2 and outputs["gelf"] and outputs["otlp"]
    assert b"REDACTED" in outputs["error bodies"], outputs["error bodies"]
    leaks = {
        name: orjson.dumps(data.decode(errors="replace"))[:2000].decode()
        for name, data in outputs.items()
        if HEAD.encode() in data or TAIL.encode() in data
    }
    assert leaks == {}
