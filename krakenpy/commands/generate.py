"""``krakenpy generate postman -c FILE [-o OUT]``: the Postman collection v2.1 of a configuration,
as ``krakend generate postman`` (KrakenD Enterprise) writes it from ``documentation/postman``."""

from __future__ import annotations

import argparse
import sys

import orjson

from krakenpy.commands.common import add_config_argument, load_or_report
from krakenpy.commands.openapi import write_atomically

__all__ = ["register"]


def _postman(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    from krakenpy.components.documentation.postman import NAMESPACE, endpoint_docs
    from krakenpy.postman import ServiceDoc, collection

    service_doc = loaded.parsed.get("", {}).get(NAMESPACE)
    document = collection(
        loaded.service,
        service_doc if isinstance(service_doc, ServiceDoc) else None,
        endpoint_docs(loaded.parsed),
    )
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
    print(f"Postman collection written to {args.out} ({len(loaded.service.endpoints)} requests)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``generate`` (``postman``) to the CLI."""
    parser = sub.add_parser("generate", help="generate a document from a configuration (postman)")
    kinds = parser.add_subparsers(dest="kind", required=True)
    postman = kinds.add_parser("postman", help="the Postman collection v2.1 of a configuration")
    add_config_argument(postman)
    postman.add_argument("-o", "--out", default="", help="file to write (default: standard output)")
    postman.set_defaults(handler=_postman)
