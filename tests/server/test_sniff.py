"""Go's sniffed Content-Type for bodies that come without one (krakenpy/server/sniff.py)."""

from __future__ import annotations

from typing import Any

import pytest

from krakenpy.server.sniff import sniff
from tests.server.wirekit import RawBackend, Start, get, raw_request, reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a":1}', "text/plain; charset=utf-8"),
        (b"\r\n <!DOCTYPE html><html>", "text/html; charset=utf-8"),
        (b"<P>hi", "text/html; charset=utf-8"),
        (b"<pre>", "text/plain; charset=utf-8"),  # <P must be followed by space or >
        (b"<?xml version='1.0'?><a/>", "text/xml; charset=utf-8"),
        (b"%PDF-1.7", "application/pdf"),
        (b"\xef\xbb\xbfhello", "text/plain; charset=utf-8"),
        (b"\xff\xfeh\x00", "text/plain; charset=utf-16le"),
        (b"GIF89a....", "image/gif"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wave"),
        (b"\x1f\x8b\x08\x00", "application/x-gzip"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42mp41isom", "video/mp4"),
        (b"abc\x00def", "application/octet-stream"),
    ],
)
def test_sniff_matches_go(body: bytes, expected: str) -> None:
    assert sniff(body) == expected


async def test_sniff_noop_answer_without_content_type(raw_backend: Any, serve: Start) -> None:
    backend: RawBackend = await raw_backend(lambda seen, port: reply(200, b"<html><body>x", content_type=None))
    doc = {
        "version": 3,
        "endpoints": [
            {
                "endpoint": "/e",
                "output_encoding": "no-op",
                "backend": [{"host": [backend.url], "url_pattern": "/", "encoding": "no-op"}],
            }
        ],
    }
    served = await serve(doc)
    head = await raw_request(served.port, get("/e"))
    assert head.status == 200 and head.get("Content-Type") == "text/html; charset=utf-8"
