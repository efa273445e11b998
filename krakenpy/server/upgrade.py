"""A WebSocket on krakenpy's own server: after a 101 answer (:class:`~krakenpy.edge.Upgrade`) the
connection's transport is handed to a frame protocol (``transport.set_protocol``) feeding aiohttp's
WebSocket frame reader, and the upgrade's session runs over a :class:`ServerSocket`.

The HTTP connection object stays in the server's set while the session runs, so a drain or a
shutdown still reaches it (``close_now`` closes the transport, which ends the session); its HTTP
clocks stop, as the session keeps its own (pings and ``pong_wait``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_websocket import WebSocketError, WebSocketReader, WebSocketWriter, WSMessage, WSMsgType
from aiohttp.streams import EofStream

from krakenpy.edge import Upgrade

if TYPE_CHECKING:
    from krakenpy.server.connection import GatewayProtocol

__all__ = ["ServerSocket", "serve_upgrade"]

#: bytes of parsed messages queued before reading the socket pauses
_QUEUE_LIMIT = 1 << 16
_CLOSED = WSMessage(WSMsgType.CLOSED, None, None)
#: the sessions running (strong references: asyncio keeps only weak ones)
_SESSIONS: set[asyncio.Task[Any]] = set()


class _MaskCheck:
    """Walks the headers of the client's frames (payloads skipped): RFC 6455 §5.1 has a server close
    the connection on an unmasked client frame, which aiohttp's frame reader accepts."""

    __slots__ = ("_head", "_skip")

    def __init__(self) -> None:
        self._head = b""  # a header split across reads
        self._skip = 0  # payload bytes of the current frame still to come

    def unmasked_at(self, data: bytes) -> int:
        """Where in ``data`` an unmasked frame starts; -1 when none does."""
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            if not self._head and end - pos >= 14:  # a whole header here: read in place
                second = data[pos + 1]
                if not second & 0x80:
                    return pos
                size = second & 0x7F
                if size < 126:
                    pos += 6
                elif size == 126:
                    size, pos = int.from_bytes(data[pos + 2 : pos + 4], "big"), pos + 8
                else:
                    size, pos = int.from_bytes(data[pos + 2 : pos + 10], "big"), pos + 14
                self._skip = size
                continue
            before = len(self._head)
            head = self._head + data[pos : pos + 14 - before]  # 14: the longest header
            if len(head) >= 2 and not head[1] & 0x80:
                return max(pos - before, 0)
            size = head[1] & 0x7F if len(head) >= 2 else 0
            extended = 2 if size == 126 else 8 if size == 127 else 0
            if len(head) < 2 + extended + 4:  # the rest of the header is still to come
                self._head = head
                return -1
            if extended:
                size = int.from_bytes(head[2 : 2 + extended], "big")
            pos += 2 + extended + 4 - before
            self._head, self._skip = b"", size
        return -1


class _Frames(BaseProtocol):
    """The transport's protocol once upgraded: bytes to the frame reader, the end to the queue."""

    __slots__ = ("connection", "masks", "queue", "reader")

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: GatewayProtocol) -> None:
        super().__init__(loop)
        self._upgraded = True  # flow control never touches an HTTP parser again
        self.connection = connection
        self.queue = WebSocketDataQueue(self, _QUEUE_LIMIT, loop=loop)
        self.reader: WebSocketReader | None = None
        self.masks: _MaskCheck | None = _MaskCheck()

    def data_received(self, data: bytes) -> None:
        reader, masks = self.reader, self.masks
        if reader is None or masks is None:  # none yet, or a protocol error ended the reading
            return
        bad = masks.unmasked_at(data)
        if bad < 0:
            reader.feed_data(data)  # a protocol error reaches the queue as its exception
            return
        self.masks = None
        if bad:
            reader.feed_data(data[:bad])  # the frames before it are the client's all the same
        self.queue.set_exception(WebSocketError(1002, "an unmasked client frame"))

    def eof_received(self) -> bool:
        self.queue.feed_eof()
        return False  # the transport closes itself

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.queue.feed_eof()
        connection = self.connection
        connection._server.lost(connection)
        connection._done = True


