"""The fast client's short path for the common answer: a whole head and a ``Content-Length`` body
in one read, nothing unusual in the head.

llhttp parses anything, but aiohttp wraps each answer in a ``StreamReader`` and a message tuple;
for a small JSON answer those objects cost more than the parse (~9 µs against ~6 µs per nginx answer
of eight headers, measured on the shared 2-core machine). Anything this module does not recognise
(chunked, no or several lengths, 1xx/204/304, a body still to come, an odd header line or
``Connection`` value) returns ``None`` and goes to llhttp unchanged, so the short path never
accepts what llhttp would refuse.
"""

from __future__ import annotations

import re

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["QuickMessage", "header_pairs", "quick_answer"]

#: the status line and header lines: names are RFC 9110 tokens, values hold no control byte but HTAB
_HEAD = re.compile(
    rb"HTTP/1\.([01]) ([2-5][0-9][0-9])(?: [^\x00-\x08\x0a-\x1f\x7f]*)?"
    rb"((?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*)*)"
)


#: the header lines the short path reads (names case-insensitive; a value holds no CR or LF, so a
#: match always starts a line): found by one C-level scan instead of a Python loop over every line
_READ = re.compile(
    rb"\r\n(content-length|transfer-encoding|connection|content-type|content-encoding|location):([^\r]*)",
    re.IGNORECASE,
)


class QuickMessage:
    """What the client reads of an answer: the status, whether to close, and the three headers it
    looks up (the first of each, as a multidict's ``get``). The header pairs (``pairs``) and the
    multidict (``headers``) are decoded from the raw lines only if asked for: the pipeline reads
    them only for a ``no-op`` backend or a client-layer component (2026-12-01, callgrind, with what
    the client reads of it: an nginx answer of nine header lines 80.5 k instructions decoded into a
    multidict, 52.3 k scanned, the answer object included; a merge pays it per backend)."""

    def __init__(
        self,
        code: int,
        lines: bytes,
        should_close: bool,
        content_type: str | None,
        encoding: str | None,
        location: str | None,
    ) -> None:
        self.code = code
        self._lines = lines
        self._pairs: tuple[tuple[str, str], ...] | None = None
        self.should_close = should_close
        self.content_type = content_type
        self.encoding = encoding
        self.location = location

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """(name, value) pairs as received (values without surrounding whitespace)."""
        pairs = self._pairs
        if pairs is None:
            pairs = self._pairs = header_pairs(self._lines)
        return pairs

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The header pairs as llhttp's message carries them."""
        return CIMultiDictProxy(CIMultiDict(self.pairs))


def header_pairs(lines: bytes) -> tuple[tuple[str, str], ...]:
    """The ``\\r\\n``-led header lines of a head checked by :data:`_HEAD` as (name, value) pairs."""
    fields: list[tuple[str, str]] = []
    for line in lines.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields.append((name.decode("ascii"), value.strip(b" \t").decode("utf-8", "surrogateescape")))
    return tuple(fields)


#: heads already parsed, by their bytes (the status line and header lines, without the blank line):
#: a backend answers the same head again and again (nginx's changes with its ``Date`` line, once a
#: second), and a parsed head is a pure function of its bytes. A hit skips both regular-expression
#: scans and the loop over the lines read (see bench/README.md, round 9: branch ``quick``); the
#: message is shared (immutable but for its lazily decoded pairs, which its bytes decide). ``None``
#: as the message: a head the short path leaves to llhttp.
_HEADS: dict[bytes, tuple[QuickMessage | None, int]] = {}
#: at most this many heads kept; the oldest goes first (heads with a changing value, a request id,
#: never repeat: they push out one old head each, not the whole cache)
HEADS_SIZE = 256
#: and at most this many bytes of heads: a kept message keeps its header pairs once decoded (up to
#: ~17x the head's bytes for many short lines: 64 KiB of heads hold at most ~1.1 MiB, where 256 heads
#: of 2 KiB held 8.4 MiB, the quick review's count)
HEADS_BYTES = 65536
#: the longest head kept (bytes): a larger one is parsed every time
HEAD_CACHED = 2048
_REFUSED: tuple[QuickMessage | None, int] = (None, -1)
#: the bytes of the heads in :data:`_HEADS` (a one-item list: a module-level int would be rebound)
_kept: list[int] = [0]


def quick_answer(data: bytes, max_body: int) -> tuple[QuickMessage, bytes] | None:
    """``data`` as one whole answer (message, body), or ``None`` when llhttp must parse it."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    if end <= HEAD_CACHED:
        key = data[:end]
        parsed = _HEADS.get(key)
        if parsed is None:
            parsed = _parse(data, end)
            _keep(key, parsed)
    else:
        parsed = _parse(data, end)
    message, length = parsed
    if message is None or length > max_body or len(data) - end - 4 != length:
        return None
    return message, data[end + 4 :]


def _keep(key: bytes, parsed: tuple[QuickMessage | None, int]) -> None:
    """Keep ``parsed`` under ``key``, the oldest heads dropped first while over a bound (only on a
    miss: a hit never reorders)."""
    size = len(key)
    while _HEADS and (len(_HEADS) >= HEADS_SIZE or _kept[0] + size > HEADS_BYTES):
        oldest = next(iter(_HEADS))
        del _HEADS[oldest]
        _kept[0] -= len(oldest)
    _HEADS[key] = parsed
    _kept[0] += size


def _parse(data: bytes, end: int) -> tuple[QuickMessage | None, int]:
    """The head ``data[:end]`` as (message, Content-Length), or :data:`_REFUSED`."""
    match = _HEAD.fullmatch(data, 0, end)
    if match is None:
        return _REFUSED
    code = int(match[2])
    if code == 204 or code == 304:
        return _REFUSED
    length = -1
    close = match[1] == b"0"  # HTTP/1.0 closes unless it says keep-alive
    connection = False
    content_type = encoding = location = None
    for name, raw in _READ.findall(data, match.start(3), end):
        value = raw.strip(b" \t")
        lower = name.lower()
        if lower == b"content-length":
            if length >= 0 or not value.isdigit():
                return _REFUSED
            length = int(value)
        elif lower == b"content-type":
            if content_type is None:
                content_type = value.decode("utf-8", "surrogateescape")
        elif lower == b"connection":
            token = value.lower()
            if connection or (token != b"close" and token != b"keep-alive"):
                return _REFUSED
            connection = True
            close = token == b"close"
        elif lower == b"transfer-encoding":
            return _REFUSED
        elif lower == b"content-encoding":
            if encoding is None:
                encoding = value.decode("utf-8", "surrogateescape")
        elif location is None:
            location = value.decode("utf-8", "surrogateescape")
    if length < 0:
        return _REFUSED
    return QuickMessage(code, match[3], close, content_type, encoding, location), length
