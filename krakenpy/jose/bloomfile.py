"""Opening the revocation store file (``auth/revoker`` ``store_path``) without ever losing revocations.

- A missing or empty file is created for the configured shape (bits, hashes, TTL).
- A file of that shape is reused: workers, restarts and reloads share its revocations.
- A file of another shape (``N``, ``P`` or ``TTL`` changed) is not emptied: it becomes
  ``<store>.old`` (a hard link, so gateways still mapping it keep writing where the new ones
  look), a new file takes its place, and checks read both until the last revocation of the old one
  has expired (3·TTL after it was added, or after the move). If ``<store>.old`` may still hold
  revocations of yet another change, the gateway refuses to start (a reload is refused) and says
  until when.
- A file that is not a store (no ``KPYBLOOM`` header), has the wrong size, is not a regular file
  or belongs to another user is refused, never overwritten.

Every step runs under ``flock`` on the file at the path, re-checked after locking (another worker
may have moved it meanwhile), so concurrent workers agree on one file. :func:`inspect_store` tells
``check`` what a start would do, reading only.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from krakenpy.jose.bloom import HEADER, LAST_ADD_AT, MAGICS, Filters, Shape, live

__all__ = ["StoreError", "inspect_store", "open_store", "retired_path"]

log = logging.getLogger("krakenpy.jose")

_ATTEMPTS: Final = 50
_RW: Final = os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)


class StoreError(Exception):
    """A store file krakenpy will not use as it is; the message names it and says what to do."""


def retired_path(path: Path) -> Path:
    """Where the filters of the previous shape are kept while they hold live revocations."""
    return path.with_name(path.name + ".old")


def open_store(path: Path, shape: Shape, clock: Callable[[], float]) -> tuple[Filters, Filters | None]:
    """The filters at ``path`` (created, or replaced after moving an older shape aside) and those
    of ``<path>.old`` while they still hold live revocations."""
    for _ in range(_ATTEMPTS):
        fd = _open(path, os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _still_at(fd, path):  # moved by another worker between our open and our lock
                os.close(fd)
                continue
            found = _shape_of(fd, path)
            if found is None:
                _initialize(fd, shape, clock)
            elif found != shape:
                fresh = _retire(path, fd, found, shape, clock)
                os.close(fd)
                fd = fresh
            current = Filters(fd, shape, clock)
        except BaseException:
            os.close(fd)
            raise
        try:
            retired = _open_retired(retired_path(path), clock)
        except BaseException:
            current.close()
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return current, retired
    raise StoreError(f"{path} keeps being replaced while it is opened")


def inspect_store(path: Path, shape: Shape, clock: Callable[[], float] = time.time) -> str | None:
    """What :func:`open_store` would find wrong (raised) or do (a warning), reading only."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    try:
        _owned(fd, path)
        found = _shape_of(fd, path)
    finally:
        os.close(fd)
    if found is None or found == shape:
        return None
    old = retired_path(path)
    try:
        fd = os.open(old, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        pass
    else:
        try:
            _owned(fd, old)
            held = _shape_of(fd, old)
            if held is not None and clock() < _expiry(fd, held):
                raise _busy(path, found, old, held, _expiry(fd, held))
        finally:
            os.close(fd)
    return (
        f"{path} holds filters for {found}, the config asks for {shape}: at start it becomes {old},"
        " still checked until its revocations expire (at most 3·TTL)"
    )


def _open(path: Path, create: int = 0) -> int:
    fd = os.open(path, _RW | create, 0o600)
    try:
        _owned(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _owned(fd: int, path: Path) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"{path} is not a regular file")
    if info.st_uid != os.getuid():
        raise StoreError(f"{path} belongs to another user")


def _still_at(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    info = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (info.st_dev, info.st_ino)


def _shape_of(fd: int, path: Path) -> Shape | None:
    """The shape in the file's header; ``None`` for an empty file (just created)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    raw = os.pread(fd, HEADER.size, 0)
    hashing = next((name for name, magic in MAGICS.items() if raw[: len(magic)] == magic), None)
    if len(raw) < HEADER.size or hashing is None:
        raise StoreError(
            f"{path} is not a krakenpy revocation store: not overwritten (set another store_path or delete it)"
        )
    _, bits, hashes, ttl, _, _ = HEADER.unpack(raw)
    found = Shape(bits, hashes, ttl, hashing)
    if not (bits and hashes and ttl) or size != found.size:
        raise StoreError(f"{path} is damaged ({size} bytes for {found}): delete it to start without revocations")
    return found


def _initialize(fd: int, shape: Shape, clock: Callable[[], float]) -> None:
    os.ftruncate(fd, shape.size)  # sparse zeros: pages cost memory only once written
    epoch = int(clock() // shape.ttl)
    os.pwrite(fd, HEADER.pack(MAGICS[shape.hashing], shape.bits, shape.hashes, shape.ttl, epoch, 0), 0)


def _expiry(fd: int, shape: Shape) -> float:
    """When the last revocation of the file stops being visible (3 epochs after its epoch)."""
    _, _, _, _, epoch, last = HEADER.unpack(os.pread(fd, HEADER.size, 0))
    return float(((last or epoch) + 3) * shape.ttl)


def _settle_last_add(fd: int) -> None:
    """A file that never recorded its last add gets its stored epoch: no add follows it (each add
    rotates the file first), so nothing expires early."""
    _, _, _, _, epoch, last = HEADER.unpack(os.pread(fd, HEADER.size, 0))
    if not last:
        os.pwrite(fd, epoch.to_bytes(8, "little", signed=True), LAST_ADD_AT)


def _mark_retired(fd: int, shape: Shape, clock: Callable[[], float]) -> None:
    """Count the retirement as an add: gateways still running the old shape (the generation a reload
    is draining) may add to the file until they close, and the new ones must see those too."""
    _, _, _, _, _, last = HEADER.unpack(os.pread(fd, HEADER.size, 0))
    now = int(clock() // shape.ttl)
    os.pwrite(fd, max(last, now).to_bytes(8, "little", signed=True), LAST_ADD_AT)


def _retire(path: Path, fd: int, found: Shape, shape: Shape, clock: Callable[[], float]) -> int:
    """Move the locked file ``fd`` (of shape ``found``) to ``<path>.old`` and put a new file of
    ``shape`` at ``path``; returns the new file's descriptor, locked."""
    old = retired_path(path)
    _drop_expired(old, path, found, clock)
    _mark_retired(fd, found, clock)
    until = _expiry(fd, found)
    spare = path.with_name(f"{path.name}.{os.getpid()}.new")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(spare)
    fresh = os.open(spare, _RW | os.O_CREAT | os.O_EXCL, 0o600)
    linked = False
    try:
        fcntl.flock(fresh, fcntl.LOCK_EX)  # whoever opens the new file waits until both names are set
        _initialize(fresh, shape, clock)
        # a hard link, not a rename: the store never disappears from ``path``
        os.link(path, old)
        linked = True
        os.replace(spare, path)
    except BaseException:
        os.close(fresh)
        with contextlib.suppress(OSError):
            os.unlink(spare)
        if linked:
            with contextlib.suppress(OSError):
                os.unlink(old)
        raise
    log.warning(
        "revocation store %s: filters changed (%s, was %s); the earlier revocations stay checked from %s until %s",
        path,
        shape,
        found,
        old,
        _when(until),
    )
    return fresh


def _drop_expired(old: Path, path: Path, found: Shape, clock: Callable[[], float]) -> None:
    """Remove ``old`` when every revocation it held has expired; refuse when some are still live."""
    try:
        fd = _open(old)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held = _shape_of(fd, old)
        if held is not None and clock() < _expiry(fd, held):
            raise _busy(path, found, old, held, _expiry(fd, held))
        if _still_at(fd, old):
            os.unlink(old)
    finally:
        os.close(fd)


def _open_retired(old: Path, clock: Callable[[], float]) -> Filters | None:
    """The filters of ``old`` while they hold live revocations; an expired file is removed."""
    try:
        fd = _open(old)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held = _shape_of(fd, old)
        if held is not None:
            _settle_last_add(fd)
            filters = Filters(fd, held, clock)
    except BaseException:
        os.close(fd)
        raise
    if held is not None and live(filters):
        fcntl.flock(fd, fcntl.LOCK_UN)
        return filters
    if _still_at(fd, old):
        with contextlib.suppress(OSError):  # left behind, it is dropped again at the next start
            os.unlink(old)
    if held is not None:
        filters.close()
    else:
        os.close(fd)
    return None


def _busy(path: Path, found: Shape, old: Path, held: Shape, until: float) -> StoreError:
    return StoreError(
        f"{path} holds filters for {found} and {old} may still hold live revocations of an earlier shape"
        f" ({held}) until {_when(until)}: the filters cannot change again before then (keep N, P and TTL,"
        f" or delete {old} to forget those revocations)"
    )


def _when(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(min(unix, 253402300799.0)))
