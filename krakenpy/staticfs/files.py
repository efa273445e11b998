"""One file (or folder) as an HTTP answer: type, validators, conditional and range requests, reading.

What Go's ``http.FileServer`` does for KrakenD, plus an ``ETag``: ``Content-Type`` from the extension
(Go's built-in table, then content sniffing), ``Last-Modified``, ``If-None-Match`` /
``If-Modified-Since`` (304), a single ``Range`` (206, 416; several ranges get the whole file), and
``index.html`` or an opt-in listing for folders.

Files up to :data:`INLINE_READ` bytes are read on the event loop (measured with ``python -m bench.static_files``:
5 µs for 4 KiB, 15 µs for 256 KiB); larger ones in a worker thread (100-140 µs of hand-over, but the loop keeps
serving). A body larger than the folder's ``max_size`` is never read into memory (500).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from typing import Final

from krakenpy.server.sniff import sniff
from krakenpy.staticfs.listing import listing_page
from krakenpy.staticfs.paths import Folder, Located

__all__ = ["INLINE_READ", "FileAnswer", "content_type", "not_found", "serve_file"]

log = logging.getLogger("krakenpy.static")

#: files up to this size are read on the event loop; larger ones in a thread
INLINE_READ: Final = 256 * 1024
_SNIFF_LEN: Final = 512
_INDEX: Final = "index.html"
#: Go's ``mime`` built-in table (what KrakenD answers whatever the host's /etc/mime.types says)
_GO_TYPES: Final = {
    ".avif": "image/avif",
    ".css": "text/css; charset=utf-8",
    ".gif": "image/gif",
    ".htm": "text/html; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".mjs": "text/javascript; charset=utf-8",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".webp": "image/webp",
    ".xml": "text/xml; charset=utf-8",
}
#: Python's built-in table only (no /etc/mime.types: the answer must not depend on the host)
_PY_TYPES: Final = mimetypes.MimeTypes(filenames=())


@dataclass(slots=True)
class FileAnswer:
    """What to answer: status, headers, body; ``location`` (a path) for the folder/file redirects."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    location: str = ""


