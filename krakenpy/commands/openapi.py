"""``krakenpy openapi [export] -c FILE [-o OUT] [-a AUDIENCE]``: the OpenAPI 3.1 document of a
configuration, as ``krakend openapi export`` (KrakenD Enterprise) writes it from ``documentation/openapi``."""

from __future__ import annotations

import argparse
import sys

from krakenpy.commands.common import add_config_argument, emit_json, load_or_report
from krakenpy.errors import ConfigError

__all__ = ["register"]


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
    return emit_json(document, args.out, "OpenAPI document", f"({len(document['paths'])} paths)")


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
