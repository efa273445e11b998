"""The lines of a file ``verify-trail`` reads (a trail, an application log), each at most
:data:`MAX_LINE` bytes: a longer one (``/dev/zero``, a binary file) is refused at its line instead
of read until the memory is full."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["MAX_LINE", "LineTooLong", "bounded_lines"]

#: the longest line read, its newline included (a record holds a client's path, User-Agent and claims,
#: each bounded by the server's ``max_header_bytes``; an application log line is shorter still)
MAX_LINE = 64 << 20


class LineTooLong(Exception):
    """A line over :data:`MAX_LINE` bytes: ``number``, the line's in its file."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


def bounded_lines(handle: BinaryIO, limit: int = MAX_LINE) -> Iterator[bytes]:
    """``handle``'s lines, each with its newline; :class:`LineTooLong` at the first over ``limit`` bytes,
    having read no more than ``limit + 1`` of it."""
    number = 0
    while line := handle.readline(limit + 1):
        number += 1
        if len(line) > limit:
            raise LineTooLong(number)
        yield line
