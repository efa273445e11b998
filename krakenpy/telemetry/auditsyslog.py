"""The audit trail's syslog sink (``telemetry/audit`` ``sink: "syslog"``): each record an RFC 5424
message whose MSG is the record's JSON line byte for byte (so ``krakenpy verify-trail`` checks what
a SIEM stored), to the local daemon's socket, over UDP, or over TCP or TLS with RFC 6587/5425 octet
counting.

Message: ``<PRI>1 TIMESTAMP HOSTNAME krakenpy PROCID EVENT - RECORD``. The record's own ``ts`` is the
timestamp; its ``event`` (``authz_fail``…) the MSGID; the severity follows the decision (an enforced
deny: warning; a shadow deny: notice; an error: err; an allow: info). MSG carries no BOM: a JSON
parser behind the daemon takes it as it is.

Delivery: a batch that cannot be sent (no daemon, a refused or closed connection) is retried with
back-off (0.5 s, doubling to 30 s) while newer records wait in the trail's bounded queue, as the HTTP
collector's are. Syslog over TCP has no acknowledgement: a batch written just as the collector closed
the connection is gone without an error. So the first batch a new connection carries has the batch
the old one took last ahead of it, however many tries the new connection took (at least once:
records the old connection did deliver come twice, which ``verify-trail`` skips as repeated
deliveries). A single
record too large for a datagram is lost, counted and logged.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from krakenpy.telemetry.auditsink import SinkError
from krakenpy.tlsfiles import TlsFileError, client_context, load_client_pair

__all__ = ["FACILITIES", "SyslogSink", "SyslogTarget", "frame", "parse_target", "tls_context"]

log = logging.getLogger("krakenpy.audit")

#: RFC 5424's facility numbers by their usual names
FACILITIES: Final = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
    "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}  # fmt: skip
#: severity by decision (an enforced deny, a shadow deny, an error, an allow)
_SEVERITY: Final = {"deny": 4, "shadow": 5, "error": 3, "allow": 6}
_SCHEMES: Final = ("udp", "tcp", "tls", "unix")
_APP: Final = b"krakenpy"


@dataclass(frozen=True, slots=True)
class SyslogTarget:
    """Where records go: ``network`` one of udp, tcp, tls, unix (a datagram socket's path in ``host``)."""

    network: str
    host: str
    port: int = 0


def parse_target(url: str) -> SyslogTarget | str:
    """``udp://host:514``, ``tcp://host:601``, ``tls://host:6514`` or ``unix:///dev/log`` (empty: the
    local daemon's socket); the reason it is not valid otherwise."""
    if not url:
        from krakenpy.telemetry.syslog import default_address

        found = default_address()
        return SyslogTarget("unix", found) if isinstance(found, str) else SyslogTarget("udp", found[0], found[1])
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _SCHEMES:
        return f"a syslog url is udp://host:port, tcp://host:port, tls://host:port or unix:///path, not {url!r}"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return f"syslog url {url!r} has a space or control character"
    if scheme == "unix":
        return SyslogTarget("unix", rest) if rest.startswith("/") else f"unix syslog url {url!r} needs an absolute path"
    if "@" in rest.partition("/")[0]:  # never quoted: the part before "@" may hold a password
        return f"a {scheme} syslog url takes no user or password before its host (syslog has no login)"
    host, colon, port = rest.rstrip("/").rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f"syslog url {url!r} needs a host and a port (1-65535)"
    try:
        host.encode("idna")
    except UnicodeError:
        return f"syslog url {url!r}: host {host!r} has an empty label or one over 63 characters"
    return SyslogTarget(scheme, host, int(port))


def tls_context(ca_file: str, cert_file: str, key_file: str) -> ssl.SSLContext | str:
    """The client context of a ``tls://`` collector (the system's CAs, or ``ca_file``'s; a client
    certificate when given), built once at start-up; what is wrong with a file otherwise (a FIFO, a
    device or an encrypted key is refused, never waited on: :mod:`krakenpy.tlsfiles`)."""
    try:
        context = client_context(ca_file)
    except TlsFileError as exc:
        wrong = "cannot be read" if exc.unreadable else "not a PEM CA certificate bundle"
        return f"ca_file {ca_file}: {wrong} ({exc.reason})"
    if cert_file:
        try:
            load_client_pair(context, cert_file, key_file)
        except TlsFileError as exc:
            wrong = f"{exc.path} cannot be read" if exc.unreadable else "not a certificate and its key"
            return f"cert_file {cert_file} and key_file {key_file}: {wrong} ({exc.reason})"
    return context


def _token(value: str, limit: int) -> bytes:
    """An RFC 5424 header field: printable US-ASCII without spaces, at most ``limit`` octets; ``-``
    when empty."""
    if value.isascii() and value.isprintable() and " " not in value:  # the trail's own values
        return value[:limit].encode() if value else b"-"
    kept = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return kept.encode() if kept else b"-"


#: the head every trail record starts with (``AuditTrail.record``'s key order): read without parsing
#: the whole record (~0.5 µs where ``orjson.loads`` of a 0.6 kB record takes ~4.5: a batch of 512 is
#: framed on the loop)
_HEAD: Final = re.compile(rb'\{"ts":"([^"]{1,40})","seq":\d+,"event":"([^"]{0,64})","decision":"([a-z]{1,8})",'
                          rb'"reason":"[^"]*","enforced":(true|false),')  # fmt: skip


def frame(line: bytes, facility: int, hostname: bytes, procid: bytes) -> bytes:
    """The RFC 5424 message of one record line (its newline dropped)."""
    body = line[:-1] if line.endswith(b"\n") else line
    head = _HEAD.match(body)
    if head is not None:
        ts, event, decision = head[1].decode(), head[2].decode(), head[3].decode()
        enforced = head[4] == b"true"
    else:  # not the trail's layout (another writer's record): parsed
        try:
            rec = orjson.loads(body)
        except orjson.JSONDecodeError:
            rec = {}
        if not isinstance(rec, dict):
            rec = {}
        ts, event, decision = str(rec.get("ts", "")), str(rec.get("event", "")), str(rec.get("decision", "error"))
        enforced = rec.get("enforced") is not False
    if decision == "deny" and not enforced:
        decision = "shadow"
    pri = facility * 8 + _SEVERITY.get(decision, 3)
    return b"<%d>1 %s %s %s %s %s - %s" % (pri, _token(ts, 32), hostname, _APP, procid, _token(event, 32), body)


class SyslogSink:
    """Records as RFC 5424 messages to a syslog daemon or collector (see the module's docstring)."""

    def __init__(self, target: SyslogTarget, facility: int = FACILITIES["authpriv"], tls: ssl.SSLContext | None = None):
        self.target = target
        self.facility = facility
        self._tls = tls
        self._hostname = _token(socket.gethostname(), 255)
        self._procid = str(os.getpid()).encode()
        self._sock: socket.socket | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        #: the stream's last batch, sent again ahead of the next one when the collector is found to
        #: have closed the connection since (it may have been written into the closing connection)
        self._last: list[bytes] = []

    @property
    def where(self) -> str:
        t = self.target
        return f"unix://{t.host}" if t.network == "unix" else f"{t.network}://{t.host}:{t.port}"

    async def write(self, lines: Sequence[bytes]) -> None:
        self._procid = str(os.getpid()).encode()  # the worker's, once forked
        messages = [frame(line, self.facility, self._hostname, self._procid) for line in lines]
        delay = 0.5
        sent = 0
        lost = 0
        while True:
            try:
                if self.target.network in ("tcp", "tls"):
                    await self._send_stream(messages)
                    return
                sent, lost = await self._send_datagrams(messages, sent, lost)
                if lost:
                    raise SinkError(lost, f"{lost} record(s) too large for a datagram to {self.where}")
                return
            except OSError as exc:
                await self._close()
                log.warning("audit: syslog %s did not take a batch of %d records: %s", self.where, len(lines), exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _send_datagrams(self, messages: list[bytes], sent: int, lost: int) -> tuple[int, int]:
        """Send from ``sent`` on; the datagrams sent and those too large (lost)."""
        loop = asyncio.get_running_loop()
        if self._sock is None:
            t = self.target
            if t.network == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                address: Any = t.host
            else:
                infos = await loop.getaddrinfo(t.host, t.port, type=socket.SOCK_DGRAM)
                family, kind, proto, _, address = infos[0]
                sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                sock.connect(address)  # datagram: no packet sent; a refused port shows at a later send
            except OSError:
                sock.close()
                raise
            self._sock = sock
        while sent < len(messages):
            try:
                await loop.sock_sendall(self._sock, messages[sent])
            except OSError as exc:
                if exc.errno != errno.EMSGSIZE:
                    raise
                lost += 1
                log.error(
                    "audit: a record of %d bytes is too large for a datagram to %s", len(messages[sent]), self.where
                )
            sent += 1
        return sent, lost

    def connection_gone(self) -> bool:
        """Whether the stream connection is open no more: ended or reset by the collector."""
        reader, writer = self._reader, self._writer
        if reader is None or writer is None:
            return False
        return reader.at_eof() or reader.exception() is not None or writer.is_closing()

    async def _send_stream(self, messages: list[bytes]) -> None:
        """One write of the batch, each message octet-counted (``LEN SP MSG``)."""
        again: list[bytes] = []
        if self.connection_gone():
            await self._close()  # the collector closed (or reset) the connection since the last batch
        writer = self._writer
        if writer is None:
            t = self.target
            tls = self._tls if t.network == "tls" else None
            opened = await asyncio.wait_for(
                asyncio.open_connection(t.host, t.port, ssl=tls, server_hostname=t.host if tls else None), 10
            )
            self._reader, self._writer = opened
            writer = opened[1]
            # every new connection after the first: the last batch the old one took may be lost with
            # it (kept until a connection has taken the batch after it, so a collector that is down
            # for a while, or a failed write, does not forget it)
            again = self._last
        writer.write(b"".join(b"%d %s" % (len(m), m) for m in (*again, *messages)))
        await asyncio.wait_for(writer.drain(), 10)
        self._last = messages

    async def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2)
            except (OSError, TimeoutError, ssl.SSLError):
                pass

    async def close(self) -> None:
        await self._close()
