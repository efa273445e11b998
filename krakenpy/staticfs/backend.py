"""Files as a backend (``backend/static-filesystem``): the upstream call answered from the folder.

The call is an :data:`~krakenpy.backends.client.UpstreamCall`, so the HTTP executor around it treats
the file like any upstream answer: 200 is decoded with the backend's ``encoding`` and filtered, 404 is
a backend error (or passed through on ``no-op``), ``backend/http`` options apply. The file is the
backend URL's path (``url_pattern`` with its parameters, percent-decoded) under the folder.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

from krakenpy.backends.client import UpstreamCall, UpstreamResponse
from krakenpy.staticfs.files import FileAnswer, not_found, serve_path
from krakenpy.staticfs.paths import Folder, safe_parts

__all__ = ["static_upstream"]

log = logging.getLogger("krakenpy.static")


def _parts(url: str) -> list[str] | None:
    """The file segments of the backend URL: each percent-decoded on its own, so a parameter value
    with an encoded ``/`` (``%2F``) or ``..`` (``%2E%2E``) is one refused segment, never a path."""
    path = urlsplit(url).path or "/"
    parts: list[str] = []
    for raw in path.split("/"):
        segment = unquote(raw, errors="surrogateescape")
        if "/" in segment:
            return None
        parts.append(segment)
    return safe_parts("/".join(parts))


def _upstream(answer: FileAnswer) -> UpstreamResponse:
    content_type = next((v for k, v in answer.headers if k == "Content-Type"), "")
    return UpstreamResponse(answer.status, tuple(answer.headers), answer.body, content_type)


def static_upstream(folder: Folder, *, listing: bool, max_size: int) -> UpstreamCall:
    """The upstream call of one backend: GET and HEAD read the file, other methods read it too (the
    backend's method only says how KrakenD would call a host; a file has one answer)."""

    async def call(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> UpstreamResponse:
        parts = _parts(url)
        if parts is None:
            return _upstream(not_found())
        request_headers = {name.lower(): value for name, value in headers}
        answer = await serve_path(
            folder,
            parts,
            method="HEAD" if method == "HEAD" else "GET",
            header=lambda name: request_headers.get(name.lower()),
            listing=listing,
            max_size=max_size,
            redirects=False,
        )
        return _upstream(answer)

    return call
