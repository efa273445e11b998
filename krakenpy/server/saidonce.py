"""A warning about the gateway's surroundings (a JWK set, a GELF or syslog collector, an OTLP
collector that cannot be reached) said once per gateway with ``krakenpy run -w N``, not once per
worker: KrakenD is one process and says it once.

The first process to say a line under the configuration generation it builds or serves says it
at its level; the others log the same line at ``DEBUG`` while it was said less than :data:`WINDOW`
seconds ago (nothing is lost at ``DEBUG``). A line of other text (another error, or a failure where
the others succeeded) is its own line, said by whoever has it first. A marker per (generation,
topic) in the run directory the supervisor shares with its workers (:mod:`krakenpy.server.rundir`)
holds when the topic's last line was said and which line it was; a lock file makes look and write
one step. The topic is the dependency a line is about (a JWK set's URL, a DNS SRV name): a line is
folded only while it is the last one said about it, so an outage, its end and the next outage in
the same minute are each said (the log's last word about a dependency is always its state now),
and the markers are bounded by the configuration, not by the texts said (a count, an error's
detail). With one worker (no run directory), in ``check`` and in tests, every line is said as before.

A marker's name is a digest keyed with a random key the supervisor draws (its workers inherit it):
a line's text (a URL's query token) cannot be guessed back from it, and nothing of it is written.

Only what is said goes through here (lines the callers already bound per outage or per minute):
nothing per request, a file looked at and written per line said."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time

__all__ = ["WINDOW", "advance", "generation", "say", "share"]

#: seconds a line said by one process stays said for the others (a repeat is said again after it:
#: a worker restarted later, an outage that came back, the collectors' once-a-minute lines)
WINDOW = 60.0
_LOCK = ".said.lock"
#: seconds a process waits at most for another's look and write (then it says the line)
_WAIT = 0.05
_TRIES = 50
_PREFIX = ".said-"

#: the run directory shared with the other processes of the gateway (None: say everything)
_DIR: str | None = None
#: the configuration generation this process builds or serves
_GENERATION = 0
#: the markers' digest key, drawn by the supervisor (its workers inherit it)
_KEY = b""


def share(path: str | None) -> None:
    """Called by the supervisor once it made the run directory (its workers inherit it)."""
    global _DIR, _KEY
    _DIR = path
    _KEY = os.urandom(16) if path is not None else b""


def generation(number: int) -> None:
    """The configuration generation this process builds now (a worker's start or reload)."""
    global _GENERATION
    _GENERATION = number


def advance(number: int) -> None:
    """Called by the supervisor when a reload is accepted: its own generation, and the markers of
    generations no worker builds or serves any more (before the previous one) removed."""
    generation(number)
    path = _DIR
    if path is None:
        return
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        said, _, _ = name[len(_PREFIX) :].partition("-")
        if name.startswith(_PREFIX) and said.isdigit() and int(said) < number - 1:
            try:
                os.unlink(os.path.join(path, name))
            except OSError:
                pass


def say(
    logger: logging.Logger, level: int, msg: str, *args: object, key: str | None = None, topic: str | None = None
) -> None:
    """``logger.log(level, msg, *args)``, at ``DEBUG`` when another process of the gateway said the
    same line for the same generation within :data:`WINDOW` seconds, as the last line about its
    ``topic`` (by default: the line itself). ``key``: what makes two lines the same when their text
    is not (a timeout's text names the seconds it took)."""
    if not logger.isEnabledFor(level):
        return
    path = _DIR
    if path is None:
        logger.log(level, msg, *args, stacklevel=2)
        return
    line = key if key is not None else msg % args if args else msg
    if not _first(path, line if topic is None else topic, line):
        logger.debug(msg, *args, stacklevel=2)
        return
    logger.log(level, msg, *args, stacklevel=2)
    _flush(logger)  # marked as said: out now, not in a batch a process killed in the next ms loses


def _flush(logger: logging.Logger) -> None:
    """The outputs of ``logger``'s line written now (a batched writer's ``flush``)."""
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            try:
                handler.flush()
            except Exception:  # an output that fails says so itself; the line was handed over
                pass
        current = current.parent if current.propagate else None


def _locked(fd: int) -> bool:
    """Take the lock (held for a read and a write: microseconds), waiting :data:`_WAIT` at most: a
    holder stopped inside (``SIGSTOP``) never holds a loop's thread longer."""
    for _ in range(_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(_WAIT / _TRIES)
    return False


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12, key=_KEY).hexdigest()


def _first(path: str, topic: str, line: str) -> bool:
    """Whether ``line`` is news about ``topic`` for this gateway: not the last line said about it
    within the window (noted as said now if so). Any failure (the directory removed under the
    gateway) says it: a line too many, never one lost."""
    marker = os.path.join(path, f"{_PREFIX}{_GENERATION}-{_digest(topic)}")
    said_line = _digest(line)
    try:
        lock = os.open(os.path.join(path, _LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return True
    try:
        if not _locked(lock):
            return True
        now = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
        try:
            with open(marker, "rb") as found:
                when, _, last = found.read(64).decode("ascii").partition(" ")
            if last == said_line and 0.0 <= now - float(when) < WINDOW:
                return False
        except (OSError, ValueError):
            pass
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, f"{now!r} {said_line}".encode())
        finally:
            os.close(fd)
        return True
    except OSError:
        return True
    finally:
        os.close(lock)  # lets the lock go
