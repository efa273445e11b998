"""Syslog lines against hostile text: one line, and never half a UTF-8 character."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest

from krakenpy.telemetry.syslog import SyslogHandler


def _record(msg: str) -> logging.LogRecord:
    return logging.LogRecord("krakenpy.test", logging.ERROR, __file__, 12, msg, None, None, "fn")


def _syslog_datagram(tmp_path: Path, message: str) -> bytes:
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    handler = SyslogHandler(facility="local3", tag="[KRAKEND]", address=path)
    try:
        handler.emit(_record(message))
        return server.recv(65536)
    finally:
        handler.close()
        server.close()
        os.unlink(path)


def test_syslog_line_writes_cr_and_lf_escaped(tmp_path: Path) -> None:
    """A failure quoting a client's value with CR (a decoded ``%0D``) stays one line, written as the
    standard-output formats write it; a raw CR let the value overwrite the line's start where a
    daemon writes the text as received."""
    data = _syslog_datagram(tmp_path, "[ENDPOINT: /x] bad value a\rFAKE LINE\nB")
    assert b"\r" not in data and b"\n" not in data
    assert data.endswith(b"ERROR > [ENDPOINT: /x] bad value a\\rFAKE LINE\\nB")


@pytest.mark.parametrize("lead", ["", "x", "xx", "xxx"])
def test_syslog_long_line_is_cut_on_a_character_boundary(tmp_path: Path, lead: str) -> None:
    """A line over the datagram limit is cut, never in the middle of a UTF-8 sequence (one of the
    leads puts the cut inside a 4-byte character)."""
    data = _syslog_datagram(tmp_path, lead + "\U0001f600" * 3000)
    assert 8192 - 4 < len(data) <= 8192
    assert data.decode("utf-8").endswith("\U0001f600")


def test_a_missing_daemon_is_said_once_per_outage_on_the_other_outputs(tmp_path: Path) -> None:
    """syslog on a host without the daemon's socket (a container without /dev/log) dropped every line
    without a word; now one warning per outage reaches the log's other outputs (standard output)."""
    path = str(tmp_path / "log.sock")
    syslog = SyslogHandler(tag="[KRAKEND]", address=path)
    seen: list[logging.LogRecord] = []
    stdout = logging.Handler()
    stdout.emit = seen.append  # type: ignore[method-assign]
    logger = logging.getLogger("krakenpy.telemetry")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    logger.handlers[:] = [syslog, stdout]  # as install_handlers sets the application log's outputs
    logger.propagate = False
    logger.setLevel(logging.INFO)
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        logger.error("first")
        logger.error("second")
        warnings = [r.getMessage() for r in seen if r.levelno == logging.WARNING]
        assert warnings == [
            f"syslog: cannot send to {path}: No such file or directory; lines are dropped until it takes them"
        ]
        daemon.bind(path)  # the daemon starts: lines go through, the outage is over
        daemon.settimeout(2)
        logger.error("third")
        assert daemon.recv(8192).endswith(b"ERROR > third")
        daemon.close()
        os.unlink(path)  # and stops again: said again
        logger.error("fourth")
        assert len([r for r in seen if r.levelno == logging.WARNING]) == 2
    finally:
        logger.handlers[:] = saved[0]
        logger.propagate = saved[1]
        logger.setLevel(saved[2])
        syslog.close()
        daemon.close()


@pytest.mark.parametrize(("host", "listen"), [("[::1]", "::1"), ("localhost", "127.0.0.1")])
def test_a_udp_daemon_named_by_address_or_name(monkeypatch: pytest.MonkeyPatch, host: str, listen: str) -> None:
    """``KRAKENPY_SYSLOG_ADDRESS=[::1]:514`` (an IPv6 daemon: it needs an IPv6 socket, and the
    brackets off) and ``localhost:514`` (a name, resolved once at start: given to ``sendto`` it was
    looked up, blocking the loop, for every line)."""
    if host == "localhost":  # where this machine's resolver puts it first
        listen = str(socket.getaddrinfo("localhost", 0, type=socket.SOCK_DGRAM)[0][4][0])
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    daemon = socket.socket(family, socket.SOCK_DGRAM)
    daemon.bind((listen, 0))
    daemon.settimeout(2)
    monkeypatch.setenv("KRAKENPY_SYSLOG_ADDRESS", f"{host}:{daemon.getsockname()[1]}")
    handler = SyslogHandler(tag="[KRAKEND]")
    try:
        assert handler.address == (listen, daemon.getsockname()[1])
        handler.emit(_record("over udp"))
        assert daemon.recv(8192).endswith(b"ERROR > over udp")
        assert handler.dropped == 0
    finally:
        handler.close()
        daemon.close()
