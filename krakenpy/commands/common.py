"""What the read-only commands share: load a configuration and report its problems like ``check``, and
write the document they make (standard output, or a file replaced at once)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import TYPE_CHECKING

import orjson

from krakenpy.errors import ConfigError

if TYPE_CHECKING:
    from krakenpy.gateway import Loaded

__all__ = ["add_config_argument", "emit_json", "load_or_report", "write_atomically"]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``-c/--config``, as every krakend command spells it."""
    parser.add_argument("-c", "--config", required=True, help="path to the krakend.json configuration")


def load_or_report(path: str) -> Loaded | None:
    """The loaded configuration (every component's options parsed), or ``None`` after printing every
    error to stderr as ``check`` does."""
    from krakenpy.cli import print_issues
    from krakenpy.gateway import load

    try:
        return load(path)
    except ConfigError as exc:
        print_issues(exc.issues, label="ERROR")
        print(f"{len(exc.issues)} error(s) in {path}", file=sys.stderr)
        return None


def write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` at once (a reader never sees half a document)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".krakenpy-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def emit_json(document: object, out: str, what: str, detail: str = "") -> int:
    """Write ``document`` as indented JSON to standard output (``out`` empty or ``-``) or to the file
    ``out`` at once, saying "<what> written to <out> <detail>" on standard error; the exit code."""
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if out in ("", "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        write_atomically(out, data)
    except OSError as exc:
        print(f"ERROR: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{what} written to {out}{f' {detail}' if detail else ''}", file=sys.stderr)
    return 0
