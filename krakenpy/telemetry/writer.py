"""Batched line output: lines collect in a list and reach the file descriptor in one ``write`` per
batch, so a busy gateway makes a few system calls per batch instead of one per request, and no
stdlib ``logging`` call runs per request. A batch is written at the end of the loop tick when the
previous write is at least :data:`INTERVAL` old, else :data:`INTERVAL` after the previous write (or
at ``max_lines`` lines): a quiet gateway writes at once, a busy one every 20 ms.

A record can also be queued unformatted (:meth:`LineWriter.entry`, the access log's): its renderer
formats each run of such records at the flush, in the order of the other lines, so the formatting
is paid once per batch (one loop, one encode) rather than per request.

A file opened with ``follow`` (the access log's) follows log rotation: before each batch it looks
whether its path still names the file it writes (one ``stat`` per batch, not per line); a file moved
away (logrotate's default ``create``) or deleted is created anew, with mode 0600, and the batch goes
there, so lines never go on into a file that is renamed, compressed and removed. ``copytruncate``
needs nothing: the descriptor appends (``O_APPEND``) at the truncated end.

A pipe or a socket (a standard output that ``run``'s workers share, a FIFO) is always written in
writes of whole lines of at most ``PIPE_BUF`` bytes, each of which the pipe takes whole (POSIX): a
longer write goes in parts while the pipe is full, and another worker's between them would cut lines
in two. No cheaper one-write path is safe: how much a pipe takes before its writer waits cannot be
known from outside (Linux counts its room in pages, which small writes leave part empty, and another
worker may write between the look and the write). A descriptor left non-blocking by the process's
parent is waited for when full, never dropped.

A batch the destination refuses (a full disk, EACCES, EPIPE) is dropped and counted (:attr:`LineWriter.dropped`;
the lines a short write took whole are not), said once an outage and once when it takes lines again;
a line a full disk cut short is ended by a newline at the start of the next batch written there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import stat
import sys
import time
from collections.abc import Callable
from typing import IO, Any, Final

from krakenpy.errors import ConfigError, ConfigIssue
from krakenpy.files import check_append_target, open_error
from krakenpy.tasks import on_loop_end

__all__ = [
    "INTERVAL",
    "LineWriter",
    "check_output_file",
    "file_identity",
    "flush_stdout",
    "output_file",
    "stdout_writer",
]

log = logging.getLogger("krakenpy.telemetry")

_monotonic = time.monotonic

#: lines buffered before a write even within one tick
MAX_LINES: Final = 256
#: the least time between two writes while lines keep coming. One flush per loop tick cost a loop
#: callback, the flush and the renderer's set-up for every request of a lone connection (~400 of the
#: access log's ~950 Python opcodes per request through the server, 2026-12-01); at 20 ms a busy
#: worker writes dozens of lines per batch, and a line waits at most 20 ms. Not ``Final``: mypyc writes a
#: Final's value into the compiled code, and the bench (``--writer-interval``) and tests change it
INTERVAL = 0.02
#: ``render(records) -> lines``: what :meth:`LineWriter.entry` queues records for
Render = Callable[[list[Any]], bytes]


class LineWriter:
    """Write ``bytes`` lines to a file descriptor (or a text stream) in batches."""

    def __init__(
        self,
        fd: int | None = None,
        *,
        stream: IO[str] | None = None,
        max_lines: int = MAX_LINES,
        owned: bool = False,
        name: str = "",
    ) -> None:
        self._fd = fd
        self._stream = stream
        #: lines, and ``(render, records)`` runs of records queued by :meth:`entry`
        self._buffer: list[bytes | tuple[Render, list[Any]]] = []
        #: the run :meth:`entry` appends to (the buffer's last item), or None
        self._run: list[Any] | None = None
        self._render: Render | None = None
        self._runs = False
        #: lines queued, not counting the records of the open run (``_run``)
        self._lines = 0
        #: how many records the open run may hold before the batch reaches ``max_lines``
        self._room = 0
        self._max = max_lines
        self._scheduled = False
        #: the pending timer of a batch written later than this tick, or None
        self._handle: asyncio.TimerHandle | None = None
        #: ``time.monotonic()`` of the last write
        self._last = -INTERVAL
        self._owned = owned
        #: lines lost because the destination failed (EPIPE, full disk)
        self.dropped = 0
        #: the last batch failed (said once until one is written again); a failed write cut a line
        #: (a regular file: the next batch begins with a newline)
        self._failing = False
        self._cut = False
        #: why the last write failed (a full disk's ``strerror``), for an owner that says it itself
        self.failure = ""
        #: the owner says the outages (the audit trail's file sink, with its records' count): this
        #: writer counts its drops and says nothing
        self.quiet = False
        #: what the owners of some of its lines add to its "writing again" line, called at each end of
        #: an outage ("" adds nothing): the audit trail on standard output, the records it lost, so
        #: that the end is said once (:meth:`krakenpy.telemetry.audit.AuditTrail.start`)
        self.again: list[Callable[[], str]] = []
        self.name = name
        #: the path followed through log rotation and the identity of the file written (None: not followed)
        self._follow: str | None = None
        self._identity: tuple[int, int] | None = None
        #: files created anew because the path named another one or none (rotations followed), and
        #: whether the last try failed
        self.reopened = 0
        self._unmade = False
        #: the largest write that reaches the destination whole (``PIPE_BUF``) when it is a pipe or a
        #: socket, which the forked workers (and the supervisor) share, else 0: see :func:`_write_lines`
        self._piece = _piece_size(fd)

    @classmethod
    def open(cls, path: str, *, follow: bool = False, **kwargs: object) -> LineWriter:
        """Append to a file (created with mode 0600: logs may hold personal data); with ``follow``,
        create it anew when it is moved away or deleted (see the module's text)."""
        fd = _open_append(path)
        writer = cls(fd, owned=True, name=path, **kwargs)  # type: ignore[arg-type]
        if follow:
            info = os.fstat(fd)
            writer._follow = path
            writer._identity = (info.st_dev, info.st_ino)
        return writer

    def write(self, line: bytes) -> None:
        """Queue one line (with its newline); written at the end of this loop tick."""
        self._buffer.append(line)
        if self._run is not None:  # the open run's records count from now on
            self._lines += len(self._run)
            self._run = None
        self._lines += 1
        if self._lines >= self._max:
            self.flush()
        elif not self._scheduled:
            self._schedule()

    def entry(self, render: Render, record: Any) -> None:
        """Queue one record for ``render`` (records in a row are rendered together at the flush)."""
        run = self._run
        # the usual call (the access log's, per request): one append and one length check, as the
        # run's opening already scheduled the batch (~34 Python opcodes to ~20, 2026-12-01)
        if run is not None and self._render is render:
            run.append(record)
            if len(run) >= self._room:
                self.flush()
            return
        if run is not None:
            self._lines += len(run)
        self._run = [record]
        self._render = render
        self._runs = True
        self._buffer.append((render, self._run))
        self._room = self._max - self._lines
        if self._room <= 1:
            self.flush()
        elif not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # start-up and shutdown: no loop, write now
            self.flush()
            return
        self._scheduled = True
        wait = self._last + INTERVAL - _monotonic()
        if wait <= 0.0:
            loop.call_soon(self.flush)
        else:
            self._handle = loop.call_later(wait, self._timed)

    def _timed(self) -> None:
        self._handle = None  # running: nothing to cancel
        self.flush()

    def flush(self) -> None:
        """Write everything queued, in one call when the destination takes it."""
        self._scheduled = False
        if self._handle is not None:  # a flush before the timer (max_lines, close): the timer is moot
            self._handle.cancel()
            self._handle = None
        if not self._buffer:
            return
        self._last = _monotonic()
        buffer = self._buffer
        count = self._lines + (len(self._run) if self._run is not None else 0)
        runs = self._runs
        self._buffer = []
        self._run = None
        self._runs = False
        self._lines = 0
        if not runs:
            data = b"".join(buffer)  # type: ignore[arg-type]
        else:
            # a loop, not a generator expression: compiled, a generator is an object and a call per item
            parts: list[bytes] = []
            try:
                for item in buffer:
                    if isinstance(item, bytes):
                        parts.append(item)
                    else:
                        parts.append(item[0](item[1]))
            except Exception:  # a renderer that fails loses its batch, never the process
                self.dropped += count
                return
            data = parts[0] if len(parts) == 1 else b"".join(parts)
        if self._follow is not None:
            self._rotated(self._follow)
        lead = 0  # a newline put before the batch's lines
        if self._cut and data[:1] != b"\n":  # the line a failed write cut is ended before the next ones
            data = b"\n" + data
            lead = 1
        written = 0
        try:
            if self._fd is not None:
                # one write takes the batch but for a short write (a full disk): no view made and
                # sliced unless one happens; a pipe or socket longer than PIPE_BUF in whole-line pieces
                if self._piece and len(data) > self._piece:
                    _write_lines(self._fd, data, self._piece)
                else:
                    try:
                        written = os.write(self._fd, data)
                    except BlockingIOError:
                        written = 0
                    if written < len(data):
                        _write_rest(self._fd, memoryview(data)[written:])
            elif self._stream is not None:
                self._stream.write(data.decode("utf-8", "replace"))
                self._stream.flush()
            else:  # no destination: a standard output that was closed when the process started
                self.dropped += count
                self._failed("it is closed")
                return
        except (OSError, ValueError) as exc:
            # the lines a short write took whole are not lost; the one it cut is ended at the next batch
            whole = data.count(b"\n", lead, written) if written > lead else 0
            self.dropped += count - whole
            if written and not self._piece:
                self._cut = data[written - 1] != 10  # 10: b"\n"
            self._failed(exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))
            return
        self._cut = False
        if self._failing:
            self._failing = False
            if not self.quiet:
                figures = "".join(f"; {said}" for said in [note() for note in self.again] if said)
                name = self.name or "log output"
                log.warning("%s: writing again (%d line(s) dropped so far%s)", name, self.dropped, figures)

    def _failed(self, why: str) -> None:
        """Say once an outage that lines are dropped (a full disk, EACCES, a reader gone): on the
        application log and, for standard output (where that log may go), on standard error."""
        self.failure = why
        if self._failing:
            return
        self._failing = True
        if self.quiet:
            return
        name = self.name or "log output"
        log.warning("%s: cannot write: %s; lines are dropped (counted) until it takes them", name, why)
        if name == "stdout":
            try:
                os.write(2, f"krakenpy: stdout: cannot write: {why}; its lines are dropped\n".encode())
            except OSError:
                pass

    def _rotated(self, path: str) -> None:
        """Write to a new file at ``path`` when it no longer names the one written (a rotation moved
        or removed it); one that cannot be made (its directory gone too) is tried again next batch,
        this batch going to the old file meanwhile (one warning until a file is made again)."""
        found = file_identity(path)
        if found == self._identity or self._fd is None:
            return
        try:
            fd = _open_append(path)
            info = os.fstat(fd)
        except OSError as exc:
            if not self._unmade:
                self._unmade = True
                log.warning("cannot create %s again after it was moved or deleted: %s", path, exc.strerror)
            return
        os.close(self._fd)
        self._fd = fd
        self._piece = _piece_size(fd)
        self._cut = False
        self._identity = (info.st_dev, info.st_ino)
        self._unmade = False
        self.reopened += 1
        log.info("%s was moved or deleted: writing a new one", path)

    def close(self) -> None:
        self.flush()
        if self._owned and self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _piece_size(fd: int | None) -> int:
    """``PIPE_BUF`` for a pipe (a FIFO) or a socket, else 0 (a regular file appends each write whole)."""
    if fd is None:
        return 0
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return 0
    return getattr(select, "PIPE_BUF", 512) if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else 0


