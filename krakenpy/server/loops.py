"""The event loop the workers serve on: uvloop where it imports (the default, ``--loop auto``),
asyncio's own loop on request (``--loop asyncio``) or where uvloop is not installed (Windows).

Chosen once in the supervisor, before the workers fork: a ``--loop uvloop`` that cannot import is
one line at start-up, not a worker crash loop, and the workers inherit the imported module.
2026-12-01, P1 on one worker (``python -m bench``): uvloop answered 1.06–1.20x asyncio's rps, its
p99 at c=200 at or below asyncio's since :mod:`krakenpy.server.acceptor`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from krakenpy.tasks import loop_ended

__all__ = ["LOOPS", "LoopUnavailable", "loop_name", "resolve_loop", "run_on"]

#: what ``--loop`` accepts
LOOPS = ("auto", "uvloop", "asyncio")


class LoopUnavailable(Exception):
    """``uvloop`` was asked for and cannot be imported."""


def _uvloop_error() -> str | None:
    """Why uvloop cannot serve here, or None when it can."""
    try:
        import uvloop  # noqa: F401
    except ImportError as exc:  # not installed (win32), or a build that does not load
        return str(exc) or type(exc).__name__
    return None


def resolve_loop(name: str) -> str:
    """``auto`` → ``uvloop`` when it imports, else ``asyncio`` (silently); ``uvloop`` that does not
    import raises :class:`LoopUnavailable`."""
    if name not in LOOPS:
        raise ValueError(f"unknown event loop {name!r} (one of {', '.join(LOOPS)})")
    if name == "asyncio":
        return name
    problem = _uvloop_error()
    if problem is None:
        return "uvloop"
    if name == "uvloop":
        raise LoopUnavailable(f"--loop uvloop: uvloop cannot be imported ({problem}); use --loop asyncio")
    return "asyncio"


def run_on(name: str, main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` on a fresh loop of the kind ``name`` resolves to."""
    try:
        if resolve_loop(name) == "uvloop":
            import uvloop

            result: Any = uvloop.run(main)
            return int(result)
        return asyncio.run(main)
    finally:
        loop_ended()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what a running loop is (for the start-up log line)."""
    return "uvloop" if type(loop).__module__.partition(".")[0] == "uvloop" else "asyncio"
