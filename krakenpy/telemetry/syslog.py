"""Syslog output of the application log (``telemetry/logging`` ``syslog``): RFC 3164 messages to
the local daemon on a non-blocking socket, never blocking the loop.

As Go's log/syslog (KrakenD's), the daemon's socket is a datagram socket or, where the system makes
``/dev/log`` a stream socket, a stream one (the datagram send is refused with EPROTOTYPE: the handler
connects a stream instead). A stream carries each message ended by a newline, as Go writes it (no
RFC 6587 octet count: a local daemon reading a stream socket splits it at newlines; a message is one
line here, so it cannot hold one). A datagram the daemon cannot take (none listens, its buffer is
full) is dropped; on a stream, lines the socket cannot take now wait, up to :data:`PENDING_LIMIT`
bytes, and are sent when it can (the loop watches it) or with the next line; a connection the daemon
closed (it restarted) is made again at once and the line sent over it, as Go's writer retries once
(a daemon back on a datagram socket gets datagrams again: Go dials both kinds at each connection);
a line cut by a dead connection is not finished on the next one. Every line dropped is counted, and
each outage said once on the log's other outputs."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import stat
import time
from typing import Final

from krakenpy.server import saidonce
from krakenpy.telemetry.exchange import CURRENT
from krakenpy.telemetry.logfmt import LEVELS, NOTICE, krakend_level, masked, one_line
from krakenpy.telemetry.redact import Redactor

__all__ = ["FACILITIES", "SyslogHandler", "default_address", "is_socket"]

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
#: bytes of lines a stream socket has not taken yet that may wait; more lines are dropped
PENDING_LIMIT: Final = 256 * 1024


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
    return next((p for p in _PATHS if is_socket(p)), _PATHS[0])


def is_socket(path: str) -> bool:
    """Whether ``path`` is a socket: ``/var/run/log`` is a directory on systemd hosts (journald's
    ``/run/log``), which a container without ``/dev/log`` then named as its daemon's socket."""
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return False