def _write_lines(fd: int, data: bytes, piece: int) -> None:
    """Write a batch to a pipe or socket in writes of whole lines, at most ``piece`` bytes each (a
    longer line alone). The ``run`` workers share the standard output: a pipe takes a write of at
    most ``PIPE_BUF`` bytes whole, but a longer one while the pipe is full goes in parts, between which
    another worker's batch went: lines cut in two and mixed with the other's (a log shipper reading
    behind under load)."""
    view = memoryview(data)
    start, end = 0, len(data)
    while start < end:
        stop = start + piece
        if stop >= end:
            stop = end
        else:
            cut = data.rfind(b"\n", start, stop)
            if cut < 0:  # a line longer than a piece: that line alone
                cut = data.find(b"\n", stop)
                stop = end if cut < 0 else cut + 1
            else:
                stop = cut + 1
        _write_rest(fd, view[start:stop])
        start = stop


def _write_rest(fd: int, view: memoryview) -> None:
    """Write all of ``view``. A descriptor left non-blocking by whoever started the process (a
    standard output shared with a parent that made it so) answers EAGAIN when its reader lags: wait
    until it takes more, as a blocking one (and Go's writer) would, instead of losing the rest of the
    batch with a line cut in the middle."""
    # Any: typeshed calls select.poll a class, it is a function (mypyc would check the type)
    poller: Any = None
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            if poller is None:
                poller = select.poll()
                poller.register(fd, select.POLLOUT)
            poller.poll()
            continue
        view = view[written:]


