"""A collector's answer to a post: its status is what the sender needs, its body only a bounded
start of it (read so the connection can be reused; whatever is left, the connection goes with).

A collector (or whatever answers at its address) that streams a large or endless body into an
exporter's ``response.read()`` held the batch until the client's total timeout (10 s) and kept the
whole body in memory meanwhile; then the batch was retried, and read again.
"""

from __future__ import annotations

from typing import Final

import aiohttp

__all__ = ["ANSWER_LIMIT", "skim"]

#: bytes of a collector's answer body read at most (an error text fits; a page of HTML too)
ANSWER_LIMIT: Final = 64 * 1024


async def skim(response: aiohttp.ClientResponse, limit: int = ANSWER_LIMIT) -> bytes:
    """The start of ``response``'s body, at most ``limit`` bytes; a longer one is cut there and the
    connection closed rather than reused (the rest is never read)."""
    body = await response.content.read(limit)
    if not response.content.at_eof():
        response.close()
    return body
