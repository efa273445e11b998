"""Bounded gzip decoding of backend bodies (Go's transport decodes ``Content-Encoding: gzip``).

A small gzip body can inflate to gigabytes: the body is inflated in slices of :data:`STEP` bytes
with a yield to the event loop between slices, and decoding stops as soon as the output passes
the cap, so CPU time and memory are proportional to the cap, never to the bomb.
"""

from __future__ import annotations

import asyncio
import zlib

from krakenpy.errors import BackendError

__all__ = ["STEP", "gunzip", "inflate", "strip_encoding"]

#: output bytes inflated between two yields to the event loop
STEP = 1 << 20
_GZIP = 16 + zlib.MAX_WBITS


async def gunzip(body: bytes, cap: int) -> bytes:
    """Every gzip member of ``body`` (Go reads concatenated members too), at most ``cap`` bytes out;
    raises :class:`BackendError` for a bigger output, a truncated stream or bytes that are not gzip."""
    return await _inflate(body, cap, _GZIP, "gzip")


async def inflate(body: bytes, cap: int) -> bytes:
    """A ``Content-Encoding: deflate`` body (a zlib stream, or a raw deflate one as some servers send
    it), at most ``cap`` bytes out; :class:`BackendError` as :func:`gunzip`."""
    try:
        return await _inflate(body, cap, zlib.MAX_WBITS, "deflate")
    except BackendError:
        return await _inflate(body, cap, -zlib.MAX_WBITS, "deflate")


async def _inflate(body: bytes, cap: int, wbits: int, name: str) -> bytes:
    out: list[bytes] = []
    size = 0
    data = body
    steps = 0
    try:
        while data:
            inflater = zlib.decompressobj(wbits)
            while True:
                chunk = inflater.decompress(data, STEP)
                size += len(chunk)
                if size > cap:
                    raise BackendError(f"backend body too large (more than {cap} bytes once decompressed)")
                out.append(chunk)
                data = inflater.unconsumed_tail
                if inflater.eof or (not data and not chunk):
                    break
                steps += 1
                if steps % 4 == 0:
                    await asyncio.sleep(0)  # let other requests run while a large body inflates
            if not inflater.eof:
                raise BackendError(f"invalid {name} body from backend: unexpected EOF")
            data = inflater.unused_data if wbits == _GZIP else b""  # gzip members may follow each other
    except zlib.error as exc:
        raise BackendError(f"invalid {name} body from backend: {exc}") from None
    return b"".join(out)


def strip_encoding(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The response headers once the body is decoded: no ``Content-Encoding``/``Content-Length``
    (Go's transport removes both when it decompresses)."""
    return tuple((k, v) for k, v in headers if k.lower() not in ("content-encoding", "content-length"))
