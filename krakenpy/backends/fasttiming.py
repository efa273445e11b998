"""The fast client's timing mode (:meth:`FastClient.enable_timing`, switched on at build time when
telemetry asks for connection or body-read timings).

The client tests its ``_timed`` flag in three steps and calls these; without it the steps run
exactly their usual code: obtaining a connection (``get_conn``: waiting for a pool slot and dialling;
a kept-alive connection popped from the pool is not timed and counts as 0), dialling (DNS resolved first and
timed, then each address tried in order, as asyncio's ``create_connection`` does), and handing a
finished exchange back (the first-byte, head and body times its :class:`TimedConn` noted). This
client speaks plain HTTP only: its TLS time is always 0 (https goes to the aiohttp client).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Coroutine
from typing import Any

from krakenpy.backends.conntiming import CallTiming, current_timing, now
from krakenpy.backends.fastwire import Conn

__all__ = ["TimedConn", "note_read", "timed_acquire", "timed_dial"]


class TimedConn(Conn):
    """A connection that notes when each answer's first byte and complete head arrived."""

    __slots__ = ("first_at", "head_at")

    def __init__(self, loop: asyncio.AbstractEventLoop, max_body: int) -> None:
        super().__init__(loop, max_body)
        self.first_at = 0.0
        self.head_at = 0.0

    def data_received(self, data: bytes) -> None:
        if not self.received:  # write() clears it for every exchange: the answer's first bytes
            first = self.first_at = now()
            Conn.data_received(self, data)
            # a head complete in its first bytes (the usual answer): parsed within microseconds
            self.head_at = first if self.message is not None else 0.0
            return
        waiting = self.message is None
        Conn.data_received(self, data)
        if waiting and self.message is not None:
            self.head_at = now()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def timed_dial(loop: asyncio.AbstractEventLoop, host: str, port: int, max_body: int) -> Conn:
    """A new :class:`TimedConn` to ``host:port``, its DNS time noted."""

    def factory() -> TimedConn:
        return TimedConn(loop, max_body)

    if _is_ip(host):  # Go resolves nothing for an address either: no DNS time
        _, conn = await loop.create_connection(factory, host, port)
        return conn
    timing = current_timing()
    started = now()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if timing is not None:
        timing.dns = now() - started
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        _, conn = await loop.create_connection(factory, sock=sock)
        return conn
    if len(errors) == 1:
        raise errors[0]
    if not errors:
        raise OSError(f"getaddrinfo returned no address for {host}")
    raise OSError(f"Multiple exceptions: {', '.join(str(e) for e in errors)}")


async def timed_acquire(acquire: Coroutine[Any, Any, Conn]) -> Conn:
    """``acquire`` (the client's wait for a slot and dial), its time noted as ``get_conn``."""
    timing = current_timing()
    if timing is None:
        return await acquire
    started = now()
    conn = await acquire
    timing.get_conn = now() - started
    return conn


def note_read(conn: Conn, timing: CallTiming | None = None) -> None:
    """Note the first-byte, head and body times of the exchange ``conn`` just finished, in ``timing``
    when the caller handed the call's timing down (:meth:`FastClient.request`'s ``timing``), else in
    :func:`current_timing`'s (its two context-variable reads: ~0.6 k machine instructions a call)."""
    if timing is None:
        timing = current_timing()
    if timing is not None and type(conn) is TimedConn:
        timing.first_byte = conn.first_at
        timing.head = conn.head_at
        timing.read_end = now()
        payload = conn.payload
        timing.read_size = payload.total_bytes if payload is not None else len(conn.body or b"")
