"""From a request path to a file inside one folder, without ever leaving it."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["Folder", "Located", "inside", "safe_parts"]

#: the one hidden name a static site legitimately serves (RFC 8615: security.txt, ACME challenges)
_WELL_KNOWN: Final = ".well-known"
_BAD_CHARS: Final = ("\x00", "\\")


def safe_parts(relative: str) -> list[str] | None:
    """The path segments of ``relative`` (already percent-decoded), or ``None`` when one of them could
    name something outside the folder or hidden: ``..``, a NUL byte, a backslash, or a name starting with
    a dot (other than ``.well-known``). Empty and ``.`` segments are dropped, as Go's ``path.Clean`` does."""
    parts: list[str] = []
    for part in relative.split("/"):
        if not part or part == ".":
            continue
        if part[0] == "." and part != _WELL_KNOWN:
            return None  # "..", and hidden files such as .git or .htpasswd
        if any(c in part for c in _BAD_CHARS):
            return None
        parts.append(part)
    return parts


@dataclass(frozen=True, slots=True)
class Located:
    """A file or folder found inside the root: its real path and its ``stat``."""

    path: str
    stat: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.stat.st_mode)


class Folder:
    """The folder files are served from. Its real path is resolved once, when it first exists (a folder
    created after start-up is served from then on, as KrakenD serves the filesystem as it changes)."""

    __slots__ = ("_real", "configured")

    def __init__(self, configured: str) -> None:
        #: the absolute path as configured (not resolved)
        self.configured = configured
        self._real: str | None = None
        self.real()

    def real(self) -> str | None:
        """The folder's real path, or ``None`` while it does not exist (or is not a folder)."""
        if self._real is None and os.path.isdir(self.configured):
            self._real = os.path.realpath(self.configured)
        return self._real

    def locate(self, parts: Sequence[str]) -> Located | None:
        """The file or folder ``parts`` names, or ``None`` when it does not exist, is not a regular file
        or folder, or is reached through a symlink whose target is outside the folder.

        Each segment costs one ``lstat``; only a segment that is a symlink costs a ``realpath`` (the
        target is then checked against the root), so symlinks inside the folder (a Kubernetes ConfigMap
        mount, a ``current`` release link) keep working."""
        root = self.real()
        if root is None:
            return None
        current = root
        try:
            info = os.stat(root) if not parts else None
            for part in parts:
                current = os.path.join(current, part)
                info = os.lstat(current)
                if stat.S_ISLNK(info.st_mode):
                    target = os.path.realpath(current)
                    if not inside(target, root):
                        return None
                    current = target
                    info = os.stat(current)
        except (OSError, ValueError):
            return None  # missing, not a folder on the way, a name the OS refuses
        assert info is not None
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            return None  # devices, FIFOs, sockets: never read
        return Located(current, info)


def inside(path: str, root: str) -> bool:
    """Whether the real path ``path`` is ``root`` or under it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
