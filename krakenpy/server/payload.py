"""KrakenD Enterprise's request payload options: ``max_payload`` (router and endpoint ``proxy``) caps
the request body, ``decompress_gzip`` gunzips a gzip body before the backends see it, and the cap then
applies to the decompressed bytes. Both are decided per endpoint at start-up."""

from __future__ import annotations

import zlib
from typing import Final

from krakenpy.config.options import EndpointProxyOptions, RouterOptions

__all__ = ["MAX_REQUEST_BODY", "BodyLimits", "body_limits", "gunzip", "is_gzip"]

#: largest client body read into memory when no ``max_payload`` says otherwise (413 beyond)
MAX_REQUEST_BODY: Final = 10 * 1024 * 1024
#: gzip members in one body: a body of thousands of empty members decompresses to nothing yet costs
#: a decoder each (400 beyond)
MAX_MEMBERS: Final = 64
#: compressed bytes handed to a decoder at once: what a finished member leaves unread is copied
#: (``unused_data``), so a whole-body slice would copy the rest of the body once per member
_STEP: Final = 64 * 1024


class BodyLimits:
    """``read``: the most body bytes read off the wire; ``gunzip``: the most bytes a gzip body may
    decompress to (0: bodies are never decompressed)."""

    __slots__ = ("gunzip", "read")

    def __init__(self, read: int, gunzip: int) -> None:
        self.read = read
        self.gunzip = gunzip


def body_limits(router: RouterOptions, proxy: EndpointProxyOptions) -> BodyLimits:
    """The endpoint's limits: the smaller of the router's and the endpoint's ``max_payload`` (the
    router's is checked first in EE, so the smaller one decides), the endpoint's ``decompress_gzip``
    else the router's, itself bounded by ``max_payload``."""
    caps = [cap for cap in (router.max_payload, proxy.max_payload) if cap > 0]
    read = min(caps) if caps else MAX_REQUEST_BODY
    gunzip = proxy.decompress_gzip or router.decompress_gzip
    # max_payload bounds the inflated body; without it decompress_gzip alone does (EE: 0 = no limit)
    return BodyLimits(read, (min(gunzip, read) if caps else gunzip) if gunzip else 0)


def is_gzip(content_encoding: str | None) -> bool:
    """EE decompresses when ``gzip`` is the first coding named (``gzip``, ``gzip, br``; not ``x-gzip``
    nor ``gzipx``)."""
    return content_encoding is not None and content_encoding.split(",", 1)[0].strip().lower() == "gzip"


def gunzip(body: bytes, limit: int) -> bytes | None:
    """The decompressed body (every gzip member, as Go's reader, at most :data:`MAX_MEMBERS`);
    ``None`` when it would exceed ``limit`` bytes; raises :class:`ValueError` for data that is not a
    whole gzip stream. Linear in the body: each decoder is fed bounded slices of a memoryview."""
    view = memoryview(body)
    out: list[bytes] = []
    size = pos = members = 0
    while pos < len(view):
        members += 1
        if members > MAX_MEMBERS:
            raise ValueError("too many gzip members")
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while True:
            chunk = view[pos : pos + _STEP]
            if not chunk:
                raise ValueError("truncated gzip body")
            try:
                piece = decoder.decompress(chunk, limit - size + 1)
            except zlib.error as exc:
                raise ValueError("malformed gzip body") from exc
            size += len(piece)
            if size > limit:  # the output stopped at limit + 1: more was there
                return None
            out.append(piece)
            if decoder.eof:
                pos += len(chunk) - len(decoder.unused_data)
                break
            pos += len(chunk)
    return b"".join(out)
