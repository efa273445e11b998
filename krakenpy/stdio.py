"""Python's standard streams as a process may have them: closed at start (``krakenpy run >&-``, a
daemoniser: ``sys.stdout`` is then ``None``) or failing (a reader gone)."""

from __future__ import annotations

import sys

__all__ = ["flush_std_streams"]


def flush_std_streams() -> None:
    """Flush Python's standard output and error (before a fork: a child must not inherit their
    buffered text and write it twice). Either may be ``None`` or fail: neither stops the gateway."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
