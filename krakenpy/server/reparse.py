"""What parsing a read again after aiohttp's C parser refused it needs (never the request path):
the Python parser with Go's checks for the versions it reads where the C one does not, and where a
request asking to close the connection ends in a read that goes on after it.

Kept out of :mod:`krakenpy.server.connection` (compiled): a subclass of aiohttp's Python parser
stays a plain Python class here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError
from aiohttp.http_parser import DIGITS, HttpRequestParser, HttpRequestParserPy, RawRequestMessage

from krakenpy.server.sweep import MAX_HEADER_LINES

__all__ = ["GoParserPy", "close_end"]

#: the first Content-Length llhttp (aiohttp's C parser) refuses as an overflow (400)
_LENGTH_OVERFLOW = 1 << 64


class GoParserPy(HttpRequestParserPy):
    """aiohttp's Python request parser, refusing what the C parser refuses on the HTTP/1.1 path for
    the versions only this one reads (HTTP/1.2 to 1.9, served as 1.1)."""

    def parse_message(self, lines: list[bytes]) -> RawRequestMessage:
        msg = super().parse_message(lines)
        headers = msg.headers
        # Go: "missing required Host header" (400) from HTTP/1.1 on; both aiohttp parsers check 1.1 only
        # (Go spares CONNECT; the C parser does not, and this follows the C parser's 1.1 answer)
        if msg.version[0] == 1 and msg.version[1] > 1 and "Host" not in headers:
            raise BadHttpMessage("Missing 'Host' header in request.")
        # the C parser refuses a length past 64 bits (400); this one read any number (413 later). Go
        # refuses past 63 bits: 2**63 to 2**64 - 1 are read as lengths on both paths here (Go: 400)
        length = headers.get("Content-Length")
        if length is not None and len(length) > 19 and DIGITS.fullmatch(length) and int(length) >= _LENGTH_OVERFLOW:
            raise BadHttpMessage("Content-Length overflow")
        return msg


class _Quiet:
    """The protocol of a probing parser's bodies: never paused."""

    _reading_paused = True

    def pause_reading(self) -> None:
        return None

    def resume_reading(self, resume_parser: bool = True) -> None:
        return None


_QUIET: Any = _Quiet()  # duck-typed: only what a body's StreamReader calls of its protocol


def close_end(kind: type[HttpRequestParser], buf: bytes, budget: int, loop: asyncio.AbstractEventLoop) -> int:
    """How much of ``buf`` (read from a request boundary on, refused by a parser of ``kind`` for data
    after a request that asked to close) to parse: the longest prefix a fresh parser takes without an
    error, which holds that request and at most the start of what follows it. -1 when ``buf`` as a
    whole is not refused so. Parsers of their own (found by halving: log2(len) parses of ``buf``)."""

    def refused(n: int) -> str | None:
        """The refusal of a fresh parser fed ``buf[:n]``, if any."""
        parser = kind(
            _QUIET,
            loop,
            1 << 30,  # no body pauses the parser (it would keep the rest unparsed and refuse nothing)
            max_line_size=budget,
            max_field_size=budget,
            max_headers=MAX_HEADER_LINES,
            auto_decompress=False,
        )
        try:
            parser.feed_data(buf[:n])
        except HttpProcessingError as exc:
            return str(exc.message)
        return None

    if "Data after `Connection: close`" not in (refused(len(buf)) or ""):
        return -1
    good, bad = 0, len(buf)  # a prefix of ``good`` bytes parses, one of ``bad`` is refused
    while bad - good > 1:
        middle = (good + bad) // 2
        if refused(middle) is None:
            good = middle
        else:
            bad = middle
    return good
