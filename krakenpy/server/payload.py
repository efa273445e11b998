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
    return BodyLimits(read, min(gunzip, read) if gunzip else 0)


def is_gzip(content_encoding: str | None) -> bool:
    """EE decompresses when ``gzip`` is the first coding named (``gzip``, ``gzip, br``, ``x-gzip`` not)."""
    return content_encoding is not None and content_encoding.lstrip()[:4].lower() == "gzip"


def gunzip(body: bytes, limit: int) -> bytes | None:
    """The decompressed body (every gzip member, as Go's reader); ``None`` when it would exceed
    ``limit`` bytes; raises :class:`ValueError` for data that is not a whole gzip stream."""
    out: list[bytes] = []
    size = 0
    data = body
    while data:
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = decoder.decompress(data, limit - size + 1)
        except zlib.error as exc:
            raise ValueError("malformed gzip body") from exc
        size += len(chunk)
        if size > limit:
            return None
        out.append(chunk)
        if not decoder.eof:
            if decoder.unconsumed_tail:  # stopped at the limit with more to inflate
                return None
            raise ValueError("truncated gzip body")
        data = decoder.unused_data
    return b"".join(out)
