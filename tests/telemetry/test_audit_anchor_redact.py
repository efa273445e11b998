"""Audit anchors against the application log's redaction: a ``redact`` query key named like an
anchor field (``hash``, ``seq``, ``instance``, ``destination``, ``mac``), a header named ``anchor``, or
a learned credential whose characters a hash happens to hold, masked the field (``hash=[REDACTED]``)
and the line was no anchor any more. The writer masks the destination and instance itself and the line
is written as it is; the destination's secrets are still masked."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest

from krakenpy.telemetry.applog import AppLogOptions, make_formatter
from krakenpy.telemetry.audit import AuditTrail
from krakenpy.telemetry.auditanchor import anchor_key, read_anchors
from krakenpy.telemetry.auditsink import FileSink
from krakenpy.telemetry.redact import Redactor
from tests.telemetry.trail_records import record_deny

#: the query keys an operator may list that spell the anchor's labels
ANCHOR_KEYS = ("hash", "seq", "instance", "destination", "mac")


class _Lines(logging.Handler):
    """The application log's lines as each of its formats writes them (the gateway's redactor)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(logging.DEBUG)
        self.formatters = [
            make_formatter(AppLogOptions(), redactor),
            make_formatter(AppLogOptions(logstash=True), redactor),
            make_formatter(AppLogOptions(format="custom", custom_format="%{level} %{message}"), redactor),
        ]
        self.lines: list[bytes] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.extend(f.format(record).encode() for f in self.formatters)


@pytest.mark.parametrize("key", [b"operator-key", b""])
async def test_anchors_survive_redaction_of_their_labels_and_of_hex_credentials(tmp_path: Path, key: bytes) -> None:
    redactor = Redactor()
    redactor.learn(query_keys=ANCHOR_KEYS, headers=("anchor", "audit anchor"), secrets=("s3cr3t-dir",))
    folder = tmp_path / "s3cr3t-dir" / "code=7"
    folder.mkdir(parents=True)
    path = folder / "audit.log"
    trail = AuditTrail(
        FileSink(str(path)), service="gw", config_hash="c", destination=f"file:{path}", anchor_interval=3600,
        fingerprint_key=key, redact=redactor.text,
    )  # fmt: skip
    handler = _Lines(redactor)
    logger = logging.getLogger("krakenpy.audit")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        record_deny(trail, 2)
        await trail.drain()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        head = orjson.loads(path.read_bytes().splitlines()[-1])
        # a learned credential that is hex digits of the head's hash (one of a trail's hashes will
        # hold any short hex credential sooner or later)
        redactor.learn(secrets=(head["hash"][20:28],))
        record_deny(trail, 1)
        await trail.stop()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    text = b"\n".join(handler.lines)
    assert b"s3cr3t-dir" not in text and b"code=7" not in text, text  # the destination's secrets stay masked
    anchors = list(read_anchors(handler.lines, "app.log", anchor_key(key)))
    assert len(anchors) == 6, text  # two anchors, each in the three formats
    assert {(a.seq, a.hash) for a in anchors} == {(2, records[1]["hash"]), (3, records[2]["hash"])}, text
    assert all(a.authentic and a.signed == bool(key) for a in anchors), text
    assert {a.destination for a in anchors} == {f"file:{tmp_path}/[REDACTED]/code=[REDACTED]"}, text


def test_a_line_not_marked_masked_is_still_redacted() -> None:
    """Only the anchor writer's records skip the log's masking: any other line spelling one is masked."""
    redactor = Redactor()
    redactor.learn(query_keys=("hash",), secrets=("tok-123",))
    message = f"audit anchor: destination=file:/a.log instance=tok-123 seq=1 hash={'ab' * 32}"
    record = logging.LogRecord("krakenpy.audit", logging.INFO, __file__, 1, "%s", (message,), None)
    line = make_formatter(AppLogOptions(), redactor).format(record)
    assert "hash=[REDACTED]" in line and "tok-123" not in line, line


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.received.append(data)


async def test_anchors_survive_redaction_on_syslog_and_gelf(tmp_path: Path) -> None:
    """The application log's other outputs, a syslog daemon's socket and a GELF collector (UDP), write
    the anchor as the writer masked it too."""
    import gzip
    import socket

    from krakenpy.telemetry.gelf import GelfHandler, GelfSender
    from krakenpy.telemetry.syslog import SyslogHandler

    redactor = Redactor()
    redactor.learn(query_keys=ANCHOR_KEYS, headers=("anchor",))
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(str(tmp_path / "log.sock"))
    daemon.settimeout(5)
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(_Datagrams, local_addr=("127.0.0.1", 0))
    sender = GelfSender("127.0.0.1", transport.get_extra_info("sockname")[1])
    handlers = [SyslogHandler(address=str(tmp_path / "log.sock"), redactor=redactor), GelfHandler(sender, redactor)]
    path = tmp_path / "audit.log"
    trail = AuditTrail(
        FileSink(str(path)), service="gw", config_hash="c", destination=f"file:{path}", anchor_interval=3600,
        fingerprint_key=b"k", redact=redactor.text,
    )  # fmt: skip
    logger = logging.getLogger("krakenpy.audit")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        record_deny(trail, 2)
        await trail.stop()
        syslog_line = daemon.recv(65536)
        for _ in range(100):
            if collector.received:
                break
            await asyncio.sleep(0.02)
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        await sender.close()
        transport.close()
        daemon.close()
    head = orjson.loads(path.read_bytes().splitlines()[-1])
    gelf_text = orjson.loads(gzip.decompress(collector.received[0]))["short_message"].encode()
    for line in (syslog_line, gelf_text):
        (anchor,) = read_anchors([line], "app.log", anchor_key(b"k"))
        assert (anchor.seq, anchor.hash, anchor.authentic) == (2, head["hash"], True), line
