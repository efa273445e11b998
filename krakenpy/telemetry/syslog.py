"""Syslog output of the application log (``telemetry/logging`` ``syslog``): RFC 3164 datagrams to
the local daemon on a non-blocking socket (a full socket buffer drops the line, it never blocks)."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Final

from krakenpy.telemetry.exchange import CURRENT, current_secrets
from krakenpy.telemetry.logfmt import LEVELS, NOTICE, krakend_level, one_line
from krakenpy.telemetry.redact import Redactor

__all__ = ["FACILITIES", "SyslogHandler", "default_address"]

_log = logging.getLogger("krakenpy.telemetry")

FACILITIES: Final = {f"local{i}": 16 + i for i in range(8)}
_SEVERITY: Final = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    NOTICE: 5,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
#: where the local daemon listens; ``KRAKENPY_SYSLOG_ADDRESS`` overrides it (a socket path, or host:port for UDP)
_PATHS: Final = ("/dev/log", "/var/run/syslog", "/var/run/log")
#: formats a record's traceback (``formatException``)
_TRACEBACK: Final = logging.Formatter()
#: the longest datagram sent (a longer line is cut)
_MAX_DATAGRAM: Final = 8192


def go_stamp(created: float) -> str:
    """Go's ``time.Stamp`` (``Jan _2 15:04:05``: the day padded with a space, as log/syslog writes
    it; ``%d`` would pad it with a zero)."""
    t = time.localtime(created)
    return f"{time.strftime('%b', t)} {t.tm_mday:2d} {time.strftime('%H:%M:%S', t)}"


def default_address() -> str | tuple[str, int]:
    env = os.environ.get("KRAKENPY_SYSLOG_ADDRESS", "")
    if env:
        host, sep, port = env.rpartition(":")
        if sep and port.isdigit() and not env.startswith("/"):
            return (host.removeprefix("[").removesuffix("]") or "127.0.0.1", int(port))  # [::1]:514
        return env
    return next((p for p in _PATHS if os.path.exists(p)), _PATHS[0])


def _resolved(address: tuple[str, int]) -> tuple[int, tuple[str, int]]:
    """The socket family and address of a ``host:port`` daemon (its first address); a name that does
    not resolve is kept (each line then fails and is dropped: said once)."""
    try:
        found = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_DGRAM)
    except OSError:
        return socket.AF_INET, address
    family, _, _, _, sockaddr = found[0]
    return family, (str(sockaddr[0]), int(sockaddr[1]))


class SyslogHandler(logging.Handler):
    """``<PRI>Mmm dd hh:mm:ss TAG[pid]: LEVEL > message`` per record, with the record's own severity."""

    def __init__(
        self,
        *,
        facility: str = "local3",
        tag: str = "",
        address: str | tuple[str, int] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        super().__init__()
        self.facility = FACILITIES.get(facility, FACILITIES["local3"])
        self.tag = tag or "krakenpy"
        self.address = address if address is not None else default_address()
        self._redactor = redactor or Redactor()
        family: int = socket.AF_UNIX
        if isinstance(self.address, tuple):
            # resolved once, here: a name given to sendto was looked up (blocking) for every line, and
            # an IPv6 address needs an IPv6 socket
            family, self.address = _resolved(self.address)
        self._sock: socket.socket | None = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self.dropped = 0
        #: the last send failed (one warning per outage, through the other outputs)
        self._failing = False

    def emit(self, record: logging.LogRecord) -> None:
        sock = self._sock
        if sock is None:
            return
        severity = _SEVERITY[LEVELS[krakend_level(record.levelno)]]
        stamp = go_stamp(record.created)
        # one line, as every other app-log output writes it: a CR kept raw (only LF was replaced) let a
        # client's value quoted in a failure rewrite the line where a daemon writes text as received
        text = record.getMessage()
        if record.exc_info:  # the traceback too, as standard output writes it (one line)
            text += "\n" + _TRACEBACK.formatException(record.exc_info)
        text = one_line(self._redactor.text(text, current_secrets(self._redactor)))
        exchange = CURRENT.get()
        if exchange is not None and exchange.request_id:  # as every other app-log output writes it
            text += f" request_id={exchange.request_id}"
        level = krakend_level(record.levelno)
        line = f"<{self.facility * 8 + severity}>{stamp} {self.tag}[{os.getpid()}]: {level} > {text}"
        data = line.encode("utf-8", "replace")
        if len(data) > _MAX_DATAGRAM:  # cut on a character's boundary: never half a UTF-8 sequence
            data = data[:_MAX_DATAGRAM].decode("utf-8", "ignore").encode()
        try:
            sock.sendto(data, self.address)
        except OSError as exc:  # no daemon, or its buffer is full: never block the loop for a log line
            self.dropped += 1
            if not self._failing:
                # said once until a line goes through again, on the log's other outputs (this
                # handler drops its own copy): a gateway whose host has no /dev/log (a container)
                # lost every line without a word (KrakenD refuses such a logger and says so)
                self._failing = True
                _log.warning(
                    "syslog: cannot send to %s: %s; lines are dropped until it takes them",
                    self.address,
                    exc.strerror or type(exc).__name__,
                )
        else:
            self._failing = False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        super().close()
