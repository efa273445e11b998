from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import time

import orjson
import pytest

from krakenpy.errors import ConfigError
from krakenpy.telemetry.settings import parse_gelf
from tests.components.telemetry.conftest import doc, recording_app


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.messages.append(orjson.loads(gzip.decompress(data)))


#: GELF 1.1's own fields besides the required ones; every other field is an additional one
_OPTIONAL = frozenset({"full_message", "timestamp", "level", "facility", "line", "file"})


def _assert_gelf_1_1(message: dict[str, object], since: float, until: float) -> None:
    """What a GELF 1.1 server requires of a message as it arrives: version, this host's name, a
    non-empty short message, a Unix timestamp of the run, a syslog level, additional fields only
    with a leading underscore and never ``_id``."""
    assert message["version"] == "1.1" and message["host"] == socket.gethostname(), message
    assert isinstance(message["short_message"], str) and message["short_message"], message
    timestamp, level = message["timestamp"], message["level"]
    assert isinstance(timestamp, float) and since - 1 <= timestamp <= until + 1, message
    assert isinstance(level, int) and 0 <= level <= 7, message
    extra = set(message) - {"version", "host", "short_message"} - _OPTIONAL
    assert all(key.startswith("_") for key in extra) and "_id" not in extra, message


def test_parse_gelf_address() -> None:
    o = parse_gelf({"address": "logstash:12201", "enable_tcp": False}, "p")
    assert (o.host, o.port, o.tcp) == ("logstash", 12201, False)
    with pytest.raises(ConfigError) as err:
        parse_gelf({"address": "nope", "enable_tcp": True}, "p")
    assert err.value.issues[0].path == "p.address"


async def test_gelf_udp_gets_application_and_access_logs(served, upstream) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Collect, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    base = await upstream(recording_app([], status=500))
    s = await served(
        doc(
            [{"endpoint": "/x", "backend": [{"host": [base], "url_pattern": "/y"}]}],
            extra_config={
                "telemetry/gelf": {"address": f"127.0.0.1:{port}", "enable_tcp": False},
                "telemetry/logging": {"level": "INFO", "stdout": False},
            },
        )
    )
    since = time.time()
    logging.getLogger("krakenpy.test").info("started")
    await s.client.get("/x?sig=GELFSECRET", headers={"X-Request-Id": "g-1"})
    for _ in range(100):
        if len(proto.messages) >= 3:
            break
        await asyncio.sleep(0.01)
    transport.close()
    for message in proto.messages:
        _assert_gelf_1_1(message, since, time.time())
    shorts = [str(m["short_message"]) for m in proto.messages]
    assert "started" in shorts
    failure = next(m for m in proto.messages if str(m["short_message"]).startswith("[ENDPOINT: /x]"))
    assert failure["level"] == 3 and failure["_request_id"] == "g-1"
    access = next(m for m in proto.messages if str(m["short_message"]).startswith("[GIN]"))
    assert "sig=[REDACTED]" in str(access["short_message"])
    assert access["_request_id"] == "g-1"  # the access line joins the request's other messages
    assert "GELFSECRET" not in repr(proto.messages)
