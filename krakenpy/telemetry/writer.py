"""Batched line output: lines collect in a list and reach the file descriptor in one ``write`` per
event-loop tick (or every ``max_lines`` lines), so a busy gateway makes a few system calls per
batch instead of one per request, and no stdlib ``logging`` call runs per request.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import IO, Any, Final

from krakenpy.files import check_append_target, open_error

__all__ = ["LineWriter", "output_file", "stdout_writer"]

#: lines buffered before a write even within one tick
MAX_LINES: Final = 256


class LineWriter:
    """Write ``bytes`` lines to a file descriptor (or a text stream) in batches."""

    __slots__ = ("_buffer", "_fd", "_max", "_owned", "_scheduled", "_stream", "dropped", "name")

    def __init__(
        self,
        fd: int | None = None,
        *,
        stream: IO[str] | None = None,
        max_lines: int = MAX_LINES,
        owned: bool = False,
        name: str = "",
    ) -> None:
        self._fd = fd
        self._stream = stream
        self._buffer: list[bytes] = []
        self._max = max_lines
        self._scheduled = False
        self._owned = owned
        #: lines lost because the destination failed (EPIPE, full disk)
        self.dropped = 0
        self.name = name

    @classmethod
    def open(cls, path: str, **kwargs: object) -> LineWriter:
        """Append to a file (created with mode 0600: logs may hold personal data)."""
        # O_NONBLOCK while opening: a FIFO nobody reads fails (ENXIO) instead of blocking start-up
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
        os.set_blocking(fd, True)
        return cls(fd, owned=True, name=path, **kwargs)  # type: ignore[arg-type]

    def write(self, line: bytes) -> None:
        """Queue one line (with its newline); written at the end of this loop tick."""
        buffer = self._buffer
        buffer.append(line)
        if len(buffer) >= self._max:
            self.flush()
        elif not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # start-up and shutdown: no loop, write now
                self.flush()
                return
            self._scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write everything queued, in one call when the destination takes it."""
        self._scheduled = False
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        count = len(self._buffer)
        self._buffer.clear()
        try:
            if self._fd is not None:
                view = memoryview(data)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
            elif self._stream is not None:
                self._stream.write(data.decode("utf-8", "replace"))
                self._stream.flush()
        except (OSError, ValueError):
            self.dropped += count

    def close(self) -> None:
        self.flush()
        if self._owned and self._fd is not None:
            os.close(self._fd)
            self._fd = None


_STDOUT: dict[object, LineWriter] = {}


def stdout_writer() -> LineWriter:
    """The writer on the process's standard output (its descriptor, bypassing Python's buffer):
    one per destination, so the application and access logs share batches and keep their order."""
    try:
        sys.stdout.flush()
        key: object = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced stdout (pytest capture, embedded use)
        key = sys.stdout
    found = _STDOUT.get(key)
    if found is None:
        found = _STDOUT[key] = (
            LineWriter(key, name="stdout") if isinstance(key, int) else LineWriter(stream=sys.stdout, name="stdout")
        )
    return found


def output_file(path: str, where: str, *, serving: bool, **kwargs: Any) -> LineWriter | None:
    """A config-named append-only file (``where``: its JSON path, for errors); ``check`` (not
    ``serving``) only looks whether it could be opened, creates nothing and gets ``None``."""
    if not serving:
        check_append_target(path, where)
        return None
    try:
        return LineWriter.open(path, **kwargs)
    except OSError as exc:
        raise open_error(path, where, exc) from None
