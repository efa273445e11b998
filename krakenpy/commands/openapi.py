"""``krakenpy openapi [export] -c FILE [-o OUT] [-a AUDIENCE]``: the OpenAPI 3.1 document of a
configuration, as ``krakend openapi export`` (KrakenD Enterprise) writes it from ``documentation/openapi``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import orjson

from krakenpy.commands.common import add_config_argument, load_or_report
from krakenpy.errors import ConfigError

__all__ = ["register", "write_atomically"]


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


def _run(args: argparse.Namespace) -> int:
    if args.legacy:
        print("ERROR: Swagger 2 (--legacy) is not supported: krakenpy exports OpenAPI 3.1", file=sys.stderr)
        return 1
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    from krakenpy.cli import print_errors
    from krakenpy.components.documentation.openapi import documents
    from krakenpy.openapi import generate

    try:
        document = generate(loaded.service, documents(loaded.parsed), audience=args.audience or None)
    except ConfigError as exc:
        print_errors(exc.issues)
        print(f"{len(exc.issues)} error(s) in {args.config}", file=sys.stderr)
        return 1
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if args.out in ("", "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        write_atomically(args.out, data)
    except OSError as exc:
        print(f"ERROR: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"OpenAPI document written to {args.out} ({len(document['paths'])} paths)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``openapi`` to the CLI."""
    parser = sub.add_parser("openapi", help="export the OpenAPI 3.1 document of a configuration")
    parser.add_argument("action", nargs="?", choices=("export",), default="export", help="what to do (export)")
    add_config_argument(parser)
    parser.add_argument("-o", "--out", default="", help="file to write (default: standard output)")
    parser.add_argument(
        "-a", "--audience", default="", help="only endpoints whose documentation/openapi audience has it (or '*')"
    )
    parser.add_argument("-l", "--legacy", action="store_true", help="Swagger 2 output (not supported: an error)")
    parser.set_defaults(handler=_run)
