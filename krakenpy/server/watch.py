"""``--watch``: notice when the configuration, a Lua source or a TLS file changes, by polling ``stat``
(no inotify dependency; a second of latency is fine for a reload)."""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["INTERVAL", "Watcher"]

#: seconds between two polls
INTERVAL = 1.0

_Stamp = tuple[int, int, int] | None


def _stamp(path: str) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None  # missing: its reappearance is a change too
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Watcher:
    """The files of the running configuration and what they looked like when it was loaded."""

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self._stamps: dict[str, _Stamp] = {}
        self.reset(paths)

    def reset(self, paths: Iterable[str]) -> None:
        """Watch ``paths`` from their current state on."""
        self._stamps = {p: _stamp(p) for p in dict.fromkeys(paths)}

    def add(self, paths: Iterable[str]) -> None:
        """Also watch ``paths`` not watched yet, from their current state on."""
        for path in paths:
            if path not in self._stamps:
                self._stamps[path] = _stamp(path)

    @property
    def paths(self) -> list[str]:
        return list(self._stamps)

    def changed(self) -> list[str]:
        """The files that differ from the last :meth:`reset` or :meth:`changed` call."""
        found: list[str] = []
        for path, before in self._stamps.items():
            now = _stamp(path)
            if now != before:
                self._stamps[path] = now
                found.append(path)
        return found
