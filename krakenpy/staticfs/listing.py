"""A folder's listing, in the HTML Go's ``http.FileServer`` writes (``directory_listing: true`` only)."""

from __future__ import annotations

import html
import os
from typing import Final
from urllib.parse import quote

from krakenpy.staticfs.paths import inside as _inside

__all__ = ["listing_page"]

#: entries listed at most: a folder of a million files must not make a megabyte page per request
MAX_ENTRIES: Final = 10_000


def listing_page(path: str, root: str) -> bytes:
    """``<pre>`` of links, sorted by name, folders with a trailing slash; hidden names and symlinks out
    of ``root`` are left out (they are never served). Names are escaped for the link and the text."""
    try:
        with os.scandir(path) as entries:
            names: list[str] = []
            for entry in entries:
                if entry.name.startswith(".") and entry.name != ".well-known":
                    continue
                try:
                    if entry.is_symlink() and not _inside(os.path.realpath(entry.path), root):
                        continue
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                names.append(entry.name + "/" if is_dir else entry.name)
                if len(names) >= MAX_ENTRIES:
                    break
    except OSError:
        names = []
    names.sort()
    lines = ['<!doctype html>\n<meta name="viewport" content="width=device-width">\n<pre>\n']
    for name in names:
        href = quote(name, safe="/", errors="surrogateescape")
        if ":" in name.split("/", 1)[0]:
            href = "./" + href  # "a:b" would read as a URL scheme
        text = html.escape(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        lines.append(f'<a href="{html.escape(href)}">{text}</a>\n')
    lines.append("</pre>\n")
    return "".join(lines).encode()
