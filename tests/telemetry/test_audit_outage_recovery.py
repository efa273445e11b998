"""A sink outage that ends without a line cut (a FIFO whose reader went away and a new one came, a
full disk that refused a whole batch then got room): the records after it start at the start of a
line, with no blank line before them (a blank line is no record: ``verify-trail`` broke there)."""

from __future__ import annotations

import os
from pathlib import Path

from krakenpy.telemetry.audit import AuditTrail, verify_chain
from krakenpy.telemetry.auditsink import FileSink
from tests.telemetry.trail_records import record_deny


def _read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


async def test_records_after_an_outage_that_cut_no_line_follow_with_no_blank_line(tmp_path: Path) -> None:
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a log shipper reading the trail
    trail = AuditTrail(FileSink(str(fifo)), service="gw", config_hash="c", destination=f"file:{fifo}")
    try:
        record_deny(trail, 2)
        await trail.drain()
        got = _read_all(reader)
        os.close(reader)  # the shipper goes away: the next batch is refused (EPIPE), whole
        record_deny(trail, 1)
        await trail.drain()
        assert trail.dropped == 1
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # it comes back
        record_deny(trail, 2)
        await trail.drain()
        again = _read_all(reader)
    finally:
        os.close(reader)
        await trail.sink.close()
    assert trail.written == 4
    assert not again.startswith(b"\n"), again[:80]
    lines = (got + again).splitlines(keepends=True)
    assert len(lines) == 4 and all(line.startswith(b"{") for line in lines), lines
    assert verify_chain(lines[:2])  # and the chain after the gap goes on from the lost record