def not_found() -> FileAnswer:
    """Go's ``http.NotFound``: ``404 page not found``, plain text, ``nosniff``."""
    return FileAnswer(
        404,
        [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")],
        b"404 page not found\n",
    )


def content_type(name: str) -> str | None:
    """The type of a file by its extension (Go's table first, then Python's), ``None`` if unknown."""
    ext = os.path.splitext(name)[1].lower()
    if not ext:
        return None
    known = _GO_TYPES.get(ext)
    if known is not None:
        return known
    guessed = _PY_TYPES.types_map[True].get(ext)
    if guessed is None:
        return None
    return guessed + "; charset=utf-8" if guessed.startswith("text/") else guessed


def _etag(located: Located) -> str:
    # size and mtime (ns): changes whenever the file is rewritten, costs no read (nginx does the same)
    return f'"{located.stat.st_mtime_ns:x}-{located.stat.st_size:x}"'


def _matches(header: str, etag: str) -> bool:
    """``If-None-Match`` (weak comparison): ``*`` or one of the listed tags."""
    bare = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return int(mtime) <= since  # HTTP dates have whole seconds


def _byte_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """One ``bytes=a-b`` range as (start, end exclusive); ``None`` to ignore the header (several
    ranges, bad syntax); ``False`` when it cannot be satisfied (416)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()):
        return None
    if last and not last.isdigit():
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return False
        return max(size - length, 0), size
    start = int(first)
    if start >= size:
        return False
    end = min(int(last) + 1, size) if last else size
    if end <= start:
        return None
    return start, end


def _read(path: str, start: int, length: int) -> bytes:
    """``length`` bytes from ``start`` (fewer if the file shrank meanwhile): raw ``pread`` calls, no
    buffered file object (a third of the cost of ``open().read()`` for small files)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks: list[bytes] = []
        while length > 0:
            chunk = os.pread(fd, length, start)
            if not chunk:
                break
            chunks.append(chunk)
            start += len(chunk)
            length -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


@lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


async def _read_part(path: str, start: int, length: int) -> bytes:
    if length <= INLINE_READ:
        return _read(path, start, length)
    return await asyncio.to_thread(_read, path, start, length)


_too_large_logged: set[str] = set()


def _too_large(path: str, size: int, max_size: int) -> FileAnswer:
    if path not in _too_large_logged and len(_too_large_logged) < 1000:
        _too_large_logged.add(path)  # once per file: a popular large file must not flood the log
        log.warning("static file %s is %d bytes, over the %d-byte max_file_size: answered 500", path, size, max_size)
    return FileAnswer(500, [("Content-Type", "text/plain; charset=utf-8")], b"file too large\n")


async def serve_file(
    located: Located, *, method: str, header: Callable[[str], str | None], max_size: int
) -> FileAnswer:
    """The answer for a regular file: 200, 206, 304 or 416 (HEAD: the same headers, no body)."""
    info = located.stat
    size = info.st_size
    etag = _etag(located)
    headers: list[tuple[str, str]] = [("Accept-Ranges", "bytes"), ("ETag", etag)]
    if info.st_mtime > 0:
        headers.append(("Last-Modified", _http_date(int(info.st_mtime))))
    if_none_match = header("If-None-Match")
    if if_none_match is not None:
        fresh = _matches(if_none_match, etag)
    else:
        since = header("If-Modified-Since")
        fresh = since is not None and _not_modified_since(since, info.st_mtime)
    if fresh:
        return FileAnswer(304, [("ETag", etag)])
    start, end = 0, size
    status = 200
    requested = header("Range")
    if_range = header("If-Range")
    if requested is not None and (if_range is None or if_range.strip() == etag):
        chosen = _byte_range(requested, size)
        if chosen is False:
            return FileAnswer(416, [("Content-Range", f"bytes */{size}"), *headers])
        if isinstance(chosen, tuple):
            start, end = chosen
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
    length = end - start
    kind = content_type(located.path)
    if method == "HEAD":
        if kind is None:
            kind = sniff(_read(located.path, 0, _SNIFF_LEN)) if size else "text/plain; charset=utf-8"
        headers += [("Content-Type", kind), ("Content-Length", str(length))]
        return FileAnswer(status, headers)
    if length > max_size:
        return _too_large(located.path, length, max_size)
    body = await _read_part(located.path, start, length)
    if kind is None:
        head = body if start == 0 else _read(located.path, 0, _SNIFF_LEN)
        kind = sniff(head[:_SNIFF_LEN]) if head else "text/plain; charset=utf-8"
    headers.append(("Content-Type", kind))
    return FileAnswer(status, headers, body)


async def serve_path(
    folder: Folder,
    parts: Sequence[str],
    *,
    method: str,
    header: Callable[[str], str | None],
    listing: bool,
    max_size: int,
    trailing_slash: bool = False,
    redirects: bool = True,
) -> FileAnswer:
    """The answer for ``parts`` under ``folder``, with Go's ``FileServer`` rules for folders: a folder
    named without its trailing slash redirects to it, its ``index.html`` is served, else its listing
    (only with ``listing``) or 404; ``…/index.html`` redirects to its folder. ``redirects=False`` (a
    backend) serves the index directly and never redirects."""
    located = folder.locate(parts)
    if located is None:
        return not_found()
    if located.is_dir:
        if redirects and not trailing_slash and parts:
            return FileAnswer(301, location=parts[-1] + "/")
        index = folder.locate([*parts, _INDEX])
        if index is not None and index.is_file:
            return await serve_file(index, method=method, header=header, max_size=max_size)
        if not listing:
            return not_found()
        body = listing_page(located.path, folder.real() or located.path)
        return FileAnswer(200, [("Content-Type", "text/html; charset=utf-8")], b"" if method == "HEAD" else body)
    if not located.is_file:
        return not_found()
    if redirects and trailing_slash:
        return FileAnswer(301, location="../" + parts[-1])
    if redirects and parts and parts[-1] == _INDEX:
        return FileAnswer(301, location="./")
    return await serve_file(located, method=method, header=header, max_size=max_size)
