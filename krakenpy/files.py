"""Files a configuration names (key sets, htpasswd, Lua sources, certificates...), read with bounds.

A path in a config may point anywhere: ``/dev/zero`` or ``/dev/urandom`` would be read until memory
runs out and a FIFO without a writer would block start-up for ever. Only regular files are read, and
at most :data:`MAX_CONFIG_FILE` bytes of them; anything else is an :class:`OSError` whose
``strerror`` says why, so callers that already turn read errors into config errors keep doing so.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

from krakenpy.errors import ConfigError, ConfigIssue

__all__ = [
    "MAX_CONFIG_FILE",
    "FileRefused",
    "check_append_target",
    "open_error",
    "read_bounded",
    "read_config_file",
]

#: the largest file a configuration may name (16 MiB)
MAX_CONFIG_FILE: Final = 16 * 1024 * 1024
_CHUNK: Final = 1 << 20


class FileRefused(OSError):
    """A path that names something other than a regular file, or a file over the size limit."""


def read_bounded(path: str | os.PathLike[str], limit: int = MAX_CONFIG_FILE) -> bytes:
    """The bytes of the regular file ``path``; :class:`FileRefused` for devices, FIFOs, sockets,
    directories and files over ``limit`` bytes (other failures raise the usual :class:`OSError`)."""
    # O_NONBLOCK: opening a FIFO nobody writes to returns at once instead of waiting for a writer
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(errno.EINVAL, "not a regular file (a device, FIFO, socket or directory)", str(path))
        if info.st_size > limit:
            raise FileRefused(errno.EFBIG, f"larger than the {_size(limit)} limit", str(path))
        chunks: list[bytes] = []
        total = 0
        # st_size can lie (files under /proc say 0, a file may grow while read): count what arrives
        while chunk := os.read(fd, min(_CHUNK, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FileRefused(errno.EFBIG, f"larger than the {_size(limit)} limit", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_config_file(path: str | os.PathLike[str], where: str, *, limit: int = MAX_CONFIG_FILE) -> bytes:
    """:func:`read_bounded`, any failure a :class:`ConfigError` at the JSON path ``where``."""
    try:
        return read_bounded(path, limit)
    except OSError as exc:
        raise ConfigError([ConfigIssue(where, f"cannot read {os.fspath(path)}: {exc.strerror or exc}")]) from None


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and not limit % (1 << 20) else f"{limit} bytes"


def check_append_target(path: str | os.PathLike[str], where: str) -> None:
    """What opening ``path`` to append to it would find wrong, without creating or touching it
    (``check``): a missing or read-only folder, a directory, a file that is not writable."""
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except FileNotFoundError:
        folder = os.path.dirname(os.path.abspath(name))
        if not os.path.isdir(folder):
            raise ConfigError([ConfigIssue(where, f"cannot create {name}: no such directory {folder}")]) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError([ConfigIssue(where, f"cannot create {name}: permission denied")]) from None
        return
    except OSError as exc:
        raise ConfigError([ConfigIssue(where, f"cannot open {name}: {exc.strerror or exc}")]) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError([ConfigIssue(where, f"cannot open {name}: it is a directory")])
    if not os.access(name, os.W_OK):
        raise ConfigError([ConfigIssue(where, f"cannot open {name}: permission denied")])


def open_error(name: str, where: str, exc: OSError) -> ConfigError:
    """The config error for a failed open of an output file ``name`` (a FIFO nobody reads: ENXIO)."""
    reason = "a FIFO no process reads" if exc.errno == errno.ENXIO else (exc.strerror or str(exc))
    return ConfigError([ConfigIssue(where, f"cannot open {name}: {reason}")])