class ServerSocket:
    """The client's side of an upgraded connection, with the methods of aiohttp's
    ``WebSocketResponse`` the sessions use: pings are answered here, close handshakes completed."""

    def __init__(self, frames: _Frames, transport: asyncio.Transport) -> None:
        self._frames = frames
        self._writer = WebSocketWriter(frames, transport)
        self._transport = transport
        self._closed = False
        self.close_code: int | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def receive(self, timeout: float | None = None) -> WSMessage:
        """The next data or close message; ``TimeoutError`` when nothing came for ``timeout`` seconds."""
        queue = self._frames.queue
        while True:
            if self._closed:
                return _CLOSED
            try:
                async with asyncio.timeout(timeout):
                    msg: Any = await queue.read()
            except EofStream:
                self._closed = True
                self.close_code = self.close_code or 1006
                return _CLOSED
            except WebSocketError as exc:  # a protocol error, a message over the size limit
                await self.close(code=exc.code)
                return WSMessage(WSMsgType.ERROR, exc, None)
            except TimeoutError:
                raise  # nothing within ``timeout``: the caller decides (pong_wait)
            except Exception as exc:  # anything else the frame reader may fail with: an end, never a traceback
                await self.close(code=1011)
                return WSMessage(WSMsgType.ERROR, exc, None)
            if msg.type is WSMsgType.PING:
                await self._writer.send_frame(msg.data, WSMsgType.PONG)
                continue
            if msg.type is WSMsgType.PONG:
                continue
            if msg.type is WSMsgType.CLOSE:
                code = msg.data if isinstance(msg.data, int) else 0
                if code in (0, 1005):  # a close without a status (aiohttp reads it as 0): 1005, RFC 6455 §7.1.5
                    await self._close_empty()
                    self.close_code = code = 1005
                    return WSMessage(WSMsgType.CLOSE, code, msg.extra)
                await self.close(code=code)
                self.close_code = code
            return msg  # type: ignore[no-any-return]

    async def send_str(self, data: str) -> None:
        await self._writer.send_frame(data.encode(), WSMsgType.TEXT)

    async def send_bytes(self, data: bytes) -> None:
        await self._writer.send_frame(data, WSMsgType.BINARY)

    async def ping(self, message: bytes = b"") -> None:
        await self._writer.send_frame(message, WSMsgType.PING)

    async def _close_empty(self) -> None:
        """Answer a close frame without a status with one without a status (§5.5.1)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._writer.send_frame(b"", WSMsgType.CLOSE)
        except (ConnectionError, RuntimeError):
            pass

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        """Send a close frame (once); the transport closes when the session ends."""
        if self._closed:
            return False
        self._closed = True
        self.close_code = code
        try:
            await self._writer.close(code, message)
        except (ConnectionError, RuntimeError):
            pass  # the client is gone already
        return True


async def serve_upgrade(
    connection: GatewayProtocol, transport: asyncio.Transport, upgrade: Upgrade, held: bytes = b""
) -> None:
    """Run ``upgrade``'s session on ``transport`` (its 101 head already written), then close it;
    ``held`` is what the client sent right behind its handshake: its first frames."""
    loop = asyncio.get_running_loop()
    frames = _Frames(loop, connection)
    frames.reader = WebSocketReader(frames.queue, upgrade.max_size, compress=False, decode_text=True)
    frames.transport = transport
    frames._paused = connection._paused  # the transport may owe the old protocol a resume_writing
    transport.set_protocol(frames)
    if held:
        frames.data_received(held)
    if connection._reading_paused or connection._buffer_paused:
        frames._resume_transport_reading()
    socket = ServerSocket(frames, transport)
    task = asyncio.current_task()
    if task is not None:
        _SESSIONS.add(task)  # the connection no longer holds it (it is not a request in flight)
    try:
        await upgrade.run(socket)
    finally:
        if task is not None:
            _SESSIONS.discard(task)
        await socket.close(code=1001)  # when the session left without closing (a drain cut it)
        transport.close()