def _open_append(path: str) -> int:
    # O_NONBLOCK while opening: a FIFO nobody reads fails (ENXIO) instead of blocking start-up
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    os.set_blocking(fd, True)
    return fd


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names now, or None when it names none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


_STDOUT: dict[object, LineWriter] = {}


def stdout_writer() -> LineWriter:
    """The writer on the process's standard output (its descriptor, bypassing Python's buffer):
    one per destination, so the application and access logs share batches and keep their order."""
    try:
        sys.stdout.flush()
        key: object = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced stdout (pytest capture, embedded use)
        key = sys.stdout
    found = _STDOUT.get(key)
    if found is None:
        found = _STDOUT[key] = (
            LineWriter(key, name="stdout") if isinstance(key, int) else LineWriter(stream=sys.stdout, name="stdout")
        )
    return found


def flush_stdout() -> None:
    """Write what the standard-output writers hold: a batch waiting on a timer of a loop that has
    ended would otherwise stay unwritten, and its writer never schedule again."""
    for writer in tuple(_STDOUT.values()):
        writer.flush()


on_loop_end(flush_stdout)


def check_output_file(path: str, where: str) -> None:
    """What opening the config-named file ``path`` to append to it would find wrong (``where``: its
    JSON path), as a :class:`ConfigError`, without creating or touching it."""
    if "\0" in path:  # no system call takes it (Python raises ValueError, not OSError)
        raise ConfigError([ConfigIssue(where, f"cannot open {path!r}: a NUL character in the name")])
    check_append_target(path, where)


def output_file(path: str, where: str, *, serving: bool, **kwargs: Any) -> LineWriter | None:
    """A config-named append-only file (``where``: its JSON path, for errors); ``check`` (not
    ``serving``) only looks whether it could be opened, creates nothing and gets ``None``."""
    if not serving or "\0" in path:  # a NUL, which no open takes, raises the error check gives
        check_output_file(path, where)
        return None
    try:
        return LineWriter.open(path, **kwargs)
    except OSError as exc:
        check_append_target(path, where)  # check's words where it tells why (run says what check says)
        raise open_error(path, where, exc) from None
