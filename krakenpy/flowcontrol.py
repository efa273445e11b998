"""The read and write flow control of krakenpy's own protocols (the server's client connections, the
fast client's upstream connections): the interface aiohttp's parsers and ``StreamReader`` call on the
protocol they feed (``pause_reading``, ``resume_reading``, ``_reading_paused``, ``connected``) and a
``drain`` for writers.

Ours rather than aiohttp's ``BaseProtocol`` because that class declares ``__slots__``, and a class
compiled by mypyc cannot extend a class with slots; this one compiles with its subclasses.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

__all__ = ["FlowProtocol"]

#: what a transport without read flow control raises when asked to pause or resume
_NO_FLOW = (AttributeError, NotImplementedError, RuntimeError)


class FlowProtocol(asyncio.Protocol):
    """A protocol that an HTTP parser (``parser``) feeds: reading pauses while the parser's body
    buffer is full or while this protocol holds a buffer of its own; writers wait in
    :meth:`_drain_helper` while the transport's write buffer is over its high-water mark."""

    def __init__(self, loop: asyncio.AbstractEventLoop, parser: Any = None) -> None:
        self._loop = loop
        self._parser: Any = parser
        self.transport: asyncio.Transport | None = None
        self._paused = False  # writing
        self._drain_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False  # a body's buffer is full
        self._buffer_paused = False  # a buffer of the protocol's own is full
        self._upgraded = False  # no HTTP parser reads this connection any more

    @property
    def connected(self) -> bool:
        """True while the transport is open."""
        return self.transport is not None

    @property
    def writing_paused(self) -> bool:
        """True while the transport's write buffer is over its high-water mark."""
        return self._paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport, with Nagle's algorithm off (answers leave in one write)."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            except OSError:
                pass  # the socket may already be closing: the connection fails on its own then
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: BaseException | None) -> None:
        """Forget the transport and release a writer waiting for the buffer to drain."""
        self.transport = None
        waiter = self._drain_waiter
        self._drain_waiter = None
        if waiter is None or waiter.done():
            return
        if exc is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(ConnectionResetError("Connection lost"))

    def pause_writing(self) -> None:
        """The transport's write buffer passed its high-water mark."""
        self._paused = True

    def resume_writing(self) -> None:
        """The transport's write buffer drained below its low-water mark."""
        self._paused = False
        waiter = self._drain_waiter
        self._drain_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _drain_helper(self) -> None:
        if self.transport is None:
            raise ConnectionResetError("Connection lost")
        if not self._paused:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = self._loop.create_future()
        # shared by every drainer (HTTP/2 streams): a cancelled one must not cancel the others' wait
        await asyncio.shield(waiter)

    def pause_reading(self) -> None:
        """The parser's body buffer is full: stop the parser and the socket."""
        self._reading_paused = True
        if not self._upgraded and self._parser is not None:
            self._parser.pause_reading()
        self._pause_transport_reading()

    def resume_reading(self, resume_parser: bool = True) -> None:
        """The body buffer drained: parse what the parser held back, then read again."""
        self._reading_paused = False
        if not self._upgraded and resume_parser:
            self.data_received(b"")
        if not self._reading_paused and not self._buffer_paused:
            self._resume_transport_reading()

    def _pause_reading_for_buffer(self) -> None:
        self._buffer_paused = True
        self._pause_transport_reading()

    def _resume_reading_for_buffer(self) -> None:
        self._buffer_paused = False
        if not self._reading_paused:
            self._resume_transport_reading()

    def _pause_transport_reading(self) -> None:
        transport = self.transport
        if transport is not None:
            try:
                transport.pause_reading()
            except _NO_FLOW:
                pass  # a transport without read flow control

    def _resume_transport_reading(self) -> None:
        transport = self.transport
        if transport is not None:
            try:
                transport.resume_reading()
            except _NO_FLOW:
                pass
