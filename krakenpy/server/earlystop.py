"""Stop signals that reach ``krakenpy run`` before its supervisor listens for them.

From the interpreter's start to :meth:`Supervisor.run <krakenpy.server.supervisor.Supervisor.run>`
(the imports, the configuration's load and checks, the sockets bound: ~0.3 s, longer for a big
configuration), ``SIGTERM`` had its default action: the process ended by the signal (exit status
−15) instead of stopping cleanly. :func:`install`, the first thing ``python -m krakenpy run`` and
the ``krakenpy`` script do, records ``SIGTERM`` and ``SIGINT`` from then on; the supervisor takes
them over (:func:`take`) once its own handlers are in place and, asked to stop before it has forked
a worker, forks none and exits 0. The start itself runs on to the supervisor (it holds no worker
to stop; a ``KeyboardInterrupt`` raised in the middle of it, SIGINT's default, showed tracebacks
from wherever it landed); a second stop a second or more after the first cuts it (a start that
hangs), as SIGINT's ``KeyboardInterrupt`` did. Only signals sent before the interpreter ran this
module still end the process by their default action.

Only :mod:`signal` here: imported before anything else of the command.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

__all__ = ["install", "take", "uninstall"]

_STOPS = (signal.SIGTERM, signal.SIGINT)
#: the stop signals received since :func:`install`, in order
_pending: list[int] = []
#: the handlers :func:`install` replaced (empty: not installed)
_previous: dict[int, Any] = {}


#: when the first one came (``time.monotonic``)
_first: list[float] = []
#: a second stop this long after the first cuts the start (as the supervisor's ``REPEAT``): one
#: signal sent to the process group and forwarded by a wrapper arrives twice at once, no cut
_REPEAT = 1.0


def _record(signum: int, _frame: FrameType | None) -> None:
    now = time.monotonic()
    if not _first:
        _first.append(now)
    elif now - _first[0] >= _REPEAT:
        raise KeyboardInterrupt  # a start that hangs is cut: ``run`` exits 0 (cli._builtin)
    _pending.append(signum)


def install(argv: Sequence[str]) -> None:
    """Record stop signals from now on when ``argv`` (without the program) is a ``run`` command."""
    if _previous or not argv or argv[0] != "run":
        return
    for signum in _STOPS:
        try:
            _previous[signum] = signal.signal(signum, _record)
        except ValueError:  # not the main thread (``cli.main`` called by a program's thread): nothing to record
            return


def take() -> list[int]:
    """The stop signals recorded so far (each once). The caller has installed its own handlers:
    nothing is recorded by this module from then on."""
    taken = _pending[:]
    del _pending[: len(taken)]
    return taken


def uninstall() -> None:
    """The handlers :func:`install` replaced, back where they are still this module's."""
    for signum, handler in _previous.items():
        current: Callable[..., Any] | int | None = signal.getsignal(signum)
        if current is _record:
            signal.signal(signum, handler)
    _previous.clear()
    _pending.clear()
    _first.clear()
