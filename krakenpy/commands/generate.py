"""``krakenpy generate postman -c FILE [-o OUT]``: the Postman collection v2.1 of a configuration,
as ``krakend generate postman`` (KrakenD Enterprise) writes it from ``documentation/postman``."""

from __future__ import annotations

import argparse

from krakenpy.commands.common import add_config_argument, emit_json, load_or_report

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
    return emit_json(document, args.out, "Postman collection", f"({len(loaded.service.endpoints)} requests)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``generate`` (``postman``) to the CLI."""
    parser = sub.add_parser("generate", help="generate a document from a configuration (postman)")
    kinds = parser.add_subparsers(dest="kind", required=True)
    postman = kinds.add_parser("postman", help="the Postman collection v2.1 of a configuration")
    add_config_argument(postman)
    postman.add_argument("-o", "--out", default="", help="file to write (default: standard output)")
    postman.set_defaults(handler=_postman)
