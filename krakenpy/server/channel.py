"""The line between the supervisor and one worker: a socket pair carrying one JSON object per line.

The worker learns that its parent is gone when its end reads EOF (besides ``PR_SET_PDEATHSIG``);
the supervisor learns that a worker is gone from ``waitpid``, never from the channel alone.
"""

from __future__ import annotations

import socket
from typing import Any

import orjson

__all__ = ["Channel", "pair"]

#: a reader that never sees a newline stops buffering here (messages are a few hundred bytes)
_MAX_BUFFER = 1 << 20


class Channel:
    """One end: :meth:`send` a message, :meth:`receive` what arrived (``None`` once the other end closed)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        sock.setblocking(False)  # both ends poll it (selectors, asyncio); messages are small

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: dict[str, Any]) -> bool:
        """Write one message; False when the other end is gone (or has not read for a long time)."""
        try:
            self.sock.sendall(orjson.dumps(message) + b"\n")
        except OSError:
            return False
        return True

    def receive(self) -> list[dict[str, Any]] | None:
        """The complete messages readable now (call when the socket is readable); ``None`` at EOF."""
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            return None
        if not data:
            return None
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > _MAX_BUFFER:
            self._buffer = b""
        messages: list[dict[str, Any]] = []
        for line in lines:
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict):
                messages.append(value)
        return messages

    def close(self) -> None:
        self.sock.close()


def pair() -> tuple[Channel, Channel]:
    """(supervisor end, worker end)."""
    parent, child = socket.socketpair()
    return Channel(parent), Channel(child)