def _resolved(address: tuple[str, int]) -> tuple[int, tuple[str, int]]:
    """The socket family and address of a ``host:port`` daemon (its first address); a name that does
    not resolve is kept (each line then fails and is dropped: said once)."""
    try:
        found = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_DGRAM)
    except OSError:
        return socket.AF_INET, address
    family, _, _, _, sockaddr = found[0]
    return family, (str(sockaddr[0]), int(sockaddr[1]))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


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
        self.redactor = redactor or Redactor()
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
        #: the daemon's socket is a stream one: lines go over ``_conn``, ``_pending`` holds what it has
        #: not taken (whole lines but the first, whose head may be sent already: ``_midline``)
        self.stream = False
        self._conn: socket.socket | None = None
        self._pending = bytearray()
        self._midline = False
        #: the loop watching ``_conn`` until it takes ``_pending`` (None: not watched)
        self._watching: asyncio.AbstractEventLoop | None = None
        #: inside a send: the warning it logs comes back here and is dropped (said on the other outputs)
        self._busy = False

    def emit(self, record: logging.LogRecord) -> None:
        sock = self._sock
        if sock is None and not self.stream:
            return
        if self._busy:  # this handler's own warning about itself
            self.dropped += 1
            return
        severity = _SEVERITY[LEVELS[krakend_level(record.levelno)]]
        stamp = go_stamp(record.created)
        # one line, as every other app-log output writes it: a CR kept raw (only LF was replaced) let a
        # client's value quoted in a failure rewrite the line where a daemon writes text as received
        text = record.getMessage()
        if record.exc_info:  # the traceback too, as standard output writes it (one line)
            text += "\n" + _TRACEBACK.formatException(record.exc_info)
        text = one_line(masked(self.redactor, record, text))
        exchange = CURRENT.get()
        if exchange is not None and exchange.request_id:  # as every other app-log output writes it
            text += f" request_id={exchange.request_id}"
        level = krakend_level(record.levelno)
        line = f"<{self.facility * 8 + severity}>{stamp} {self.tag}[{os.getpid()}]: {level} > {text}"
        data = line.encode("utf-8", "replace")
        if len(data) > _MAX_DATAGRAM:  # cut on a character's boundary: never half a UTF-8 sequence
            data = data[:_MAX_DATAGRAM].decode("utf-8", "ignore").encode()
        self._busy = True
        try:
            if self.stream:
                self._queue(data + b"\n")
                return
            assert sock is not None
            try:
                sock.sendto(data, self.address)
            except OSError as exc:  # no daemon, or its buffer is full: never block the loop for a log line
                if exc.errno == errno.EPROTOTYPE and isinstance(self.address, str):
                    # a stream socket at the path: Go's log/syslog dials "unix" after "unixgram" too
                    self.stream = True
                    sock.close()
                    self._sock = None
                    self._queue(data + b"\n")
                    return
                self.dropped += 1
                self._failed(exc)
            else:
                self._failing = False
        finally:
            self._busy = False

    def _failed(self, exc: OSError) -> None:
        if not self._failing:
            # said once until a line goes through again, on the log's other outputs (this handler
            # drops its own copy): a gateway whose host has no /dev/log (a container) lost every
            # line without a word (KrakenD refuses such a logger and says so)
            self._failing = True
            saidonce.say(  # once per gateway with run -w N: every process has its own socket
                _log,
                logging.WARNING,
                "syslog: cannot send to %s: %s; lines are dropped until it takes them",
                self.address,
                exc.strerror or type(exc).__name__,
                topic=f"syslog {self.address}",
            )

    def _queue(self, frame: bytes) -> None:
        """A line for the stream: waiting behind what the socket has not taken, or dropped."""
        if len(self._pending) + len(frame) > PENDING_LIMIT:
            self.dropped += 1
            if not self._failing:
                self._failed(BlockingIOError(errno.EAGAIN, "the daemon does not read fast enough"))
            self._flush()
            return
        self._pending += frame
        self._flush()

    def _connect(self) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.setblocking(False)
        try:
            conn.connect(str(self.address))  # a local socket: at once, or refused (EAGAIN: its backlog full)
        except OSError:
            conn.close()
            raise
        return conn

    def _flush(self) -> None:
        """Send what waits, as far as the socket takes it now; a dead connection is made again once."""
        if self._watching is not None and _running_loop() is not self._watching:
            # a line logged on another thread while the loop watches the socket: the loop sends it
            # (and finds a dead connection: a closed peer reads as writable), never this thread,
            # which must not change the loop's watch nor close a socket it watches
            return
        for retry in (False, True):
            conn = self._conn
            try:
                if conn is None:
                    conn = self._conn = self._connect()
                while self._pending:
                    sent = conn.send(self._pending)
                    self._midline = self._pending[sent - 1] != 10  # 10: b"\n"
                    del self._pending[:sent]
            except BlockingIOError:
                if conn is not None and self._conn is conn:  # connected, the socket full: the loop sends it
                    self._watch(conn)
                    return
                exc: OSError = BlockingIOError(errno.EAGAIN, "its listen queue is full")
            except OSError as error:
                if conn is None and error.errno == errno.EPROTOTYPE:
                    self._to_datagrams()  # the daemon came back on a datagram socket
                    return
                exc = error
            else:
                self._failing = False
                return
            if self._conn is not None:  # the daemon closed the connection (it restarted, or stopped)
                self._unwatch()
                self._conn.close()
                self._conn = None
                if self._midline:  # the rest of a line cut there would end another's on the next one
                    cut = self._pending.find(b"\n")
                    del self._pending[: cut + 1]
                    self._midline = False
                    self.dropped += 1
                if not retry:
                    continue
            # no daemon (yet): the lines wait for the next line's try, up to PENDING_LIMIT
            self._failed(exc)
            return

    def _to_datagrams(self) -> None:
        """Lines go as datagrams again, those waiting first: the daemon restarted on a datagram socket
        (Go's log/syslog tries both kinds at every connection; the stream was dialled for ever)."""
        self.stream = False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        self._sock = sock
        waiting = bytes(self._pending).split(b"\n")[:-1]  # whole lines: a cut one was dropped at the close
        self._pending.clear()
        for data in waiting:
            try:
                sock.sendto(data, self.address)
            except OSError as exc:
                self.dropped += 1
                self._failed(exc)
            else:
                self._failing = False

    def _watch(self, conn: socket.socket) -> None:
        """Have the loop send the rest when the socket takes more (on the loop's thread only)."""
        if self._watching is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another thread, or no loop: the next line sends it
            return
        self._watching = loop
        loop.add_writer(conn.fileno(), self._writable)

    def _unwatch(self) -> None:
        loop, self._watching = self._watching, None
        if loop is not None and self._conn is not None and not loop.is_closed():
            loop.remove_writer(self._conn.fileno())

    def _writable(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._unwatch()
            self._busy = True
            try:
                self._flush()
            finally:
                self._busy = False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._conn is not None:
            self._unwatch()
            self._busy = True
            try:  # what the socket takes now; the rest is dropped
                while self._pending:
                    del self._pending[: self._conn.send(self._pending)]
            except OSError:
                self.dropped += self._pending.count(b"\n")
            finally:
                self._busy = False
            self._conn.close()
            self._conn = None
        self.stream = False
        super().close()
