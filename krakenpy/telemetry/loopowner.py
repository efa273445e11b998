"""The thread a log output is written from: its loop's.

The application log's outputs (the batched :class:`~krakenpy.telemetry.writer.LineWriter` it shares
with the access log, GELF's asyncio transports) are the loop's objects: the access log appends to the
writer's open run without a lock, and an asyncio transport may be used from its loop's thread only.
A ``krakenpy.*`` record can come from another thread (a hot reload loads its file in
``asyncio.to_thread`` and logs its warnings there; a library's callback in the default executor): that
record was written from the other thread, where the writer's flush could render an access-log run the
loop was appending to (the line lost) and GELF called its transport off the loop. Now the record is
formatted where it was logged (its ``CURRENT`` request, copied into ``to_thread``'s context, read
there) and its write is handed to the loop (``call_soon_threadsafe``). One ``get_running_loop`` call
a record; nothing on the request path (requests log no line on success).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

__all__ = ["LoopOwner"]

_T = TypeVar("_T")


class LoopOwner:
    """The loop that writes through one log output: the one it was made on (a gateway is built on its
    worker's loop), then the last one that ran a write on its own thread."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    def call(self, write: Callable[[_T], object], item: _T) -> None:
        """``write(item)`` on the owner loop's thread: here when this thread runs it (or no loop runs
        it: start-up, shutdown, ``check``), else handed to it."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        owner = self.loop
        if owner is None or owner is running or not owner.is_running():
            if running is not None:
                self.loop = running
            write(item)
            return
        try:
            owner.call_soon_threadsafe(write, item)
        except RuntimeError:  # closed since ``is_running``: no loop writes it any more
            write(item)
