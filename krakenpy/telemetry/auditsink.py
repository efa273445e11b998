"""Where audit records go: standard output, an append-only file (the hash chain continues across
restarts), or an HTTP collector (JSON-lines batches, retried with back-off)."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable, Sequence
from typing import Protocol

import aiohttp
import orjson

from krakenpy.telemetry.answers import skim
from krakenpy.telemetry.writer import LineWriter, file_identity

__all__ = ["AuditSink", "FileSink", "HttpSink", "SinkError", "StreamSink", "ends_torn", "last_hash"]

log = logging.getLogger("krakenpy.audit")
#: how much of the end of an audit file is read to find the last record
_TAIL = 65536
#: a collector's answers that the same body will always get (malformed, too large, unprocessable);
#: others (401 until its credentials are fixed, 429, 5xx, no answer) are retried
_REFUSED = frozenset({400, 413, 415, 422})


class SinkError(Exception):
    """Records a sink could not write, and will not: ``lost`` of the batch it was given."""

    def __init__(self, lost: int, message: str) -> None:
        super().__init__(message)
        self.lost = lost


class AuditSink(Protocol):
    """Receives serialised records (one JSON line each, newline included), in order."""

    async def write(self, lines: Sequence[bytes]) -> None: ...

    async def close(self) -> None: ...


class StreamSink:
    """A :class:`LineWriter` destination (standard output or a file). ``torn``: the destination
    ends in the middle of a line (a process that died while writing), so the first record starts
    on a line of its own. A batch the writer drops raises: with the reason when the writer is quiet
    (the file sink's), else (the shared standard output, which says its outages itself) without it."""

    def __init__(self, writer: LineWriter, *, owned: bool = False, torn: bool = False) -> None:
        self.writer = writer
        self._owned = owned
        self._torn = torn
        #: the trail's figure on the writer's "writing again" line (:meth:`say_again`)
        self._figure: Callable[[], str] | None = None

    async def write(self, lines: Sequence[bytes]) -> None:
        writer = self.writer
        if self._torn:
            writer.write(b"\n")
            self._torn = False
        before = writer.dropped
        for line in lines:
            writer.write(line)
        writer.flush()
        # a full disk: part of the batch may be written, its last line cut, which the writer ends
        # itself before its next batch (its ``_cut``); nothing to add here: a failure that cut nothing
        # (a FIFO's reader gone, a batch refused whole) left a blank line before the next record
        if writer.dropped != before:
            name = writer.name or "the destination"
            if writer.quiet:  # the trail's line is the only one: it tells why
                raise OSError(f"{name}: cannot write: {writer.failure or 'refused'}")
            # a shared writer (standard output: the access and application logs' too) says its own
            # outage, with the reason, once for all its lines: the trail's line names the records only
            raise OSError(f"{name} did not take them (its own line says why)")

    def say_again(self, figure: Callable[[], str]) -> bool:
        """Whether the writer says the end of an outage itself (a shared one: standard output), then
        with ``figure`` on its line (the trail's records dropped) until :meth:`close`."""
        if self.writer.quiet:
            return False
        self.writer.again.append(figure)
        self._figure = figure
        return True

    async def close(self) -> None:
        if self._figure is not None:
            self.writer.again.remove(self._figure)
            self._figure = None
        if self._owned:
            self.writer.close()
        else:
            self.writer.flush()


class FileSink(StreamSink):
    """An append-only file, created with mode 0600. A file moved away or deleted while the gateway
    runs (log rotation, an operator) is created anew at the next batch, its first record chained to
    the last one of the old file: records never go on into a file nobody can find. A file found
    ending mid-line is looked at again at the first batch (``run -w N``: another worker may have
    ended that line since). A write that fails
    (a full disk) raises with the reason; its writer says nothing itself (the trail says the outage
    once)."""

    def __init__(self, path: str, writer: LineWriter | None = None) -> None:
        super().__init__(writer or LineWriter.open(path, max_lines=1 << 30), owned=True, torn=ends_torn(path))
        self.writer.quiet = True  # the trail says an outage once, with the records it lost
        self.path = path
        self._file = file_identity(path)

    async def write(self, lines: Sequence[bytes]) -> None:
        found = file_identity(self.path)  # one stat per batch, not per record
        if found != self._file:
            try:
                writer = LineWriter.open(self.path, max_lines=1 << 30)
            except OSError as exc:  # the directory gone: the batch is lost (counted), retried next time
                raise OSError(f"cannot create {self.path} again: {exc.strerror}") from None
            log.warning("audit: %s was moved or deleted: writing a new one", self.path)
            self.writer.close()
            writer.quiet = True
            self.writer, self._file, self._torn = writer, file_identity(self.path), ends_torn(self.path)
        elif self._torn:
            # looked again at the first batch: a line another worker of ``run -w N`` was writing when
            # this one opened the file (its first part visible) has ended since, and a torn line a dead
            # process left was ended by whichever worker wrote first; a second newline is a blank line
            self._torn = ends_torn(self.path)
        await super().write(lines)


def _tail(path: str, size: int) -> bytes | None:
    """The last ``size`` bytes (at most) of the existing regular file ``path``; None for anything else
    (missing, unreadable, a FIFO or a device: never waited on)."""
    try:
        # O_NONBLOCK: a FIFO (a log shipper) opens at once; only a regular file has an end to read
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        return os.pread(fd, size, max(0, info.st_size - size))  # bounded, even if it grows
    except OSError:
        return None
    finally:
        os.close(fd)


def ends_torn(path: str) -> bool:
    """Whether an existing regular file ends without a newline (its last record cut short)."""
    last = _tail(path, 1)
    return bool(last) and last != b"\n"


def last_hash(path: str) -> str | None:
    """The ``hash`` of the last complete record of an existing audit file (to continue its chain)."""
    for line in reversed((_tail(path, _TAIL) or b"").splitlines()):
        try:
            value = orjson.loads(line).get("hash")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(value, str):
            return value
    return None


class HttpSink:
    """POST batches as ``application/x-ndjson``; a failed batch is retried (back-off up to 30 s)
    while newer records wait in the trail's bounded queue."""

    def __init__(self, url: str, headers: Sequence[tuple[str, str]] = (), timeout: float = 10.0) -> None:
        self.url = url
        self.headers = dict(headers)
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def write(self, lines: Sequence[bytes]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        lost = await self._deliver(self._session, lines)
        if lost:
            raise SinkError(lost, f"the collector {self.url} refused {lost} record(s) for good")

    async def _deliver(self, session: aiohttp.ClientSession, lines: Sequence[bytes]) -> int:
        """Post ``lines`` until the collector takes them; how many it refused for good (a batch it
        calls malformed or too large is halved until the records it refuses are alone)."""
        body = b"".join(lines)
        delay = 0.5
        while True:
            try:
                # a redirect is no delivery: aiohttp would follow a 301/302 with a GET without the batch
                async with session.post(
                    self.url,
                    data=body,
                    headers={"Content-Type": "application/x-ndjson", **self.headers},
                    allow_redirects=False,
                ) as resp:
                    await skim(resp)
                    if resp.status < 300:
                        return 0
                    status = resp.status
                    error: object = f"HTTP {status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                status, error = 0, exc
            log.warning("audit: collector %s refused a batch of %d records: %s", self.url, len(lines), error)
            if status in _REFUSED:  # retrying the same body would stall the trail behind it forever
                if len(lines) == 1:
                    return 1
                half = len(lines) // 2
                return await self._deliver(session, lines[:half]) + await self._deliver(session, lines[half:])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
