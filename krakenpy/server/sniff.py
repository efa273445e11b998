"""The ``Content-Type`` Go's server sends for a body whose handler set none (``http.DetectContentType``,
the WHATWG MIME sniffing rules): KrakenD's ``no-op`` answers without a backend ``Content-Type`` and
guards' own bodies get it, so krakenpy writes the same instead of aiohttp's ``application/octet-stream``.
"""

from __future__ import annotations

__all__ = ["sniff"]

_TEXT_UTF8 = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"
#: tags that make a document HTML when followed by a space or ``>`` (upper-case; compared as such)
_HTML_TAGS = (
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
)
#: (prefix, type): exact prefixes, in the order Go checks them
_PREFIXES = (
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"\xfe\xff", "text/plain; charset=utf-16be"),
    (b"\xff\xfe", "text/plain; charset=utf-16le"),
    (b"\xef\xbb\xbf", _TEXT_UTF8),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x00\x00\x02\x00", "image/x-icon"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"ID3", "audio/mpeg"),
    (b"OggS\x00", "application/ogg"),
    (b"MThd\x00\x00\x00\x06", "audio/midi"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"\x00\x01\x00\x00", "font/ttf"),
    (b"OTTO", "font/otf"),
    (b"ttcf", "font/collection"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x1f\x8b\x08", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"Rar!\x1a\x07\x00", "application/x-rar-compressed"),
    (b"Rar!\x1a\x07\x01\x00", "application/x-rar-compressed"),
    (b"\x00asm", "application/wasm"),
)
#: RIFF containers: the form type at bytes 8..12
_RIFF = {b"WEBP": "image/webp", b"AVI ": "video/avi", b"WAVE": "audio/wave"}
#: bytes that make data binary (WHATWG "binary data byte")
_BINARY = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])


def _html(data: bytes) -> bool:
    upper = data[:16].upper()
    for tag in _HTML_TAGS:
        if upper.startswith(tag) and len(data) > len(tag) and data[len(tag)] in b" >":
            return True
    return False


def _mp4(data: bytes) -> bool:
    if len(data) < 12 or data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[:4], "big")
    if size % 4 or len(data) < size:
        return False
    brands = [data[8:11]] + [data[i : i + 3] for i in range(16, size, 4)]
    return b"mp4" in brands


def sniff(body: bytes) -> str:
    """Go's ``http.DetectContentType`` for the first 512 bytes of ``body``."""
    data = body[:512]
    start = data.lstrip(b"\t\n\x0c\r ")
    if start[:1] == b"<":
        if _html(start):
            return _HTML
        if start[:5] == b"<?xml":
            return "text/xml; charset=utf-8"
    for prefix, content_type in _PREFIXES:
        if data.startswith(prefix):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[:4] == b"FORM" and data[8:12] == b"AIFF":
        return "audio/aiff"
    if _mp4(data):
        return "video/mp4"
    if len(data.translate(None, _BINARY)) == len(data):
        return _TEXT_UTF8
    return "application/octet-stream"
