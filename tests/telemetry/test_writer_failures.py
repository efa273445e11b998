"""A log destination that fails: a full disk (here the kernel's file-size limit, which cuts a write
short just as ENOSPC does), a standard output whose reader went away (``krakenpy run | head -1``).
Lines were dropped without a word, and a write the disk cut short left half a line that the next
batch went on after, gluing two lines into one. Now the drops are counted (the lines a short write
took whole are not), said once an outage (and once more when the destination takes lines again),
and the cut line is ended before the next batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.cli_gateway import stop, wait_http
from tests.conftest import ROOT, free_port

_FULL_DISK = r"""
import asyncio, logging, os, resource, signal, sys
from krakenpy.telemetry.writer import LineWriter
logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(message)s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
path = sys.argv[1]

async def main():  # on a loop: each flush() writes the lines queued since as one batch
    writer = LineWriter.open(path)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1050, hard))  # the disk holds 1,050 bytes
    for i in range(8):  # 8 lines of 100 bytes: written
        writer.write(b"one %03d %s\n" % (i, b"a" * 91))
    writer.flush()
    for i in range(5):  # 500 bytes: 2 lines fit, a third is cut at byte 1,050, 2 fail
        writer.write(b"two %03d %s\n" % (i, b"b" * 91))
    writer.flush()
    writer.write(b"three 0\n")  # still full: dropped, not said again
    writer.flush()
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
    writer.write(b"four 0\n")
    writer.write(b"four 1\n")
    writer.flush()
    size = os.path.getsize(path)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 150, hard))  # full again: a line cut at 50 bytes
    for i in range(3):
        writer.write(b"five %03d %s\n" % (i, b"c" * 90))
    writer.flush()
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 251, hard))  # room for the newline ending the cut
    for i in range(3):  # the newline and one more line, then full again
        writer.write(b"six %03d %s\n" % (i, b"d" * 91))
    writer.flush()
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    writer.write(b"seven 0\n")
    writer.flush()
    writer.close()
    print(writer.dropped)

asyncio.run(main())
"""


def test_a_full_disk_drops_counted_said_once_and_the_cut_line_is_ended(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = path.read_bytes().split(b"\n")
    assert lines.pop() == b""
    assert lines[:8] == [b"one %03d %s" % (i, b"a" * 91) for i in range(8)]
    assert lines[8:10] == [b"two %03d %s" % (i, b"b" * 91) for i in range(2)]
    assert lines[10] == b"two 002 " + b"b" * 42  # cut at the limit, then ended
    assert lines[11:13] == [b"four 0", b"four 1"]
    # a second outage: a cut line, then a batch that ends it, takes one line whole and fails again
    assert lines[13:] == [b"five 000 " + b"c" * 90, b"five 001 " + b"c" * 41, b"six 000 " + b"d" * 91, b"seven 0"]
    # the cut line, two more of its batch, "three 0"; then five 001 and 002, six 001 and 002
    assert done.stdout.strip() == "8"
    said = [line for line in done.stderr.splitlines() if str(path) in line]
    assert len(said) == 4, done.stderr
    assert said[0].startswith("WARNING ") and "cannot write: File too large" in said[0]
    assert "writing again (4 line(s) dropped so far)" in said[1]
    assert "cannot write: File too large" in said[2] and "writing again (8 line(s) dropped so far)" in said[3]


def test_run_whose_stdout_reader_went_away_serves_on_and_says_so_on_stderr(tmp_path: Path) -> None:
    """``krakenpy run | head -1``: the pipe's reader exits after one line; the gateway serves on (Go's
    KrakenD dies of SIGPIPE there), and says once on standard error that its lines are dropped."""
    port = free_port()
    config = tmp_path / "krakend.json"
    endpoint = {"endpoint": "/x", "backend": [{"host": [f"http://127.0.0.1:{port}"], "url_pattern": "/__health"}]}
    config.write_text(json.dumps({"version": 3, "port": port, "endpoints": [endpoint]}))
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenpy", "run", "-c", str(config), "-w", "1"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=write_fd,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_fd)
    try:
        assert os.read(read_fd, 1)  # the first line begins: the reader goes away (head -1)
        os.close(read_fd)
        wait_http(f"http://127.0.0.1:{port}/__health", proc)
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/x", timeout=5) as resp:
                assert resp.status == 200
    finally:
        _, err = stop(proc)
    assert proc.returncode == 0, err
    said = [line for line in err.splitlines() if line.startswith("krakenpy: stdout: cannot write: Broken pipe")]
    assert 1 <= len(said) <= 2, err  # once a process: the worker, and the supervisor if it wrote after
    assert "Traceback" not in err
